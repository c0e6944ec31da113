import type { LatencyStats } from '../../harness.js'
import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, targetsTable, title } from '../../report/markdown.js'
import type { MemorySuiteResult } from './run.js'

export function memoryTargets(result: MemorySuiteResult): Target[] {
  const offline = result.models[0]
  const at = (size: number) => offline?.sizes.find((s) => s.size === size)?.search.hybrid.p99Ms ?? Number.NaN
  return [
    {
      label: `addBatch(1000), ${offline?.model} (memories/s)`,
      measured: offline?.addBatch1000PerSecond ?? Number.NaN,
      goal: '>= 10000',
      met: (offline?.addBatch1000PerSecond ?? 0) >= 10_000,
    },
    { label: 'hybrid search p99 at 100k memories (ms)', measured: at(100_000), goal: '< 50', met: at(100_000) < 50 },
    { label: 'hybrid search p99 at 1M memories (ms)', measured: at(1_000_000), goal: '< 100', met: at(1_000_000) < 100 },
  ]
}

export function memoryReport(run: SuiteRun<MemorySuiteResult>): string {
  const { quick, result } = run
  const adds = result.models.map(
    (m) =>
      `| ${m.model} | ${m.dimensions} | ${fmt(m.addSequentialPerSecond, 0)} | ${fmt(m.addSequential.p50Ms, 2)} / ${fmt(m.addSequential.p99Ms, 2)} | ${fmt(m.addConcurrent32PerSecond, 0)} | ${fmt(m.addBatch1000PerSecond, 0)} |`,
  )
  const l = (x: LatencyStats) => `${fmt(x.p50Ms)} / ${fmt(x.p95Ms)} / ${fmt(x.p99Ms)}`
  const sizes = result.models.flatMap((m) =>
    m.sizes.map(
      (s) =>
        `| ${m.model} | ${s.size.toLocaleString('en')} | ${fmt(s.fillPerSecond, 0)} | ${l(s.search.hybrid)} | ${l(s.search.vector)} | ${l(s.search.keyword)} | ${fmt(s.search.hybrid.meanResults)} | ${l(s.listPage100)} | ${l(s.deleteOne)} | ${fmt(s.diskMb, 0)} | ${fmt(s.peakRssMb, 0)} |`,
    ),
  )
  const notes = result.models.filter((m) => m.note).map((m) => `- ${m.model}: ${m.note}`)
  return `${title('Memory engine benchmark', quick)}

${generatedBy(run)}

Real LanceDB and SQLite in a temporary folder, texts from LoCoMo turns (made unique with a \` #n\` suffix),
1,000 users; every search and list is scoped to one user, and every search is its user's first read: a scope of
at most 250 memories (10k and 100k) is loaded into the resident index by that read, a bigger one (1M) is searched
in LanceDB. Latencies are per call, p50 / p95 / p99 in ms.

## Adds

| model | dims | sequential adds/s | sequential p50 / p99 ms | 32 concurrent adds/s | addBatch(1000) memories/s |
|---|---:|---:|---:|---:|---:|
${adds.join('\n')}

## By store size

${chartImage('Search latency percentiles by store size', 'memory-search-latency.svg')}

| model | memories | fill memories/s | hybrid search | vector search | keyword search | mean results (top 10) | getAll page of 100 | delete one | disk MB | peak RSS MB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${sizes.join('\n')}

${notes.join('\n')}

## Targets

${targetsTable(memoryTargets(result))}
`
}

const sizeLabel = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n))

export function memoryCharts({ result }: SuiteRun<MemorySuiteResult>): Record<string, Chart> {
  const values = result.models.flatMap((m) =>
    m.sizes.flatMap((s) =>
      (['hybrid', 'vector', 'keyword'] as const).flatMap((mode) =>
        (['p50', 'p95', 'p99'] as const).map((p) => ({
          model: m.model,
          size: s.size,
          memories: sizeLabel(s.size),
          mode,
          percentile: p,
          ms: s.search[mode][`${p}Ms`],
        })),
      ),
    ),
  )
  return {
    'memory-search-latency.svg': {
      title: { text: 'Search latency by store size (ms; lower is better)', subtitle: 'one user scope of 1,000 users; rows: model, columns: search mode' },
      data: { values },
      mark: { type: 'line', point: true },
      width: 170,
      height: 150,
      encoding: {
        row: { field: 'model', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } },
        column: { field: 'mode', type: 'nominal', sort: ['hybrid', 'vector', 'keyword'], title: null },
        x: { field: 'memories', type: 'ordinal', sort: { field: 'size' }, title: 'memories', axis: { labelAngle: 0 } },
        y: { field: 'ms', type: 'quantitative', title: 'ms' },
        color: { field: 'percentile', type: 'nominal', title: null, legend: { orient: 'top' } },
      },
    },
  }
}
