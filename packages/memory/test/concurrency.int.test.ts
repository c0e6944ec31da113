import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MemoryItem } from '../src/index.js'
import { defaultEmbedder, openTemp, seededRandom } from './helpers/fixtures.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(() => embedder.close())

describe('concurrent writes', () => {
  it('64 concurrent adds / updates / deletes on overlapping ids leave no duplicates and a history that replays to the final state', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const seedIds = (await memory.addBatch(Array.from({ length: 16 }, (_, i) => ({ messages: `seed memory ${i}`, userId: 'u1' })))).results.map((r) => r.id)
    const random = seededRandom(64)
    const pick = () => seedIds[Math.floor(random() * seedIds.length)] as string

    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 64 }, (_, i) => {
          const roll = random()
          // Adds repeat texts on purpose: concurrent exact duplicates must collapse to one memory.
          if (roll < 0.4) return memory.add(`shared text ${i % 8}`, { userId: 'u1' })
          if (roll < 0.8) return memory.update(pick(), { text: `round ${round} op ${i}`, metadata: { op: i } })
          return memory.delete(pick())
        }),
      )
      // The only acceptable failure is updating or deleting a memory another call deleted first.
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ code: 'MEMORY_NOT_FOUND' })
      }
    }

    const rows: MemoryItem[] = []
    for (let cursor: string | null = null; ; ) {
      const page: { results: MemoryItem[]; nextCursor: string | null } = await memory.getAll({ userId: 'u1', limit: 1000, ...(cursor && { cursor }) })
      rows.push(...page.results)
      cursor = page.nextCursor
      if (!cursor) break
    }
    const ids = rows.map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    const shared = rows.filter((r) => r.memory.startsWith('shared text'))
    expect(new Set(shared.map((r) => r.memory)).size).toBe(shared.length)

    // Replaying each memory's history must give exactly its current state.
    const current = new Map(rows.map((r) => [r.id, r.memory]))
    for (const id of new Set([...seedIds, ...ids])) {
      const history = await memory.history(id)
      let text: string | null = null
      for (const event of history) {
        expect(event.previousMemory).toBe(text)
        text = event.newMemory
      }
      expect(text, id).toBe(current.get(id) ?? null)
    }
  })
})
