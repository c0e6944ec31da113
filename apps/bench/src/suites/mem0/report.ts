import type { LatencyStats } from '../../harness.js'
import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, targetsTable, title } from '../../report/markdown.js'
import type { Headline } from '../../suite.js'
import type { Mem0ChildResult } from './child.js'
import type { Mem0SuiteResult } from './run.js'

const contenderName = (c: string) => (c === 'agentmem' ? 'AgentMem' : 'Mem0')

function pair(result: Mem0SuiteResult, model: string) {
  const ours = result.runs.find((r) => r.model === model && r.contender === 'agentmem')
  const theirs = result.runs.find((r) => r.model === model && r.contender === 'mem0')
  return ours && theirs ? { ours, theirs } : undefined
}

const models = (result: Mem0SuiteResult) => [...new Set(result.runs.map((r) => r.model))]
const largest = (result: Mem0SuiteResult) => Math.max(...result.sizes)
const searchAt = (r: Mem0ChildResult, size: number) => r.sizes.find((s) => s.size === size && s.search)?.search

export function mem0Targets(result: Mem0SuiteResult): Target[] {
  const targets: Target[] = []
  for (const model of models(result)) {
    const both = pair(result, model)
    if (!both) continue
    const { ours, theirs } = both
    const adds = ours.addConcurrent32PerSecond / theirs.addConcurrent32PerSecond
    targets.push({ label: `${model}: add throughput, 32 concurrent, AgentMem / Mem0`, measured: adds, goal: '>= 5x', met: adds >= 5 })
    // The offline model only (the first one run): with a transformer, one text's embedding bounds both.
    if (model === models(result)[0]) {
      const sequential = ours.addSequentialPerSecond / theirs.addSequentialPerSecond
      targets.push({ label: `${model}: sequential single adds, AgentMem / Mem0`, measured: sequential, goal: '>= 3x', met: sequential >= 3 })
    }
    const size = largest(result)
    const oursAt = searchAt(ours, size)
    const theirsAt = searchAt(theirs, size)
    const ratio = oursAt && theirsAt ? theirsAt.p99Ms / oursAt.p99Ms : Number.NaN
    targets.push({
      label: `${model}: search p99 at ${size.toLocaleString('en')} memories, Mem0 / AgentMem${theirsAt ? '' : ' (Mem0 did not reach this size)'}`,
      measured: ratio,
      goal: '>= 10x',
      met: ratio >= 10,
    })
  }
  return targets
}

/** The offline model's comparisons (the first model run): search at the largest size, then adds. */
export function mem0Headlines(result: Mem0SuiteResult): Headline[] {
  const model = models(result)[0] as string
  const both = pair(result, model)
  if (!both) return []
  const { ours, theirs } = both
  const [adds, sequential, search] = mem0Targets(result)
  const size = largest(result)
  const ms = (s: LatencyStats | undefined) => `${fmt(s?.p99Ms)} ms`
  const perSecond = (n: number) => `${fmt(n, 0)}/s`
  return [
    {
      peer: 'Mem0 (mem0ai/oss)',
      what: `search p99 at ${size.toLocaleString('en')} memories (${model})`,
      agentmem: ms(searchAt(ours, size)),
      other: ms(searchAt(theirs, size)),
      ratio: `${fmt(search?.measured)}x`,
      target: search,
    },
    {
      peer: 'Mem0 (mem0ai/oss)',
      what: `adds, 32 concurrent callers (${model})`,
      agentmem: perSecond(ours.addConcurrent32PerSecond),
      other: perSecond(theirs.addConcurrent32PerSecond),
      ratio: `${fmt(adds?.measured)}x`,
      target: adds,
    },
    {
      peer: 'Mem0 (mem0ai/oss)',
      what: `sequential single adds (${model})`,
      agentmem: perSecond(ours.addSequentialPerSecond),
      other: perSecond(theirs.addSequentialPerSecond),
      ratio: `${fmt(sequential?.measured)}x`,
      target: sequential,
    },
  ]
}

