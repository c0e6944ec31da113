import type { Embedder } from '@agentmem/embeddings'
import { embed } from '../embed.js'
import type { FilterNode } from '../filters.js'
import type { SearchMode } from '../options.js'
import type { ScopeFilter, ScopeRow, ScoredMemory, StoredMemory, VectorStore } from '../store/types.js'
import type { SearchExplanation } from '../types.js'
import { bm25Scorer, type CorpusStats, countTerms, type QueryWeights, type TermCounts } from './bm25.js'
import { compareThreadOrder, contextLenders, contextWindows, lendContext, type ThreadRow, threadNeighbours } from './context.js'
import { applyFeedback, type FeedbackTerms } from './feedback.js'
import { inScope, matchesFilter } from './filter-match.js'
import { bestScore, type FusedHit, fuseHybrid, fuseOutsider, outsiderCeiling } from './fusion.js'
import type { ResidentCache } from './resident-cache.js'
import { type ResidentQuery, type ResidentScope, top } from './resident-scope.js'
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
  /** Hybrid only: what a word of the best hits counts, as a fraction of a query word, in re-scoring the candidates (feedback.ts); 0 is none. */
  feedbackWeight: number
  /** Hybrid only: the share of a hit's score its thread neighbours get (context.ts); 0 is none. */
  contextWeight: number
  signal?: AbortSignal | undefined
  /** The query's embedding if already made (the search thread's searches: the main thread embeds). */
  vector?: Float32Array | undefined
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
   * Whether `settled(scope)` could wait long: writes queued behind a maintenance or a statistics
   * scan (see Writer.settlesLate), or, on a follower, the leader's groups not applied yet.
   */
  loadsRatherThanWaits(scope: ScopeFilter): boolean
  healthy(): void
}

/**
 * Matches the store's full-text index hands the engine to rank: every match of a scope this size
 * or smaller, so the store path ranks exactly as the resident path does. A scope read whole (for
 * context) this size or smaller is ranked from that read instead.
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
  // Context on the store path needs where the scope's rows sit in their threads: read the whole
  // scope beside the vector candidates (one LanceDB query costs milliseconds), unless it is known to
  // be too big to read whole. With their texts (at most `storeKeywordNet` rows), the same rows rank
  // the keyword candidates and no full-text query is made. A scope found to hold more is read
  // without texts from then on, and the full-text query runs beside that read.
  const withTexts = !deps.cache.knownWide(scope)
  const wholeScope =
    mode === 'hybrid' && request.contextWeight > 0 && !resident && !deps.cache.knownOversized(scope) ? readWholeScope(deps, request, withTexts) : undefined
  const scopeTexts = withTexts ? wholeScope?.then((whole) => whole?.texts) : undefined
  const [vector, stats] = await Promise.all([
    mode === 'keyword'
      ? undefined
      : (request.vector ??
        embed(deps.embedder, [request.query], { kind: 'query', ...(request.signal && { signal: request.signal }) }).then(([v]) => v as Float32Array)),
    mode === 'vector' ? undefined : deps.cache.stats(scope.tenantId),
  ])
  // A term the query repeats counts each time, as in the store's full-text search.
  const queryTerms = mode === 'vector' ? [] : tokenize(request.query)
  // IDFs and average length once, for the keyword candidates and for the neighbours context adds.
  const queryWeights = stats?.weights(queryTerms)
  // Fusion needs more candidates than it returns: a memory ranked low by one signal may top the other.
  const depth = mode === 'hybrid' ? Math.min(Math.max(topK * 3, 30), 1000) : topK
  // A query the model reads as nothing (the offline default embeds words it does not know as
  // zeros) is no nearer to one memory than to another: ranking every memory at cosine 0 returned
  // topK arbitrary ones. It finds no vector candidates; its keyword matches still count.
  const vectorNorm = vector ? norm(vector) : 0
  const readable = vectorNorm > 0
  // On the store path the two are LanceDB queries: run them at once, as before the resident index.
  const [vectorHits, keywordHits] =
    resident && vector && readable && queryWeights
      ? resident.hybridSearch(vector, vectorNorm, queryWeights, residentQuery(request), depth)
      : await Promise.all([
          vector && readable ? vectorCandidates(deps, resident, request, vector, vectorNorm, depth) : [],
          queryWeights ? keywordCandidates(deps, resident, request, queryWeights, depth, scopeTexts) : [],
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
  let fused = fuseHybrid(vector as Float32Array, vectorHits, keywordHits, request.fillerWeight)
  if (request.feedbackWeight > 0) {
    const terms: FeedbackTerms = resident
      ? {
          counts: (memory) => residentCounts(resident, memory),
          scores: (words, norm, memories) => resident.termScores(words, norm, memories),
        }
      : { counts: (memory) => countTerms(tokenize(memory.text)) }
    fused = applyFeedback(fused, terms, queryTerms, stats as CorpusStats, {
      bestKeyword: bestScore(keywordHits),
      weight: request.feedbackWeight,
      fillerWeight: request.fillerWeight,
    })
  }
  const ranked =
    request.contextWeight > 0
      ? await withContext(
          deps,
          resident,
          request,
          { vector: vector as Float32Array, vectorNorm, vectorHits, keywordHits, depth, bm25: bm25Scorer(queryWeights as QueryWeights), wholeScope },
          fused,
        )
      : fused
  return ranked
    .filter((h) => threshold === undefined || h.explain.vector.score >= threshold)
    .slice(0, topK)
    .map((h) => ({ memory: h.memory, score: h.explain.fused, explain: h.explain }))
}

async function vectorCandidates(
  deps: SearchDeps,
  resident: ResidentScope | undefined,
  request: SearchRequest,
  vector: Float32Array,
  vectorNorm: number,
  k: number,
): Promise<ScoredMemory[]> {
  if (resident) return resident.vectorSearch(vector, vectorNorm, residentQuery(request), k)
  return top(await deps.vectors.vectorSearch(vector, request.scope, request.filter, k), k)
}

/**
 * The store's full-text index finds the candidates (rows not yet indexed included), or the whole
 * scope when it was read anyway; the engine's BM25 ranks them, as on the resident path.
 */
