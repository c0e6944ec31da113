import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, title } from '../../report/markdown.js'
import type { RerankSuiteResult } from './run.js'

/** The issue asks for the cost to be reported, not held to a number. */
export const rerankTargets = (_result: RerankSuiteResult): Target[] => []

export function rerankReport(run: SuiteRun<RerankSuiteResult>): string {
  const { quick, result } = run
  const base = result.firstStage
  const rows = result.cases.map(
    (c) =>
      `| ${c.model} | ${c.candidates} | ${fmt(c.p50Ms)} | ${fmt(c.p95Ms)} | ${fmt(c.p99Ms)} | +${fmt(c.p50Ms - base.p50Ms)} | ${fmt(c.p50Ms / c.candidates, 2)} |`,
  )
  return `${title('Reranking: what a cross-encoder adds to a search', quick)}

${generatedBy(run, { versions: true })}

One LoCoMo conversation (${result.memories} turns) stored with the offline default model; ${result.searches} of its questions
searched one after another (top 10, hybrid), first without reranking, then with \`rerank: { topN }\` for each
cross-encoder shape reading the first stage's best 20 and 50 candidates. The reranker has the machine's cores as
workers (one ORT thread each), as \`createReranker\` does by default. Weights are random: this measures the compute
of a real model of each shape (MiniLM-L6: ms-marco-MiniLM-L-6-v2; BERT-base: the layers of bge-reranker-base,
whose larger vocabulary only widens a table lookup), never ranking quality. Pairs run at most 512 tokens; these
are a question and one dialogue turn, a few dozen tokens.

${chartImage('Search latency with and without reranking, by reranker and candidates', 'rerank.svg')}

| reranker | candidates | p50 ms | p95 ms | p99 ms | added to the p50 | p50 ms per candidate |
|---|---:|---:|---:|---:|---:|---:|
| none (first stage only) | | ${fmt(base.p50Ms, 2)} | ${fmt(base.p95Ms, 2)} | ${fmt(base.p99Ms, 2)} | | |
${rows.join('\n')}
`
}

export function rerankCharts({ result }: SuiteRun<RerankSuiteResult>): Record<string, Chart> {
  const values = result.cases.flatMap((c) =>
    (['p50', 'p99'] as const).map((p) => ({ reranker: c.model.split(' (')[0], candidates: `top ${c.candidates}`, percentile: p, ms: c[`${p}Ms`] })),
  )
  return {
    'rerank.svg': {
      title: { text: 'Search latency with reranking (lower is better)', subtitle: `first stage alone: p50 ${fmt(result.firstStage.p50Ms, 2)} ms` },
      data: { values },
      mark: 'bar',
      width: 360,
      height: 220,
      encoding: {
        x: { field: 'reranker', type: 'nominal', title: null, axis: { labelAngle: 0 } },
        xOffset: { field: 'candidates', type: 'nominal' },
        y: { field: 'ms', type: 'quantitative', title: 'ms per search' },
        color: { field: 'candidates', type: 'nominal', title: null, legend: { orient: 'top' } },
        opacity: { field: 'percentile', type: 'ordinal', scale: { range: [1, 0.45] }, legend: { orient: 'top', title: null } },
      },
    },
  }
}
