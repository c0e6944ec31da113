/**
 * @module `pnpm bench <suite|all> [--quick] [--out DIR]`: comparative benchmarks. Each suite runs its
 * contenders side by side in one run and writes its JSON, its markdown report and its charts.
 * `pnpm bench summary` rewrites every report, chart and the summary page from the committed JSON.
 */
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { turnOffPretenuring, widenStoreComputePool } from '@agentmem/memory/runtime'
import { machineHeader } from './harness.js'
import { createProgress } from './progress.js'
import { committedFolder, formatMarkdown, quickFolder, reportFiles, runJson, writeFiles } from './report/files.js'
import { readRuns, summaryFiles, summaryPage } from './report/summary.js'
import { type SuiteName, suiteNames, suites } from './suites/index.js'

// As the agentmem CLI does, so that in-process engines run as in `agentmem serve` (and every
// contender in one run alike): see @agentmem/memory's runtime.ts.
turnOffPretenuring()
widenStoreComputePool()

const usage = `usage: pnpm bench <${[...suiteNames, 'all'].join('|')}> [--quick] [--out DIR] [--sizes N,N] [--model DIR]\n       pnpm bench summary [--out DIR]\n`
const parsed = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        /** Where results go: docs/benchmarks for full runs, apps/bench/results/quick for quick ones. */
        out: { type: 'string' },
        /** memory suite: comma-separated store sizes instead of the defaults. */
        sizes: { type: 'string' },
        /** locomo suite: a model folder to run besides the offline default (repeatable). */
        model: { type: 'string', multiple: true, default: [] },
      },
    })
  } catch (error) {
    // --help is the usage line; an unknown flag is its error and the usage, not a stack trace.
    if (process.argv.includes('--help') || process.argv.includes('-h')) {
      process.stdout.write(usage)
      process.exit(0)
    }
    process.stderr.write(`${(error as Error).message.split('\n')[0]}\n${usage}`)
    process.exit(2)
  }
})()
const { values, positionals } = parsed
const out = resolve(values.out ?? (values.quick ? quickFolder : committedFolder))
if (values.quick && out === committedFolder) {
  process.stderr.write('a --quick run never writes to docs/benchmarks: it would overwrite a full report\n')
  process.exit(2)
}
const command = positionals[0] ?? ''

if (command === 'summary') {
  const files = await summaryFiles(out)
  await writeFiles(out, files)
  process.stderr.write(`wrote ${Object.keys(files).length} files to ${out}\n`)
  process.exit(0)
}

const chosen: SuiteName[] = command === 'all' ? suiteNames : suiteNames.filter((name) => name === command)
if (chosen.length === 0) {
  process.stderr.write(usage)
  process.exit(2)
}

/** Runs one suite and writes `<suite>.json`, `<suite>.md` and its charts to the output folder. */
async function runSuite(name: SuiteName): Promise<void> {
  const machine = machineHeader()
  const progress = createProgress(name)
  const sizes = values.sizes?.split(',').map(Number)
  let result: unknown
  try {
    result = await suites[name].run({ quick: values.quick, progress, models: values.model, ...(sizes && { sizes }) })
  } finally {
    progress.stop()
  }
  const run = {
    machine,
    command: `pnpm bench ${name}${values.quick ? ' --quick' : ''}${values.sizes ? ` --sizes ${values.sizes}` : ''}${values.model.map((m) => ` --model ${m}`).join('')}`,
    quick: values.quick,
    result,
  }
  // The JSON first: should the report fail, the measurements survive and `pnpm bench summary` can retry.
  await writeFiles(out, { [`${name}.json`]: runJson(run) })
  await writeFiles(out, await reportFiles(out, name, run))
  process.stderr.write(`wrote ${join(out, `${name}.md`)}\n`)
}

// `all` runs the suites one after another: each measures alone on the machine.
for (const name of chosen) await runSuite(name)
if (!values.quick && values.out === undefined) {
  // A full run changes the committed results: the summary page follows.
  await writeFiles(out, { 'README.md': formatMarkdown(summaryPage(readRuns(out))) })
}
