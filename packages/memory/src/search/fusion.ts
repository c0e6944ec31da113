import type { ScoredMemory, StoredMemory } from '../store/types.js'
import type { SearchExplanation } from '../types.js'
import { isLowInformation } from './filler.js'

/**
 * Weight of the keyword signal in hybrid scores. Picked on LoCoMo's two smallest conversations
 * (the bench's quick set) with the offline default model, then checked on the other eight:
 * docs/benchmarks/locomo.md. Reciprocal-rank fusion lost to keyword search alone there
 * (Recall@10 49.7 vs 60.6): ranks discard how far apart candidates are, so a weak signal's
 * noise counts as much as a strong signal's confidence.
 */
export const keywordWeight = 0.7

export interface FusedHit {
  memory: StoredMemory
  explain: SearchExplanation
}

/** Cosine similarity, 0 against a zero vector, as the store's cosine distance and the resident scan compute it. */
function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number
    const y = b[i] as number
    dot += x * y
    aa += x * x
    bb += y * y
  }
  return aa > 0 && bb > 0 ? dot / Math.sqrt(aa * bb) : 0
}

/**
 * Fuses vector and keyword candidates by a convex combination of their scores:
 * w * bm25 / best bm25 + (1 - w) * cosine. Cosine stays raw, so a model whose similarities
 * barely separate candidates moves the order little. Every candidate gets its exact cosine, so a
 * threshold on similarity applies to keyword-only hits too: the resident scan's (`similarity`),
 * else computed here from its vector.
 *
 * A memory made only of filler words (filler.ts: "Noted!", "Good morning!") has a positive fused
 * score counted `fillerWeight` times: short texts sit close to many questions under averaged
 * word vectors, and share words like "morning" with them, yet say nothing that could answer
 * one. It still ranks where nothing else matches; a memory with any content word is never touched.
 */
export function fuseHybrid(query: Float32Array, vectorHits: ScoredMemory[], keywordHits: ScoredMemory[], fillerWeight: number): FusedHit[] {
  // Plain loops: this runs on every hybrid search, over ~60 candidates.
  const byId = new Map<string, FusedHit>()
  for (let i = 0; i < vectorHits.length; i++) {
    const hit = vectorHits[i] as ScoredMemory
    byId.set(hit.memory.id, { memory: hit.memory, explain: { vector: { score: hit.score, rank: i + 1 }, keyword: null, fused: 0 } })
  }
  let bestKeyword = 0
  for (let i = 0; i < keywordHits.length; i++) {
    const hit = keywordHits[i] as ScoredMemory
    if (hit.score > bestKeyword) bestKeyword = hit.score
    const existing = byId.get(hit.memory.id)
    if (existing) existing.explain.keyword = { score: hit.score, rank: i + 1 }
    else {
      byId.set(hit.memory.id, {
        memory: hit.memory,
        explain: { vector: { score: hit.similarity ?? cosine(query, hit.memory.vector), rank: null }, keyword: { score: hit.score, rank: i + 1 }, fused: 0 },
      })
    }
  }
  const hits = [...byId.values()]
  for (const hit of hits) score(hit, bestKeyword, fillerWeight)
  return sortByFusedScore(hits)
}

/**
 * A memory that was neither a vector nor a keyword candidate (a neighbour that context reached),
 * scored as a candidate would have been: its cosine, and its BM25 (0 when none of the terms match)
 * against the best keyword candidate's. `bm25` is in neither candidate list, so it has no rank.
 * `similarity` is the resident index's cosine where it has one (`ResidentScope.similarity`).
 */
export function fuseOutsider(
  query: Float32Array,
  memory: StoredMemory,
  bm25: number,
  bestKeyword: number,
  fillerWeight: number,
  similarity = cosine(query, memory.vector),
): FusedHit {
  const hit = {
    memory,
    explain: { vector: { score: similarity, rank: null }, keyword: bm25 > 0 ? { score: bm25, rank: null } : null, fused: 0 },
  }
  score(hit, bestKeyword, fillerWeight)
  return hit
}

/**
 * The most a memory in neither candidate list can score: a full list's weakest member bounds
 * everyone left out of it, and a list that is not full left out no visible row (vector) or no
 * matching one (keyword). Rows the model reads as nothing (`unreadRows`: zero vectors) are never
 * vector candidates, yet score cosine 0. A little slack covers float32 cosine against the float64 dot.
 */
export function outsiderCeiling(
  vectorHits: readonly ScoredMemory[],
  keywordHits: readonly ScoredMemory[],
  depth: number,
  readable = true,
  unreadRows = false,
): number {
  // A query the model read as nothing (searcher.ts) has no vector candidates, yet left every row
  // out of them: each row's cosine to it is 0.
  let vector = 0
  if (readable) {
    const weakest = vectorHits.length < depth ? Number.NEGATIVE_INFINITY : (vectorHits.at(-1) as ScoredMemory).score
    vector = unreadRows ? Math.max(weakest, 0) : weakest
    if (vector === Number.NEGATIVE_INFINITY) return vector
  }
  const bestKeyword = bestScore(keywordHits)
  const keyword = keywordHits.length < depth || bestKeyword === 0 ? 0 : (keywordHits.at(-1) as ScoredMemory).score / bestKeyword
  return keywordWeight * keyword + (1 - keywordWeight) * vector + 1e-6
}

/** The best score among hits (0 for none): what fusion divides BM25 by. */
export function bestScore(hits: readonly ScoredMemory[]): number {
  let best = 0
  for (const hit of hits) if (hit.score > best) best = hit.score
  return best
}

export function byFusedScore(a: FusedHit, b: FusedHit): number {
  return b.explain.fused - a.explain.fused || a.memory.id.localeCompare(b.memory.id)
}

/**
 * `hits.sort(byFusedScore)`, in place. A search sorts its ~50 candidates three times (fusion,
 * feedback, context), the last two nearly in order already; a binary insertion sort in JS, where
 * the comparison is inlined, took about half the time of the built-in sort, which calls it (a
 * throwaway micro-benchmark of random lists).
 * Big lists (a large topK) take the built-in sort.
 */
export function sortByFusedScore(hits: FusedHit[]): FusedHit[] {
  if (hits.length > 128) return hits.sort(byFusedScore)
  for (let i = 1; i < hits.length; i++) {
    const hit = hits[i] as FusedHit
    if (byFusedScore(hits[i - 1] as FusedHit, hit) <= 0) continue
    let lo = 0
    let hi = i - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (byFusedScore(hits[mid] as FusedHit, hit) <= 0) lo = mid + 1
      else hi = mid
    }
    for (let j = i; j > lo; j--) hits[j] = hits[j - 1] as FusedHit
    hits[lo] = hit
  }
  return hits
}

function score({ memory, explain }: FusedHit, bestKeyword: number, fillerWeight: number): void {
  const keyword = explain.keyword && bestKeyword > 0 ? explain.keyword.score / bestKeyword : 0
  const fused = keywordWeight * keyword + (1 - keywordWeight) * explain.vector.score
  const filler = fillerWeight < 1 && isLowInformation(memory)
  if (filler) explain.filler = true
  // Only a positive score is lowered: multiplying a negative one would lift it.
  explain.fused = filler && fused > 0 ? fused * fillerWeight : fused
}
