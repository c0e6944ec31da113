import { noopLogger } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Memory } from '../src/index.js'
import { type MirroredChange, ResidentCache, type RowImage } from '../src/search/resident-cache.js'
import type { SearchThread } from '../src/search/search-thread.js'
import { openStores } from '../src/store/open-stores.js'
import type { ScopeFilter, StoredMemory } from '../src/store/types.js'
import { defaultEmbedder, openTemp, storedRow, tempDir } from './helpers/fixtures.js'

/**
 * The search thread (search/search-thread.ts) searches a mirror of the main thread's resident
 * cache, told every change of it in order. The mirror must hold what the cache holds after any
 * sequence of changes, and a search on the thread must answer what one on the main thread does.
 */

const terms = ['zebra', 'lion', 'tiger', 'fact', 'river', 'chess']
const scopes: ScopeFilter[] = [
  { tenantId: 't', userId: 'u1' },
  { tenantId: 't', userId: 'u2' },
  { tenantId: 't', userId: 'u1', agentId: 'a' },
]

/** What a search reads of a cache: each scope's rows (id -> text) and the tenant's statistics. */
function held(cache: ResidentCache): unknown {
  const stats = cache.countedStats('t')
  return {
    scopes: scopes.map((scope) => {
      const resident = cache.resident(scope)
      return resident && Object.fromEntries([...resident.rows].map(([id, row]) => [id, row.memory.text]).sort())
    }),
    stats: stats && { size: stats.size, idf: terms.map((t) => stats.idf(t).toFixed(9)) },
  }
}

describe('a resident cache mirrored on another', () => {
  it('holds what the cache holds after loads, commits, evictions, invalidations, follower changes and a clear', async () => {
    await using dir = await tempDir('mirror-')
    const stores = await openStores({ path: dir.path })
    const vectors = await stores.provider.open('memories', 3)
    try {
      const mirror = new ResidentCache(
        { vectors: () => vectors, pending: () => [], exclusive: (task) => task() },
        { budgetBytes: Number.MAX_SAFE_INTEGER, maxScopeRows: 1000, logger: noopLogger },
      )
      const told: MirroredChange[] = []
      const cache = new ResidentCache(
        { vectors: () => vectors, pending: () => [], exclusive: (task) => task() },
        {
          // Room for about two of the scopes below: loading the third evicts one.
          budgetBytes: 4_000,
          maxScopeRows: 1000,
          logger: noopLogger,
          // Through structured cloning, as postMessage carries them to the thread.
          onChange: (change) => {
            told.push(change)
            mirror.replay(structuredClone(change))
          },
        },
      )
      const row = (id: string, text: string, userId = 'u1', agentId: string | null = null): StoredMemory => ({ ...storedRow(id, text, userId), agentId })
      const same = () => expect(held(mirror)).toEqual(held(cache))

      await vectors.apply({
        inserts: [row('a', 'a zebra fact'), row('b', 'a lion fact', 'u2'), row('c', 'a tiger by the river', 'u1', 'a')],
        updates: [],
        deletes: [],
      })
      await cache.stats('t')
      for (const scope of scopes.slice(0, 2)) await cache.scope(scope, { wait: true })
      same()

      // The writer's commits: an insert, a text change, a delete, into resident scopes and not.
      const commit = (images: Array<[string, RowImage]>) => cache.committed(new Map(images))
      commit([['d', { before: null, after: row('d', 'chess with a lion') }]])
      commit([['a', { before: row('a', 'a zebra fact'), after: row('a', 'a zebra at the river') }]])
      commit([['b', { before: row('b', 'a lion fact', 'u2'), after: null }]])
      commit([['e', { before: null, after: row('e', 'a tiger plays chess', 'u1', 'a') }]])
      same()

      // A third scope evicts the least recently used one.
      await vectors.apply({
        inserts: [row('d', 'chess with a lion'), row('e', 'a tiger plays chess', 'u1', 'a')],
        updates: [row('a', 'a zebra at the river')],
        deletes: ['b'],
      })
      await cache.scope(scopes[2] as ScopeFilter, { wait: true })
      expect(cache.usage().evictions).toBeGreaterThan(0)
      same()

      // A follower's changes: a bulk delete, texts an apply changed, a journaled group.
      cache.followedDeletes({ ids: ['e'], scopes: [{ tenantId: 't', userId: 'u1' }] })
      cache.followedCommit(new Map([['f', { before: null, after: row('f', 'zebra zebra', 'u2') }]]))
      const version = await vectors.version()
      cache.followedTexts([{ tenantId: 't', before: null, after: 'zebra zebra' }], -1, version)
      same()

      cache.invalidate({ tenantId: 't', userId: 'u1' })
      same()
      await cache.stats('t')
      for (const scope of scopes) await cache.scope(scope, { wait: true })
      same()
      const counted = await vectors.version()
      cache.followedTexts([{ tenantId: 't', before: 'a zebra at the river', after: 'a lion at the river' }], counted, counted + 1)
      same()
      cache.clear()
      same()
      expect(new Set(told.map((change) => change.kind))).toEqual(new Set(['stats', 'resident', 'lay', 'drop', 'deletes', 'statsDrop', 'texts', 'clear']))
    } finally {
      vectors.close()
      await stores.close()
    }
  })
})

