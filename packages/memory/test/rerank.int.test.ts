import { join } from 'node:path'
import type { Embedder, Reranker } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryErrorCode } from '../src/index.js'
import { defaultEmbedder, openTemp, tempDir, tinyReranker } from './helpers/fixtures.js'

let embedder: Embedder
let reranker: Reranker
let dir: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  dir = await tempDir('rerank')
  ;[embedder, reranker] = await Promise.all([defaultEmbedder(), tinyReranker(join(dir.path, 'cross-encoder'))])
})
afterAll(async () => {
  await Promise.all([embedder.close(), reranker.close()])
  await dir[Symbol.asyncDispose]()
})

const facts = Array.from(
  { length: 40 },
  (_, i) => `Fact ${i}: the user ${['likes', 'avoids', 'cooks', 'buys'][i % 4]} ${['peanuts', 'tea', 'rice', 'fish', 'bread'][i % 5]} on day ${i}`,
)
const query = 'which food does the user avoid'

describe('search with rerank', () => {
  it('reorders the first stage top N by the reranker, keeps the first-stage score, and stays in scope and filter', async () => {
    await using store = await openTemp(embedder, { reranker })
    const { memory } = store
    await memory.addBatch(facts.map((text, i) => ({ messages: text, userId: 'u', metadata: { day: i } })))
    await memory.addBatch(facts.map((text) => ({ messages: text, userId: 'other' })))

    const firstStage = (await memory.search(query, { userId: 'u', topK: 20 })).results
    expect(firstStage.every((r) => r.rerankScore === undefined)).toBe(true)
    const scores = await reranker.score(
      query,
      firstStage.map((r) => r.memory),
    )
    const expected = firstStage
      .map((r, i) => ({ id: r.id, score: r.score, rerankScore: scores[i] as number }))
      .sort((a, b) => b.rerankScore - a.rerankScore)
      .slice(0, 5)

    const reranked = (await memory.search(query, { userId: 'u', topK: 5, rerank: true })).results
    expect(reranked.map((r) => r.id)).toEqual(expected.map((e) => e.id))
    reranked.forEach((r, i) => {
      expect(r.rerankScore).toBeCloseTo(expected[i]?.rerankScore as number, 5)
      expect(r.score).toBe(expected[i]?.score) // the first stage's, as Mem0 keeps it
      expect(r.userId).toBe('u')
    })
    // Scores are random here, so the reranked top 5 is not the first stage's top 5.
    expect(reranked.map((r) => r.id)).not.toEqual(firstStage.slice(0, 5).map((r) => r.id))

    // topN widens the candidates; below topK it cannot shrink them.
    const wide = (await memory.search(query, { userId: 'u', topK: 3, rerank: { topN: 40 } })).results
    const all = (await memory.search(query, { userId: 'u', topK: 40 })).results
    const allScores = await reranker.score(
      query,
      all.map((r) => r.memory),
    )
    const best = all.map((r, i) => ({ id: r.id, s: allScores[i] as number })).sort((a, b) => b.s - a.s)
    expect(wide.map((r) => r.id)).toEqual(best.slice(0, 3).map((b) => b.id))
    const narrow = (await memory.search(query, { userId: 'u', topK: 10, rerank: { topN: 2, model: reranker.modelId } })).results
    const topTen = firstStage
      .slice(0, 10)
      .map((r, i) => ({ id: r.id, s: scores[i] as number }))
      .sort((a, b) => b.s - a.s)
    expect(narrow.map((r) => r.id)).toEqual(topTen.map((t) => t.id))

    const filtered = (await memory.search(query, { userId: 'u', topK: 5, rerank: true, filters: { metadata: { day: { gte: 30 } } } })).results
    expect(filtered.length).toBe(5)
    expect(filtered.every((r) => (r.metadata['day'] as number) >= 30)).toBe(true)
  })

  it('refuses rerank without that reranker, and a bad topN, with typed errors', async () => {
    await using plain = await openTemp(embedder)
    await plain.memory.add('I am allergic to peanuts', { userId: 'u' })
    await expect(plain.memory.search(query, { userId: 'u', rerank: true })).rejects.toMatchObject({ code: MemoryErrorCode.RerankerNotConfigured })
    await expect(plain.memory.search(query, { userId: 'u', rerank: false })).resolves.toMatchObject({
      results: [expect.objectContaining({ memory: 'I am allergic to peanuts' })],
    })

    await using store = await openTemp(embedder, { reranker })
    await store.memory.add('I am allergic to peanuts', { userId: 'u' })
    await expect(store.memory.search(query, { userId: 'u', rerank: { model: 'bge-reranker-base' } })).rejects.toMatchObject({
      code: MemoryErrorCode.RerankerNotConfigured,
      details: { model: 'bge-reranker-base', configured: reranker.modelId },
    })
    await expect(store.memory.search(query, { userId: 'u', rerank: { topN: 0 } })).rejects.toMatchObject({ code: MemoryErrorCode.InvalidOptions })
    await expect(store.memory.search(query, { userId: 'u', rerank: { topn: 5 } as never })).rejects.toMatchObject({ code: MemoryErrorCode.InvalidOptions })
    await expect(store.memory.search(query, { userId: 'u', topK: 201, rerank: true })).rejects.toMatchObject({
      code: MemoryErrorCode.InvalidOptions,
      details: { topK: 201, limit: 200 },
    })

    // A caller that gives up (a request timeout) cancels the model work: the reranking, the query's embedding.
    const gaveUp = AbortSignal.abort()
    await expect(store.memory.search('peanuts', { userId: 'u', mode: 'keyword', rerank: true, signal: gaveUp })).rejects.toMatchObject({
      code: 'EMBEDDINGS_ABORTED',
    })
    await expect(store.memory.search(query, { userId: 'u', signal: gaveUp })).rejects.toMatchObject({ code: 'EMBEDDINGS_ABORTED' })
    await expect(store.memory.search(query, { userId: 'u', signal: 'soon' as never })).rejects.toMatchObject({ code: MemoryErrorCode.InvalidOptions })

    // Any object with `score` may rerank: one that answers nonsense fails the search, never sorts at random.
    const broken = { ...reranker, modelId: 'broken', score: async () => [Number.NaN] } as unknown as Reranker
    await using odd = await openTemp(embedder, { reranker: broken })
    await odd.memory.add('I am allergic to peanuts', { userId: 'u' })
    await odd.memory.add('I live in Porto', { userId: 'u' })
    await expect(odd.memory.search(query, { userId: 'u', rerank: true })).rejects.toMatchObject({ code: MemoryErrorCode.InferenceFailed })
  })
})