export function mem0Report(run: SuiteRun<Mem0SuiteResult>): string {
  const { quick, result } = run
  const l = (x: LatencyStats | undefined) => (x ? `${fmt(x.p50Ms)} / ${fmt(x.p95Ms)} / ${fmt(x.p99Ms)}` : '')
  const adds = result.runs.map(
    (r) =>
      `| ${r.model} | ${r.contender === 'agentmem' ? 'AgentMem' : 'Mem0 (mem0ai/oss)'} | ${fmt(r.addSequentialPerSecond, 0)} | ${fmt(r.addSequential.p50Ms, 2)} / ${fmt(r.addSequential.p99Ms, 2)} | ${fmt(r.addConcurrent32PerSecond, 0)} |`,
  )
  const sizes = result.runs.flatMap((r) =>
    r.sizes.map(
      (s) =>
        `| ${r.model} | ${contenderName(r.contender)} | ${s.size.toLocaleString('en')} | ${s.reached < s.size ? `**${s.reached.toLocaleString('en')}** (budget)` : s.reached.toLocaleString('en')} | ${fmt(s.fillPerSecond, 0)} | ${l(s.search)} | ${fmt(s.search?.meanResults)} | ${l(s.list)} | ${l(s.update)} | ${l(s.delete)} | ${fmt(s.peakRssMb, 0)} |`,
    ),
  )
  return `${title('AgentMem vs Mem0 (mem0ai/oss)', quick)}

${generatedBy(run)}

Both libraries in-process with the SAME embedder instance and \`infer: false\`: AgentMem's \`Memory\`
(LanceDB + SQLite) and Mem0's \`Memory\` from \`mem0ai/oss\` 3.3.1 with its defaults (SQLite vector
store, SQLite history; the embedder passed as a LangChain-style object). Each contender runs in its
own process per model. Texts are LoCoMo turns; 1,000 users; every search and list is scoped to one
user (top 10). Stores are filled from vectors precomputed by the model (the fill measures the store,
not the model), each contender with its own API: AgentMem \`addBatch\` of 1,000, Mem0 \`add\` with 32
concurrent callers, stopped after ${result.fillBudgetSeconds} s. Latencies are per call, p50 / p95 / p99 in ms.

## Adds (the real model embeds every text)

${chartImage('Adds per second, AgentMem vs Mem0', 'mem0-adds.svg')}

| model | contender | sequential adds/s | sequential p50 / p99 ms | 32 concurrent adds/s |
|---|---|---:|---:|---:|
${adds.join('\n')}

## By store size

${chartImage('Search p50 and p99 by store size, AgentMem vs Mem0', 'mem0-search.svg')}

| model | contender | size | reached | fill memories/s | search | mean results | getAll (100) | update | delete | peak RSS MB |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${sizes.join('\n')}

## Targets

${targetsTable(mem0Targets(result))}
`
}

export function mem0Charts({ result }: SuiteRun<Mem0SuiteResult>): Record<string, Chart> {
  const search = result.runs.flatMap((r) =>
    r.sizes.flatMap((s) =>
      s.search
        ? [
            {
              model: r.model,
              contender: contenderName(r.contender),
              size: s.size,
              memories: s.size.toLocaleString('en'),
              percentile: 'p50',
              ms: s.search.p50Ms,
            },
            {
              model: r.model,
              contender: contenderName(r.contender),
              size: s.size,
              memories: s.size.toLocaleString('en'),
              percentile: 'p99',
              ms: s.search.p99Ms,
            },
          ]
        : [],
    ),
  )
  const adds = result.runs.flatMap((r) => [
    { model: r.model, contender: contenderName(r.contender), how: 'sequential', perSecond: r.addSequentialPerSecond },
    { model: r.model, contender: contenderName(r.contender), how: '32 concurrent', perSecond: r.addConcurrent32PerSecond },
  ])
  return {
    'mem0-search.svg': {
      title: {
        text: 'Search latency by store size, AgentMem vs Mem0',
        subtitle: 'ms, log scale, lower is better; same embedder; rows: percentile, columns: model',
      },
      data: { values: search },
      mark: { type: 'line', point: true },
      width: 260,
      height: 150,
      encoding: {
        row: { field: 'percentile', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } },
        column: { field: 'model', type: 'nominal', title: null },
        x: { field: 'memories', type: 'ordinal', sort: { field: 'size' }, title: 'memories', axis: { labelAngle: 0 } },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
        color: { field: 'contender', type: 'nominal', title: null, legend: { orient: 'top' } },
      },
    },
    'mem0-adds.svg': {
      title: { text: 'Adds per second, AgentMem vs Mem0 (higher is better)', subtitle: 'the model embeds every text; columns: model' },
      data: { values: adds },
      mark: 'bar',
      width: 200,
      height: 200,
      encoding: {
        column: { field: 'model', type: 'nominal', title: null },
        x: { field: 'how', type: 'nominal', title: null, sort: ['sequential', '32 concurrent'], axis: { labelAngle: 0 } },
        xOffset: { field: 'contender', type: 'nominal' },
        y: { field: 'perSecond', type: 'quantitative', title: 'adds/s' },
        color: { field: 'contender', type: 'nominal', title: null, legend: { orient: 'top' } },
      },
    },
  }
}