async function keywordCandidates(
  deps: SearchDeps,
  resident: ResidentScope | undefined,
  request: SearchRequest,
  weights: QueryWeights,
  k: number,
  scopeTexts: Promise<ScopeRow[] | undefined> | undefined,
): Promise<ScoredMemory[]> {
  if (weights.terms.length === 0) return []
  if (resident) return resident.keywordSearch(weights, residentQuery(request), k)
  // Rows read with their texts hold every match. Otherwise the store's own BM25 picks which
  // matches come back, and it ranks differently (textbook length normalisation, whole-table
  // statistics that lag deletes): ask for every match, up to a net wide enough for a
  // resident-sized scope. Past the net, its ranking decides what is left out. Either way the
  // engine ranks ids and texts; only the best k rows are then read whole.
  const matches = (await scopeTexts) ?? (await deps.vectors.keywordMatches(request.query, request.scope, request.filter, Math.max(k, storeKeywordNet)))
  const score = bm25Scorer(weights)
  const best = matches
    .map(({ id, text }) => ({ id, score: score(countTerms(tokenize(text))) }))
    .filter((hit) => hit.score > 0)
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, k)
  const rows = await deps.vectors.getByIds(
    request.scope.tenantId,
    best.map((hit) => hit.id),
  )
  // A write between the two reads may have changed a row's text, or deleted it, or moved it out of the filter.
  return top(
    rows
      .filter((memory) => visible(memory, request))
      .map((memory) => ({ memory, score: score(countTerms(tokenize(memory.text))) }))
      .filter((hit) => hit.score > 0),
    k,
  )
}

function residentQuery(request: SearchRequest): ResidentQuery {
  return { filter: request.filter, currentOnly: request.scope.currentOnly ?? false }
}

function visible(memory: StoredMemory, request: SearchRequest): boolean {
  return inScope(memory, request.scope) && (request.filter === undefined || matchesFilter(memory, request.filter))
}

