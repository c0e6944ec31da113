/**
 * @module `pnpm bench <suite> [--quick] [--out DIR]`: comparative benchmarks. Each suite runs
 * its contenders side by side in one run and writes JSON plus a markdown report.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { machineHeader } from './harness.js'
import { embeddingsReport } from './report.js'
import { runContender, runEmbeddingsSuite } from './suites/embeddings.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: new URL('../../../docs/benchmarks', import.meta.url).pathname },
    contender: { type: 'string' },
  },
})

if (values.contender) {
  // Child-process mode: one contender, results as the last line of stdout.
  const [folder, count] = positionals
  const results = await runContender(values.contender, folder as string, Number(count))
  process.stdout.write(`${JSON.stringify(results)}\n`)
  process.exit(0)
}

const suite = positionals[0]
const suites = ['embeddings']
if (!suite || !suites.includes(suite)) {
  process.stderr.write(`usage: pnpm bench <${suites.join('|')}> [--quick] [--out DIR]\n`)
  process.exit(2)
}

const machine = machineHeader()
const started = performance.now()
const result = await runEmbeddingsSuite({
  quick: values.quick,
  onProgress: (line) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${line}\n`),
})
const command = `pnpm bench embeddings${values.quick ? ' --quick' : ''}`
await mkdir(values.out, { recursive: true })
const name = values.quick ? 'embeddings-quick' : 'embeddings'
await writeFile(join(values.out, `${name}.json`), `${JSON.stringify({ machine, command, quick: values.quick, ...result }, null, 2)}\n`)
await writeFile(join(values.out, `${name}.md`), embeddingsReport({ machine, command, quick: values.quick, result }))
process.stderr.write(`wrote ${join(values.out, `${name}.md`)}\n`)
