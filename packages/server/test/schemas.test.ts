import type { SearchResult } from '@agentmem/memory'
import { expect, it } from 'vitest'
import { toMemoryJson, toSearchHitJson } from '../src/http/schemas.js'

const base = {
  id: '01890a5d-ac96-774b-bcce-b302099a8057',
  memory: 'I moved to Lisbon in May',
  metadata: { topic: 'home' },
  userId: 'u1',
  agentId: null,
  runId: null,
  role: 'user',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-02T00:00:00.000Z',
  validTo: null,
  score: 0.42,
}
const explained = { vector: { score: 0.81, rank: 1 }, keyword: { score: 3.2, rank: 2 }, fused: 0.42 }

it('maps a search hit to the memory JSON plus score and similarity, in that key order, explain only when asked', () => {
  const hit = { ...base, explain: explained } as unknown as SearchResult
  const memory = toMemoryJson(hit)
  expect(JSON.stringify(toSearchHitJson(hit))).toBe(JSON.stringify({ ...memory, score: 0.42, similarity: 0.81 }))
  expect(JSON.stringify(toSearchHitJson(hit, true))).toBe(JSON.stringify({ ...memory, score: 0.42, similarity: 0.81, explain: explained }))
  // Keyword mode compares no embedding: NaN similarity is null.
  const keyword = { ...base, explain: { ...explained, vector: { score: Number.NaN, rank: null } } } as unknown as SearchResult
  expect(toSearchHitJson(keyword).similarity).toBeNull()
  const bare = { ...base } as unknown as SearchResult
  expect(toSearchHitJson(bare, true)).toEqual({ ...memory, score: 0.42, similarity: null })
})
