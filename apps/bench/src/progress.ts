/** A suite's progress: a cli-progress bar on a terminal, plain timestamped lines otherwise (CI, logs, pipes). */
import { MultiBar, Presets } from 'cli-progress'
import type { Progress } from './suite.js'

export function createProgress(suite: string, stream: NodeJS.WriteStream = process.stderr): Progress & { stop(): void } {
  const started = performance.now()
  const prefix = () => `[${suite} ${((performance.now() - started) / 1000).toFixed(0)}s]`
  if (!stream.isTTY) {
    let total = 0
    let steps = 0
    return {
      log: (line) => stream.write(`${prefix()} ${line}\n`),
      total: (n) => {
        total = n
      },
      step: (label) => stream.write(`${prefix()} step ${++steps}/${total}: ${label}\n`),
      stop: () => {},
    }
  }
  const bars = new MultiBar(
    { stream, format: `${suite} {bar} {value}/{total} steps | {duration_formatted} | {label}`, hideCursor: true, autopadding: true },
    Presets.shades_classic,
  )
  // The bar counts steps done; its label is the step under way. Log lines print above it.
  const bar = bars.create(1, 0, { label: 'starting' })
  let steps = 0
  return {
    log: (line) => bars.log(`${line}\n`),
    total: (n) => bar.setTotal(n),
    step: (label) => bar.update(steps++, { label }),
    stop: () => {
      bar.update(bar.getTotal(), { label: 'done' })
      bars.stop()
    },
  }
}
