import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Memory, type SearchOptions, type SearchResult } from '../src/index.js'
import { defaultEmbedder, tempDir } from './helpers/fixtures.js'

/**
 * Issue 18: conversation context. The answer to a question is often the message after the one
 * that shares its words; in hybrid search a strong hit lends part of its score to its thread
 * neighbours, on the resident path and the store path alike.
 */

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(() => embedder.close())

const question = 'Where did Caroline go camping last weekend?'
const asked = 'Melanie: Did you go camping last weekend, Caroline?'
const answer = 'Caroline: Yes, to the lake at Big Sur with the kids.'
/** Other things Caroline said: they share her name with the question, as the answer does. */
const chatter = [
  'Caroline: I started a pottery class on Tuesdays.',
  'Caroline: My sister visits in June.',
  'Caroline: The adoption agency called back today.',
  'Caroline: I finished the book about volcanoes.',
  'Caroline: Work has been busy with the new project.',
  'Caroline: I painted the fence blue.',
  'Caroline: We adopted a cat called Pixel.',
  'Caroline: My knee still hurts after the run.',
]

/** Where the text ranks, or Infinity when it is not among the results. */
function rankOf(results: SearchResult[], text: string): number {
  const at = results.findIndex((r) => r.memory === text)
  return at < 0 ? Number.POSITIVE_INFINITY : at
}

describe('conversation context', () => {
  it('lifts the reply to a matching message, in its own thread only, on both read paths', async () => {
    await using dir = await tempDir('context')
    let memory = await Memory.open({ path: dir.path, embedder })
    try {
      await memory.addBatch(chatter.map((text) => ({ messages: text, userId: 'u', runId: 'earlier', infer: false })))
      await memory.add(asked, { userId: 'u', runId: 'chat', infer: false })
      // Another conversation of the same user, written in between: not part of this thread.
      await memory.add('Jon: I think the match starts at noon.', { userId: 'u', runId: 'other', infer: false })
      await memory.add(answer, { userId: 'u', runId: 'chat', infer: false })

      const search = async (m: Memory) => (await m.search(question, { userId: 'u', topK: 10, explain: true })).results
      await memory.warm({ userId: 'u' })
      const hits = memory.stats().resident.hits
      const resident = await search(memory)
      expect(memory.stats().resident.hits).toBe(hits + 1)
      const lifted = resident[rankOf(resident, answer)]
      expect(rankOf(resident, answer)).toBeLessThan(3)
      expect(lifted?.explain?.context?.from).toBe(resident.find((r) => r.memory === asked)?.id)
      // The other conversation's message sits between them in time, yet borrows nothing.
      expect(resident.find((r) => r.memory.startsWith('Jon:'))?.explain?.context).toBeUndefined()
      await memory.close()

      // The store path ranks alike: reading the scope's threads whole beside the candidates (no
      // resident index), or only the stretches near the lenders (a scope too big to read whole).
      const ranking = (results: SearchResult[]) => results.map((r) => [r.id, r.score.toFixed(5), r.explain?.context?.from])
      for (const options of [{ budgetBytes: 0 }, { maxScopeRows: 2 }]) {
        memory = await Memory.open({ path: dir.path, embedder, resident: options })
        for (let i = 0; i < 2; i++) expect(ranking(await search(memory)), JSON.stringify(options)).toEqual(ranking(resident))
        await memory.close()
      }

      // Without context, the reply ranks among the chatter that merely names Caroline.
      memory = await Memory.open({ path: dir.path, embedder, contextWeight: 0 })
      const without = await search(memory)
      expect(rankOf(without, answer)).toBeGreaterThan(rankOf(resident, answer))
      expect(without.some((r) => r.explain?.context)).toBe(false)
    } finally {
      await memory.close()
    }
  })

  it('does not reach a message written more than the window after, and steps over one the filter excludes', async () => {
    await using dir = await tempDir('context-window')
    for (const resident of [true, false]) {
      const memory = await Memory.open({ path: `${dir.path}/${resident}`, embedder, ...(!resident && { resident: { budgetBytes: 0 } }) })
      try {
        const start = Date.parse('2026-01-01T10:00:00Z')
        const at = (minutes: number) => new Date(start + minutes * 60_000).toISOString()
        await memory.import([
          { memory: asked, userId: 'u', createdAt: at(0) },
          { memory: 'Caroline: The lake was cold.', userId: 'u', createdAt: at(20), metadata: { hidden: true } },
          { memory: 'Caroline: We swam anyway.', userId: 'u', createdAt: at(25) },
          { memory: answer, userId: 'u', createdAt: at(180) },
          ...chatter.map((text, i) => ({ memory: text, userId: 'u', createdAt: at(-60 * (i + 1)) })),
        ])
        if (resident) await memory.warm({ userId: 'u' })
        const search = async (filters?: SearchOptions['filters']) =>
          (await memory.search(question, { userId: 'u', topK: 20, explain: true, ...(filters && { filters }) })).results
        const context = (results: SearchResult[], text: string) => results.find((r) => r.memory === text)?.explain?.context?.from
        const unfiltered = await search()
        const askedId = unfiltered.find((r) => r.memory === asked)?.id
        expect(askedId).toBeDefined()
        // Twenty minutes after, the next message; three hours after, another conversation.
        expect(context(unfiltered, 'Caroline: The lake was cold.')).toBe(askedId)
        expect(context(unfiltered, answer)).toBeUndefined()
        // With the next message filtered out, the one after it is the neighbour.
        const filtered = await search({ NOT: { metadata: { hidden: true } } })
        expect(filtered.some((r) => r.memory.includes('cold'))).toBe(false)
        expect(context(filtered, 'Caroline: We swam anyway.')).toBe(askedId)
        expect(context(filtered, answer)).toBeUndefined()
      } finally {
        await memory.close()
      }
    }
  })
})
