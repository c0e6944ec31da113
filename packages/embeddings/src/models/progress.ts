import cliProgress from 'cli-progress'
import type { Logger } from '../types.js'

/** Progress of a long step (a download or the default model's first build). */
export interface ProgressEvent {
  task: string
  done: number
  total: number
  unit: 'bytes' | 'steps'
}
export type ProgressListener = (event: ProgressEvent) => void

/** A terminal progress bar on stderr, for interactive use only (callers check `isTTY`). */
export function terminalProgress(): ProgressListener & { stop(): void } {
  const bars = new Map<string, cliProgress.SingleBar>()
  const multi = new cliProgress.MultiBar(
    { format: ' {bar} {percentage}% | {task} | {value}/{total} {unit}', hideCursor: true, clearOnComplete: false, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  )
  const listener = (event: ProgressEvent) => {
    const scale = event.unit === 'bytes' ? 1 / 1e6 : 1
    const unit = event.unit === 'bytes' ? 'MB' : 'steps'
    const round = (n: number) => Math.round(n * scale * 10) / 10
    let bar = bars.get(event.task)
    if (!bar) {
      bar = multi.create(round(event.total), 0, { task: event.task, unit })
      bars.set(event.task, bar)
    }
    bar.setTotal(round(event.total))
    bar.update(round(event.done), { task: event.task, unit })
  }
  return Object.assign(listener, { stop: () => multi.stop() })
}

/**
 * Progress as `model.progress` log events, for when stderr is not a terminal (a log file would
 * otherwise see seconds of silence): one event per tenth of each task, so a long download logs
 * ten lines, not thousands.
 */
export function logProgress(logger: Logger): ProgressListener {
  const lastTenth = new Map<string, number>()
  return (event) => {
    const fraction = event.total > 0 ? Math.min(event.done / event.total, 1) : 0
    const tenth = Math.floor(fraction * 10)
    if (lastTenth.get(event.task) === tenth) return
    lastTenth.set(event.task, tenth)
    logger.info('model.progress', { task: event.task, done: event.done, total: event.total, unit: event.unit, percent: Math.floor(fraction * 100) })
  }
}

/** Where a call's progress goes: its listener, a bar on stderr (asked for, or a TTY), else `model.progress` events to its logger. */
export function progressListener(options: {
  progress?: boolean | ProgressListener | undefined
  logger?: Logger | undefined
}): (ProgressListener & { stop?(): void }) | undefined {
  const { progress, logger } = options
  if (typeof progress === 'function') return progress
  if (progress === false) return undefined
  if (progress === true || process.stderr.isTTY) return terminalProgress()
  return logger ? logProgress(logger) : undefined
}
