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

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number)
  return sum
}

/**
 * Fuses vector and keyword candidates by a convex combination of their scores:
 * w * bm25 / best bm25 + (1 - w) * cosine. Cosine stays raw, so a model whose similarities
 * barely separate candidates moves the order little. Every candidate gets its exact cosine
 * (vectors are unit length), so a threshold on similarity applies to keyword-only hits too.
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
        explain: { vector: { score: dot(query, hit.memory.vector), rank: null }, keyword: { score: hit.score, rank: i + 1 }, fused: 0 },
      })
    }
  }
  const hits = [...byId.values()]
  for (const { memory, explain } of hits) {
    const keyword = explain.keyword && bestKeyword > 0 ? explain.keyword.score / bestKeyword : 0
    const fused = keywordWeight * keyword + (1 - keywordWeight) * explain.vector.score
    const filler = fillerWeight < 1 && isLowInformation(memory)
    if (filler) explain.filler = true
    // Only a positive score is lowered: multiplying a negative one would lift it.
    explain.fused = filler && fused > 0 ? fused * fillerWeight : fused
  }
  return hits.sort((a, b) => b.explain.fused - a.explain.fused || a.memory.id.localeCompare(b.memory.id))
}
