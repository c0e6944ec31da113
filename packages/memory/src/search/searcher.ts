import type { Embedder } from '@agentmem/embeddings'
import type { FilterNode } from '../filters.js'
import type { SearchMode } from '../options.js'
import type { ScopeFilter, ScoredMemory, StoredMemory, VectorStore } from '../store/types.js'
import type { SearchExplanation } from '../types.js'
import { type CorpusStats, countTerms } from './bm25.js'
import { fuseHybrid } from './fusion.js'
import type { ResidentCache } from './resident-cache.js'
import { type ResidentScope, top } from './resident-scope.js'
import { tokenize } from './tokenizer.js'

export interface SearchRequest {
  query: string
  scope: ScopeFilter
  filter: FilterNode | undefined
  mode: SearchMode
  topK: number
  /** On cosine similarity (hybrid and vector) or BM25 (keyword). */
  threshold: number | undefined
  /** Hybrid only: how much a filler memory's similarity counts (fusion.ts); 1 is no prior. */
  fillerWeight: number
  signal?: AbortSignal | undefined
}

export interface SearchHit {
  memory: StoredMemory
  score: number
  explain: SearchExplanation
  /** Set by the second stage (rerank.ts). */
  rerankScore?: number
}

export interface SearchDeps {
  embedder: Embedder
  vectors: VectorStore
  cache: ResidentCache
  /** Store reads wait for the scope's acknowledged writes to reach the store; resident reads only check the writer is healthy. */
  settled(scope: ScopeFilter): Promise<void>
  /**
   * Whether `settled(scope)` could wait long: writes queued behind a maintenance (see
   * Writer.settlesAfterMaintenance), or, on a follower, the leader's groups not applied yet.
   */
  loadsRatherThanWaits(scope: ScopeFilter): boolean
  healthy(): void
}

/**
 * Matches the store's full-text index hands the engine to rank: every match of a scope this size
 * or smaller, so the store path ranks exactly as the resident path does.
 */
const storeKeywordNet = 1000
/**
 * One search, on whichever path serves the scope: its resident index, or the store's indexes (a
 * scope not resident yet or too big to hold, or the resident index off). Both rank alike: cosine
 * similarity, the engine's BM25 (bm25.ts) and the same fusion, so which path answers never changes
 * the answer.
 */
export async function searchMemories(deps: SearchDeps, request: SearchRequest): Promise<SearchHit[]> {
  const { scope, mode, topK, threshold } = request
  let resident = await deps.cache.scope(scope)
  // Writes queued behind a maintenance would hold a store read for its whole length: load the
  // scope (laying them over the store) rather than wait. A scope too big to load still waits.
  if (!resident && deps.loadsRatherThanWaits(scope)) resident = await deps.cache.scope(scope, { wait: true })
  if (resident) deps.healthy()
  else await deps.settled(scope)
  const [vector, stats] = await Promise.all([
    mode === 'keyword'
      ? undefined
      : deps.embedder.embed([request.query], { kind: 'query', ...(request.signal && { signal: request.signal }) }).then(([v]) => v as Float32Array),
    mode === 'vector' ? undefined : deps.cache.stats(scope.tenantId),
  ])
  // Fusion needs more candidates than it returns: a memory ranked low by one signal may top the other.
  const depth = mode === 'hybrid' ? Math.min(Math.max(topK * 3, 30), 1000) : topK
  // On the store path the two are LanceDB queries: run them at once, as before the resident index.
  const [vectorHits, keywordHits] = await Promise.all([
    vector ? vectorCandidates(deps, resident, request, vector, depth) : [],
    stats ? keywordCandidates(deps, resident, request, stats, depth) : [],
  ])
  if (mode === 'keyword') {
    return keywordHits
      .filter((h) => threshold === undefined || h.score >= threshold)
      .map((h, i) => ({ ...h, explain: { vector: { score: Number.NaN, rank: null }, keyword: { score: h.score, rank: i + 1 }, fused: h.score } }))
  }
  if (mode === 'vector') {
    return vectorHits
      .filter((h) => threshold === undefined || h.score >= threshold)
      .map((h, i) => ({ ...h, explain: { vector: { score: h.score, rank: i + 1 }, keyword: null, fused: h.score } }))
  }
  return fuseHybrid(vector as Float32Array, vectorHits, keywordHits, request.fillerWeight)
    .filter((h) => threshold === undefined || h.explain.vector.score >= threshold)
    .slice(0, topK)
    .map((h) => ({ memory: h.memory, score: h.explain.fused, explain: h.explain }))
}

async function vectorCandidates(
  deps: SearchDeps,
  resident: ResidentScope | undefined,
  request: SearchRequest,
  vector: Float32Array,
  k: number,
): Promise<ScoredMemory[]> {
  const currentOnly = request.scope.currentOnly ?? false
  if (resident) return resident.vectorSearch(vector, norm(vector), { filter: request.filter, currentOnly }, k)
  return top(await deps.vectors.vectorSearch(vector, request.scope, request.filter, k), k)
}

/**
 * The store's full-text index finds the candidates (rows not yet indexed included); the engine's
 * BM25 ranks them, as on the resident path.
 */
async function keywordCandidates(
  deps: SearchDeps,
  resident: ResidentScope | undefined,
  request: SearchRequest,
  stats: CorpusStats,
  k: number,
): Promise<ScoredMemory[]> {
  // A term the query repeats counts each time, as in the store's full-text search.
  const queryTerms = tokenize(request.query)
  if (queryTerms.length === 0) return []
  const currentOnly = request.scope.currentOnly ?? false
  if (resident) return resident.keywordSearch(queryTerms, stats, { filter: request.filter, currentOnly }, k)
  // The store's own BM25 only picks which matches come back, and it ranks differently (textbook
  // length normalisation, whole-table statistics that lag deletes): ask for every match, up to a
  // net wide enough for a resident-sized scope. Past the net, its ranking decides what is left out.
  const matches = await deps.vectors.keywordSearch(request.query, request.scope, request.filter, Math.max(k, storeKeywordNet))
  const score = stats.scorer(queryTerms)
  const scored = matches.map((hit) => ({ memory: hit.memory, score: score(countTerms(tokenize(hit.memory.text))) }))
  return top(
    scored.filter((hit) => hit.score > 0),
    k,
  )
}

function norm(vector: Float32Array): number {
  let squares = 0
  for (const x of vector) squares += x * x
  return Math.sqrt(squares)
}
