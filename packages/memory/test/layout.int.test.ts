import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import * as lancedb from '@lancedb/lancedb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Memory } from '../src/index.js'
import { openLanceProvider } from '../src/store/lancedb-vector-store.js'
import type { StoredMemory } from '../src/store/types.js'
import { type Backend, defaultEmbedder, localBackend, openTemp, type StoreLocation, sharedBackend, tempDir, useBackend } from './helpers/fixtures.js'

const users = ['ada', 'bo', 'cy', 'di', 'ed', 'flo']
const topics = ['hiking in the alps', 'sourdough bread', 'jazz piano', 'chess openings', 'tomato seedlings', 'rust lifetimes']

/** `count` memories written round-robin over the users (and two agents), as many users' traffic arrives. */
async function addInterleaved(memory: Memory, count: number, from: number): Promise<void> {
  for (let start = from; start < from + count; start += 300) {
    await memory.addBatch(
      Array.from({ length: Math.min(300, from + count - start) }, (_, i) => {
        const n = start + i
        return { messages: `note ${n} about ${topics[n % topics.length]}`, userId: users[n % users.length], agentId: n % 12 < 6 ? 'a1' : 'a2', metadata: { n } }
      }),
    )
  }
}

/** For each user, how many runs of adjacent row addresses its rows make in the table's files. */
async function runsPerUser(location: StoreLocation): Promise<Record<string, number>> {
  const uri = location.vectorsUrl ?? join(location.path, 'vectors')
  const table = await (await lancedb.connect(uri, location.storageOptions && { storageOptions: location.storageOptions })).openTable('memories')
  const runs: Record<string, number> = {}
  for (const user of users) {
    const rows = await table.query().where(`user_id = '${user}'`).select(['id']).withRowId().toArray()
    const addresses = rows.map((r) => r._rowid as bigint).sort((a, b) => (a < b ? -1 : 1))
    runs[user] = addresses.filter((address, i) => i === 0 || address !== (addresses[i - 1] as bigint) + 1n).length
  }
  table.close()
  return runs
}

/** Everything a reader can see of the store, keyed by id. */
async function snapshot(memory: Memory) {
  const all = await Promise.all(users.map((userId) => memory.getAll({ userId, limit: 1_000 })))
  return new Map(all.flatMap((page) => page.results.map((m) => [m.id, [m.memory, m.userId, m.agentId, m.metadata, m.createdAt, m.updatedAt]])))
}

async function total(memory: Memory): Promise<number> {
  let sum = 0
  for (const userId of users) sum += await memory.count({ userId })
  return sum
}

// On both backends: the layout reads and writes by row address, which object storage serves differently.
describe.each<Backend>([localBackend, sharedBackend()])('maintenance lays rows out by scope, on $name', (backend) => {
  let embedder: Embedder
  beforeAll(async () => {
    useBackend(backend)
    embedder = await defaultEmbedder()
  })
  afterAll(async () => {
    useBackend(localBackend)
    await Promise.all([embedder.close(), backend.stop()])
  })

  it('groups the rows written since the last maintenance by scope, changing no memory', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await addInterleaved(memory, 1_200, 0)
    const before = await snapshot(memory)
    const searchBefore = await memory.search('jazz piano', { userId: 'cy', topK: 20 })
    // Arrival order: every row of a user sits between other users' rows.
    expect(Object.values(await runsPerUser(store.location))).toEqual(users.map(() => 200))

    await memory.optimize()
    expect(await runsPerUser(store.location)).toEqual(Object.fromEntries(users.map((u) => [u, 1])))
    // Read the rewritten rows, not the scopes the reads above made resident.
    await memory.invalidate()
    expect(await snapshot(memory)).toEqual(before)
    expect(await total(memory)).toBe(1_200)
    expect(await memory.search('jazz piano', { userId: 'cy', topK: 20 })).toEqual(searchBefore)
    expect((await memory.getAll({ userId: 'bo', filters: { metadata: { n: { gte: 1_000 } } }, limit: 100 })).results).toHaveLength(33)

    // Rows laid out by an earlier maintenance stay put: the next adds make one more run per scope.
    await addInterleaved(memory, 1_200, 1_200)
    await memory.optimize()
    expect(await runsPerUser(store.location)).toEqual(Object.fromEntries(users.map((u) => [u, 2])))
    expect(await total(memory)).toBe(2_400)
    expect((await memory.search('chess openings', { userId: 'di', mode: 'keyword', topK: 500 })).results).toHaveLength(400)
  })

  it('a purge, which rewrites every row, lays them all out by scope', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    // Fewer new rows than a maintenance lays out: they stay in arrival order.
    await addInterleaved(memory, 600, 0)
    await memory.optimize()
    expect(Object.values(await runsPerUser(store.location))).toEqual(users.map(() => 100))
    const victim = (await memory.getAll({ userId: 'ed', limit: 1 })).results[0]?.id as string
    await memory.delete(victim, { purge: true })
    expect(await runsPerUser(store.location)).toEqual(Object.fromEntries(users.map((u) => [u, 1])))
    expect(await total(memory)).toBe(599)
    expect((await memory.search('tomato seedlings', { userId: 'ed', mode: 'keyword', topK: 500 })).results).toHaveLength(99)
  })
})