/** The hits with the context their best lend to their thread neighbours (context.ts), neighbours not among them added. */
async function withContext(
  deps: SearchDeps,
  resident: ResidentScope | undefined,
  request: SearchRequest,
  candidates: {
    vector: Float32Array
    vectorNorm: number
    vectorHits: ScoredMemory[]
    keywordHits: ScoredMemory[]
    depth: number
    bm25: (doc: TermCounts) => number
    wholeScope: Promise<WholeScope | undefined> | undefined
  },
  hits: FusedHit[],
): Promise<FusedHit[]> {
  const lenders = hits.slice(0, contextLenders)
  if (lenders.length === 0) return hits
  const lent = lenders.map((hit) => hit.memory)
  const found = resident
    ? resident.neighbours(lent, residentQuery(request))
    : threadNeighbours((await candidates.wholeScope)?.rows ?? (await storeThreadRows(deps, request, lent)), lent, () => true)
  const byId = new Map<string, FusedHit>()
  for (const hit of hits) byId.set(hit.memory.id, hit)
  // Only the first topK are returned, and lending only raises scores: a neighbour that was no
  // candidate, at most as good as each list's weakest candidate, is not worth scoring when even
  // its lender's share cannot lift that to the topK-th score. Only on the resident path, whose
  // candidate lists are exact; the store's may not be (an ANN index, the keyword net's cut).
  const ceiling = resident
    ? outsiderCeiling(candidates.vectorHits, candidates.keywordHits, candidates.depth, candidates.vectorNorm > 0, resident.unreadRows > 0)
    : Number.POSITIVE_INFINITY
  const passing = request.threshold === undefined ? hits : hits.filter((hit) => hit.explain.vector.score >= (request.threshold as number))
  const floor = passing[request.topK - 1]?.explain.fused ?? Number.NEGATIVE_INFINITY
  const outsiders: string[] = []
  for (const [id, { lender }] of found) {
    const share = (lenders[lender] as FusedHit).explain.fused
    // A lender with no positive score lends nothing (lendContext): its neighbour ranks on its own.
    if (!byId.has(id) && share > 0 && ceiling + request.contextWeight * share >= floor) outsiders.push(id)
  }
  if (outsiders.length > 0) {
    const bestKeyword = bestScore(candidates.keywordHits)
    const rows: Array<{ memory: StoredMemory; counts: TermCounts; similarity?: number | undefined }> = resident
      ? outsiders.flatMap((id) => {
          const row = resident.rows.get(id)
          return row ? [{ memory: row.memory, counts: row.counts, similarity: resident.similarity(row, candidates.vector, candidates.vectorNorm) }] : []
        })
      : // A write between the two reads may have deleted a row or moved it out of the filter.
        (await deps.vectors.getByIds(request.scope.tenantId, outsiders))
          .filter((memory) => visible(memory, request))
          .map((memory) => ({ memory, counts: countTerms(tokenize(memory.text)) }))
    for (const { memory, counts, similarity } of rows) {
      const hit = fuseOutsider(candidates.vector, memory, candidates.bm25(counts), bestKeyword, request.fillerWeight, similarity)
      hits.push(hit)
      byId.set(memory.id, hit)
    }
  }
  return lendContext(hits, byId, lenders, found, request.contextWeight, request.fillerWeight)
}

interface WholeScope {
  /** Every row of the scope, in thread order. */
  rows: ThreadRow[]
  /** The same rows with their texts, when read with them and few enough to rank by them (`storeKeywordNet`). */
  texts: ScopeRow[] | undefined
}

/**
 * Every row of the scope (the texts too if `texts`); undefined when the scope holds more than
 * `maxScopeRows` (remembered, so the next search skips this read) or the read failed. Too many
 * rows to rank by their texts (tokenizing each, ~6 µs, would hold the event loop) is remembered
 * too: the next search reads no texts and asks the full-text index beside this read.
 */
async function readWholeScope(deps: SearchDeps, request: SearchRequest, texts: boolean): Promise<WholeScope | undefined> {
  const limit = deps.cache.maxScopeRows + 1
  try {
    const withTexts = texts ? await deps.vectors.scopeRows(request.scope, request.filter, limit, true) : undefined
    const rows: ThreadRow[] = withTexts ?? (await deps.vectors.scopeRows(request.scope, request.filter, limit, false))
    if (rows.length > deps.cache.maxScopeRows) {
      deps.cache.foundOversized(request.scope)
      return undefined
    }
    rows.sort(compareThreadOrder)
    if (withTexts && withTexts.length > storeKeywordNet) deps.cache.foundWide(request.scope)
    return { rows, texts: withTexts && withTexts.length <= storeKeywordNet ? withTexts : undefined }
  } catch {
    // Only means the full-text index finds the keyword candidates and a narrower read the neighbours.
    return undefined
  }
}

/** The stretches of the lenders' threads near them, in thread order. */
async function storeThreadRows(deps: SearchDeps, request: SearchRequest, lenders: readonly StoredMemory[]): Promise<ThreadRow[]> {
  return (await deps.vectors.threadRows(request.scope, request.filter, contextWindows(lenders))).sort(compareThreadOrder)
}

/** A resident hit's term counts; a row a write replaced since the candidates were found is tokenized, as the store path would. */
function residentCounts(resident: ResidentScope, memory: StoredMemory): TermCounts {
  const row = resident.rows.get(memory.id)
  return row && row.memory === memory ? row.counts : countTerms(tokenize(memory.text))
}

function norm(vector: Float32Array): number {
  let squares = 0
  for (const x of vector) squares += x * x
  return Math.sqrt(squares)
}
