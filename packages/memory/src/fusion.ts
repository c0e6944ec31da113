import type { ScoredMemory, StoredMemory } from './store/types.js'
import type { SearchExplanation } from './types.js'

/** Reciprocal-rank-fusion constant: the usual 60 keeps any single list from dominating. */
const rrfK = 60

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
 * Fuses vector and keyword candidates by reciprocal rank, scaled so that first in both lists is 1.
 * Every candidate gets its exact cosine similarity (vectors are unit length), so a threshold on
 * similarity applies to keyword-only hits too.
 */
export function fuseHybrid(query: Float32Array, vectorHits: ScoredMemory[], keywordHits: ScoredMemory[]): FusedHit[] {
  const byId = new Map<string, FusedHit>()
  const best = 2 / (rrfK + 1)
  vectorHits.forEach((hit, i) => {
    byId.set(hit.memory.id, { memory: hit.memory, explain: { vector: { score: hit.score, rank: i + 1 }, keyword: null, fused: 1 / (rrfK + i + 1) / best } })
  })
  keywordHits.forEach((hit, i) => {
    const share = 1 / (rrfK + i + 1) / best
    const existing = byId.get(hit.memory.id)
    if (existing) {
      existing.explain.keyword = { score: hit.score, rank: i + 1 }
      existing.explain.fused += share
    } else {
      byId.set(hit.memory.id, {
        memory: hit.memory,
        explain: { vector: { score: dot(query, hit.memory.vector), rank: null }, keyword: { score: hit.score, rank: i + 1 }, fused: share },
      })
    }
  })
  return [...byId.values()].sort((a, b) => b.explain.fused - a.explain.fused || a.memory.id.localeCompare(b.memory.id))
}
