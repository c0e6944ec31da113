import type { Embedder } from '@agentmem/embeddings'
import type { Memory } from '@agentmem/memory'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export type Metrics = ReturnType<typeof createMetrics>

/** Prometheus metrics of one app (its own registry, so several apps can live in one process). */
export function createMetrics(memory: Memory, embedder: Embedder) {
  const registry = new Registry()
  const requestSeconds = new Histogram({
    name: 'agentmem_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  new Gauge({
    name: 'agentmem_embedding_queue_depth',
    help: 'Texts waiting for an embedding worker.',
    registers: [registry],
    collect() {
      this.set(embedder.stats().queued)
    },
  })
  new Gauge({
    name: 'agentmem_embedding_busy_workers',
    help: 'Embedding workers running a batch.',
    registers: [registry],
    collect() {
      this.set(embedder.stats().busyWorkers)
    },
  })
  new Counter({
    name: 'agentmem_embedding_worker_starts_total',
    help: 'Embedding worker threads started since the server did, replacements of dead ones included: one that keeps rising means workers keep dying.',
    registers: [registry],
    collect() {
      // The pool counts; this mirrors its count.
      this.reset()
      this.inc(embedder.stats().workerStarts)
    },
  })
  // Only with a reranker (--reranker): its pool, like the embedder's.
  const reranker = memory.reranker
  if (reranker) {
    new Gauge({
      name: 'agentmem_rerank_queue_depth',
      help: '(query, memory) pairs waiting for a reranker worker.',
      registers: [registry],
      collect() {
        this.set(reranker.stats().queued)
      },
    })
    new Gauge({
      name: 'agentmem_rerank_busy_workers',
      help: 'Reranker workers running a batch.',
      registers: [registry],
      collect() {
        this.set(reranker.stats().busyWorkers)
      },
    })
  }
  new Gauge({
    name: 'agentmem_leader',
    help: "Whether this process writes the store: 1 alone or as the replicas' leader, 0 as a follower.",
    registers: [registry],
    collect() {
      this.set(memory.stats().role === 'follower' ? 0 : 1)
    },
  })
  new Gauge({
    name: 'agentmem_memories',
    help: 'Memories stored, all tenants.',
    registers: [registry],
    async collect() {
      this.set(await memory.size())
    },
  })
  // The resident search index (memory.stats()): its heap against the budget, and what it did.
  for (const [key, name, help] of [
    ['usedBytes', 'agentmem_resident_bytes', 'Estimated heap held by the resident search index.'],
    ['budgetBytes', 'agentmem_resident_budget_bytes', 'Heap the resident search index may hold (residentBudgetBytes).'],
    ['scopes', 'agentmem_resident_scopes', 'Scopes held by the resident search index.'],
    ['rows', 'agentmem_resident_rows', 'Memories held by the resident search index.'],
    ['statsBytes', 'agentmem_resident_keyword_stats_bytes', 'Estimated heap of the per-tenant keyword statistics.'],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(memory.stats().resident[key])
      },
    })
  }
  for (const [key, name, help] of [
    ['hits', 'agentmem_resident_hits_total', 'Searches served by a resident scope.'],
    ['loads', 'agentmem_resident_loads_total', 'Scopes loaded into the resident search index.'],
    ['evictions', 'agentmem_resident_evictions_total', 'Scopes evicted from the resident search index (budget).'],
    [
      'storeSearches',
      'agentmem_resident_store_searches_total',
      'Searches LanceDB served: a scope not resident (its first read when over 250 memories), loading, or too big to hold.',
    ],
  ] as const) {
    runningTotal(registry, name, help, () => memory.stats().resident[key])
  }
  runningTotal(
    registry,
    'agentmem_search_thread_searches_total',
    'Searches the search thread answered (residentSearchThread on); the others ran on the main thread.',
    () => memory.stats().searchThread?.searches ?? 0,
  )
  // LLM usage of inference mode: the client keeps running totals.
  for (const [key, name, help] of [
    ['calls', 'agentmem_llm_calls_total', 'LLM requests sent, retries included.'],
    ['retries', 'agentmem_llm_retries_total', 'LLM requests that were retries.'],
    ['failures', 'agentmem_llm_failures_total', 'LLM calls that failed after their retries.'],
    ['promptTokens', 'agentmem_llm_prompt_tokens_total', 'Prompt tokens the LLM reported.'],
    ['completionTokens', 'agentmem_llm_completion_tokens_total', 'Completion tokens the LLM reported.'],
  ] as const) {
    runningTotal(registry, name, help, () => memory.llmUsage?.[key] ?? 0)
  }
  return { registry, requestSeconds }
}

/** A counter mirroring a running total kept elsewhere: each scrape copies it. */
function runningTotal(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(read())
    },
  })
}
