/** Every suite, in the order `pnpm bench all` runs them and the summary lists them. */
import type { Suite } from '../suite.js'
import { embeddingsCharts, embeddingsHeadlines, embeddingsReport, embeddingsTargets } from './embeddings/report.js'
import { runEmbeddingsSuite } from './embeddings/run.js'
import { inferCharts, inferHeadlines, inferReport, inferTargets } from './infer/report.js'
import { runInferSuite } from './infer/run.js'
import { locomoCharts, locomoHeadlines, locomoReport, locomoTargets } from './locomo/report.js'
import { runLocomoSuite } from './locomo/run.js'
import { mem0Charts, mem0Headlines, mem0Report, mem0Targets } from './mem0/report.js'
import { runMem0Suite } from './mem0/run.js'
import { memoryCharts, memoryReport, memoryTargets } from './memory/report.js'
import { runMemorySuite } from './memory/run.js'
import { rerankCharts, rerankReport, rerankTargets } from './rerank/report.js'
import { runRerankSuite } from './rerank/run.js'
import { scaleoutCharts, scaleoutReport, scaleoutTargets } from './scaleout/report.js'
import { runScaleoutSuite } from './scaleout/run.js'
import { searchCharts, searchHeadlines, searchReport, searchTargets } from './search/report.js'
import { runSearchSuite } from './search/run.js'
import { serverCharts, serverReport, serverTargets } from './server/report.js'
import { runServerSuite } from './server/run.js'

/** Checks a suite's parts against its own result type. */
const suite = <TResult>(s: Suite<TResult>) => s
const none = () => []

const registry = {
  embeddings: suite({
    title: 'Embeddings: the pooled embedder vs one session, a pool of sessions and transformers.js',
    run: runEmbeddingsSuite,
    report: embeddingsReport,
    charts: embeddingsCharts,
    targets: embeddingsTargets,
    headlines: embeddingsHeadlines,
  }),
  memory: suite({
    title: 'Memory engine: adds, search, list and delete at 10k to 1M memories',
    run: runMemorySuite,
    report: memoryReport,
    charts: memoryCharts,
    targets: memoryTargets,
    headlines: none,
  }),
  mem0: suite({
    title: 'AgentMem vs Mem0 (mem0ai/oss), same embedder, no inference',
    run: runMem0Suite,
    report: mem0Report,
    charts: mem0Charts,
    targets: mem0Targets,
    headlines: mem0Headlines,
  }),
  locomo: suite({
    title: 'Retrieval quality on LoCoMo, AgentMem vs Mem0',
    run: runLocomoSuite,
    report: locomoReport,
    charts: locomoCharts,
    targets: locomoTargets,
    headlines: locomoHeadlines,
  }),
  infer: suite({
    title: 'Adds with inference, AgentMem vs Mem0, one scripted LLM',
    run: runInferSuite,
    report: inferReport,
    charts: inferCharts,
    targets: inferTargets,
    headlines: inferHeadlines,
  }),
  server: suite({
    title: 'HTTP load against agentmem serve, native and Mem0 routes',
    run: runServerSuite,
    report: serverReport,
    charts: serverCharts,
    targets: serverTargets,
    headlines: none,
  }),
  rerank: suite({
    title: 'Reranking: what a cross-encoder adds to a search, top 20 and 50 candidates',
    run: runRerankSuite,
    report: rerankReport,
    charts: rerankCharts,
    targets: rerankTargets,
    headlines: none,
  }),
  search: suite({
    title: "The read path against the machine's own HTTP ceiling",
    run: runSearchSuite,
    report: searchReport,
    charts: searchCharts,
    targets: searchTargets,
    headlines: searchHeadlines,
  }),
  scaleout: suite({
    title: 'Replicas on PostgreSQL and Ceph RGW: requests/s by replica count, time to see a write, RGW vs local disk',
    run: runScaleoutSuite,
    report: scaleoutReport,
    charts: scaleoutCharts,
    targets: scaleoutTargets,
    headlines: none,
  }),
}

export type SuiteName = keyof typeof registry
// biome-ignore lint/suspicious/noExplicitAny: callers look suites up by name, whatever their result type.
export const suites: Record<SuiteName, Suite<any>> = registry
export const suiteNames = Object.keys(registry) as SuiteName[]