/** Rows as the writer stores them, written round-robin over the users. */
function storedRows(count: number): StoredMemory[] {
  return Array.from({ length: count }, (_, n) => ({
    id: `m-${String(n).padStart(6, '0')}`,
    tenantId: 'default',
    userId: users[n % users.length] as string,
    agentId: n % 12 < 6 ? null : 'a1',
    runId: null,
    role: null,
    text: `note ${n}${'.'.repeat(n % 50)}`,
    dedupKey: `key-${n}`,
    metadata: n % 2 === 0 ? {} : { n },
    createdAt: n,
    updatedAt: n,
    validTo: n % 5 === 0 ? n + 1 : null,
    vector: Float32Array.of(1, n % 7, n / 1000, 1),
  }))
}

describe('scope layout in the vector store', () => {
  it('reorders every column of many rows, over several slices, without changing one', async () => {
    await using dir = await tempDir('layout')
    const store = await (await openLanceProvider(join(dir.path, 'vectors'))).open('memories', 4)
    const rows = storedRows(12_000)
    await store.apply({ inserts: rows, updates: [], deletes: [] })
    await store.maintain({ purge: false, annIndexThreshold: 1_000_000 })
    // Each (user, agent) pair is a scope; a user's scopes sort next to each other.
    expect(Object.values(await runsPerUser({ path: dir.path }))).toEqual(users.map(() => 1))
    const stored = []
    for await (const batch of store.scan(5_000)) stored.push(...batch)
    expect(stored).toEqual(rows)
    store.close()
  })

  it('a store that refreshed onto another process’s writes lays none of them out', async () => {
    await using dir = await tempDir('layout')
    const uri = join(dir.path, 'vectors')
    const [writer, follower] = await Promise.all([openLanceProvider(uri), openLanceProvider(uri)])
    const ours = await writer.open('memories', 4)
    const theirs = await follower.open('memories', 4)
    await ours.apply({ inserts: storedRows(1_200), updates: [], deletes: [] })
    // The other process's maintenance (its compaction's fragments, the rows it laid out or not)
    // is not this one's to redo: after a refresh, the first maintenance here only compacts.
    await theirs.refresh()
    await theirs.maintain({ purge: false, annIndexThreshold: 1_000_000 })
    expect(Object.values(await runsPerUser({ path: dir.path }))).toEqual(users.map(() => 200))
    // What it writes itself from then on is laid out: one more run per user.
    await theirs.apply({ inserts: storedRows(2_400).slice(1_200), updates: [], deletes: [] })
    await theirs.maintain({ purge: false, annIndexThreshold: 1_000_000 })
    expect(Object.values(await runsPerUser({ path: dir.path }))).toEqual(users.map(() => 201))
    ours.close()
    theirs.close()
  })
})