describe('searches on the search thread', () => {
  let embedder: Awaited<ReturnType<typeof defaultEmbedder>>
  beforeAll(async () => {
    embedder = await defaultEmbedder()
  })
  afterAll(async () => {
    await embedder.close()
  })

  const threadOf = (memory: Memory) => (memory as unknown as { engine: { searchThread: SearchThread } }).engine.searchThread

  it('answer what the main thread answers, read their own writes, and leave the main thread to search once it is gone', async () => {
    await using store = await openTemp(embedder, { resident: { searchThread: true, searchThreadMinRows: 1 } })
    const { memory } = store
    const topics = ['kayaking on the river', 'chess openings', 'sourdough bread', 'a trip to Lisbon', 'learning the violin']
    for (const userId of ['u1', 'u2']) {
      await memory.addBatch(Array.from({ length: 60 }, (_, i) => ({ messages: `${userId} note ${i}: ${topics[i % topics.length]}`, userId, metadata: { i } })))
      await memory.warm({ userId })
    }
    const queries = ['river kayaking', 'bread', 'Lisbon trip', 'violin lessons', 'chess']
    const options = (i: number) => ({
      userId: i % 2 ? 'u1' : 'u2',
      topK: 7,
      explain: true,
      ...(i % 3 === 0 && { filters: { metadata: { i: { gte: 20 } } } }),
      ...(i % 4 === 1 && { mode: 'keyword' as const }),
    })

    // One at a time, searches run on the main thread (unless it counts as busy: a test process may
    // be); sixteen at once, most go to the thread. Both answer alike.
    const alone = []
    for (let i = 0; i < 16; i++) alone.push(await memory.search(queries[i % queries.length] as string, options(i)))
    const before = memory.stats().searchThread?.searches as number
    const together = await Promise.all(Array.from({ length: 16 }, (_, i) => memory.search(queries[i % queries.length] as string, options(i))))
    expect(memory.stats().searchThread?.searches).toBeGreaterThan(before)
    expect(together).toEqual(alone)

    // An acknowledged write is found by the searches that come after it, wherever they run.
    for (let round = 0; round < 5; round++) {
      const text = `a new fact about harpsichords, round ${round}`
      const { results } = await memory.add(text, { userId: 'u1' })
      const found = await Promise.all(Array.from({ length: 12 }, () => memory.search('harpsichords', { userId: 'u1', topK: 10 })))
      for (const { results: hits } of found) expect(hits.map((hit) => hit.id)).toContain(results[0]?.id)
      await memory.delete(results[0]?.id as string)
      const after = await Promise.all(Array.from({ length: 12 }, () => memory.search('harpsichords', { userId: 'u1', topK: 10 })))
      for (const { results: hits } of after) expect(hits.map((hit) => hit.id)).not.toContain(results[0]?.id)
    }
    const answered = memory.stats().searchThread?.searches as number
    expect(answered).toBeGreaterThan(16)

    // The thread gone, searches still answer, on the main thread.
    await threadOf(memory).close()
    const without = await Promise.all(Array.from({ length: 16 }, (_, i) => memory.search(queries[i % queries.length] as string, options(i))))
    expect(without).toEqual(alone)
    expect(memory.stats().searchThread).toMatchObject({ state: 'closed', searches: answered })
  })
})
