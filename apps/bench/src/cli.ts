/**
 * @module `pnpm bench <suite> [--quick] [--out DIR]`: comparative benchmarks. Each suite runs
 * its contenders side by side in one run and writes JSON plus a markdown report.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { machineHeader } from './harness.js'
import {
  embeddingsReport,
  inferReport,
  locomoCharts,
  locomoReport,
  mem0Report,
  memoryReport,
  type ReportHeader,
  rssChart,
  searchReport,
  serverReport,
} from './report.js'
import { runContender, runEmbeddingsSuite } from './suites/embeddings.js'
import { runInferSuite } from './suites/infer.js'
import { runLocomoSuite } from './suites/locomo.js'
import { runMem0Suite } from './suites/mem0.js'
import { runMemorySuite } from './suites/memory.js'
import { runSearchSuite } from './suites/search.js'
import { runServerSuite } from './suites/server.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: new URL('../../../docs/benchmarks', import.meta.url).pathname },
    contender: { type: 'string' },
    /** memory suite: comma-separated store sizes instead of the defaults. */
    sizes: { type: 'string' },
    /** locomo suite: a model folder to run besides the offline default (repeatable). */
    model: { type: 'string', multiple: true, default: [] },
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
const suites: Record<
  string,
  (quick: boolean, onProgress: (line: string) => void) => Promise<{ result: object; report: (header: ReportHeader) => string; files?: Record<string, string> }>
> = {
  embeddings: async (quick, onProgress) => {
    const result = await runEmbeddingsSuite({ quick, onProgress })
    return { result, report: (header) => embeddingsReport({ ...header, result }) }
  },
  memory: async (quick, onProgress) => {
    const result = await runMemorySuite({ quick, onProgress, ...(values.sizes && { sizes: values.sizes.split(',').map(Number) }) })
    return { result, report: (header) => memoryReport({ ...header, result }) }
  },
  mem0: async (quick, onProgress) => {
    const result = await runMem0Suite({ quick, onProgress })
    return { result, report: (header) => mem0Report({ ...header, result }) }
  },
  locomo: async (quick, onProgress) => {
    const result = await runLocomoSuite({ quick, modelFolders: values.model, onProgress })
    return { result, report: (header) => locomoReport({ ...header, result }), files: locomoCharts(result, quick) }
  },
  infer: async (quick, onProgress) => {
    const result = await runInferSuite({ quick, onProgress })
    return { result, report: (header) => inferReport({ ...header, result }) }
  },
  server: async (quick, onProgress) => {
    const result = await runServerSuite({ quick, onProgress })
    return {
      result,
      report: (header) => serverReport({ ...header, result }),
      files: { [`server${quick ? '-quick' : ''}-rss.svg`]: rssChart(result.rssSamples) },
    }
  },
  search: async (quick, onProgress) => {
    const result = await runSearchSuite({ quick, onProgress })
    return { result, report: (header) => searchReport({ ...header, result }) }
  },
}
const chosen = suite === 'all' ? Object.keys(suites) : suite && suites[suite] ? [suite] : []
if (chosen.length === 0) {
  process.stderr.write(`usage: pnpm bench <${[...Object.keys(suites), 'all'].join('|')}> [--quick] [--out DIR]\n`)
  process.exit(2)
}

/** Runs one suite and writes `<suite>[-quick].{json,md}` (plus its files) to --out. */
async function runSuite(name: string): Promise<void> {
  const run = suites[name] as (typeof suites)[string]
  const machine = machineHeader()
  const started = performance.now()
  const { result, report, files } = await run(values.quick, (line) =>
    process.stderr.write(`[${name} ${((performance.now() - started) / 1000).toFixed(0)}s] ${line}\n`),
  )
  const command = `pnpm bench ${name}${values.quick ? ' --quick' : ''}${values.sizes ? ` --sizes ${values.sizes}` : ''}${values.model.map((m) => ` --model ${m}`).join('')}`
  await mkdir(values.out, { recursive: true })
  const base = values.quick ? `${name}-quick` : name
  await writeFile(join(values.out, `${base}.json`), `${JSON.stringify({ machine, command, quick: values.quick, ...result }, null, 2)}\n`)
  await writeFile(join(values.out, `${base}.md`), report({ machine, command, quick: values.quick }))
  for (const [file, content] of Object.entries(files ?? {})) await writeFile(join(values.out, file), content)
  // Reports are committed, and `pnpm lint` checks markdown formatting: format them as Biome would.
  try {
    execFileSync('pnpm', ['exec', 'biome', 'format', '--write', join(values.out, `${base}.md`), join(values.out, `${base}.json`)], { stdio: 'ignore' })
  } catch {
    process.stderr.write('biome format failed; run pnpm format before committing the report\n')
  }
  process.stderr.write(`wrote ${join(values.out, `${base}.md`)}\n`)
}

// `all` runs the suites one after another: each measures alone on the machine.
for (const name of chosen) await runSuite(name)
