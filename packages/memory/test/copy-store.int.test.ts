import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { type CephRgwService, type PostgresService, startCephRgw, startPostgres } from '@agentmem/test-services'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type CopyProgress, copyStore, Memory, type StoreLocation } from '../src/index.js'
import { openStores } from '../src/store/open-stores.js'
import { openSqliteMetadataStore } from '../src/store/sqlite-metadata-store.js'
import { createHashEmbedder } from '../src/testing/index.js'
import { tempDir } from './helpers/fixtures.js'

// `agentmem migrate`'s engine: a local store to PostgreSQL + LanceDB on Ceph RGW and back, with
// nothing lost; an interrupted copy resumes without duplicates; a served store is refused.

let postgres: PostgresService
let ceph: CephRgwService
let bucket: string
let dir: { path: string; [Symbol.asyncDispose](): Promise<void> }
let source: StoreLocation
const embedder = createHashEmbedder()

beforeAll(async () => {
  ;[postgres, ceph] = await Promise.all([startPostgres(), startCephRgw()])
  bucket = await ceph.createBucket('migrate')
  dir = await tempDir('migrate')
  source = { path: join(dir.path, 'source') }
  await fillSource(source)
}, 120_000)

afterAll(async () => {
  await Promise.all([postgres?.stop(), ceph?.stop()])
  await dir?.[Symbol.asyncDispose]()
})

async function shared(name: string): Promise<StoreLocation> {
  return {
    path: join(dir.path, name),
    metadataUrl: await postgres.createDatabase(name),
    vectorsUrl: `${bucket}/${name}`,
    storageOptions: ceph.storageOptions(),
  }
}

/** Memories of two tenants (superseded ones too), history with purged rows, inference jobs, and a journal entry a crash left unapplied. */
async function fillSource(location: StoreLocation) {
  const memory = await Memory.open({ ...location, embedder })
  const other = memory.withTenant('other')
  await memory.addBatch(Array.from({ length: 23 }, (_, i) => ({ messages: `fact number ${i}`, userId: `u${i % 3}`, metadata: { i, tag: 'x' } })))
  await other.add('another tenant', { agentId: 'bot' })
  await memory.import([{ memory: 'an old fact', userId: 'u0', validTo: '2025-01-02T03:04:05.678Z', createdAt: '2024-12-01T00:00:00.000Z' }])
  const { results } = await memory.getAll({ userId: 'u1', limit: 3 })
  await memory.update(results[0]?.id ?? '', { text: 'fact changed' })
  await memory.delete(results[1]?.id ?? '', { purge: true })
  await memory.delete(results[2]?.id ?? '')
  await memory.close()
  const metadata = await openSqliteMetadataStore(join(location.path, 'metadata.db'))
  for (const [i, status] of (['queued', 'done', 'failed'] as const).entries()) {
    const now = Date.now()
    await metadata.createJob({
      id: randomUUID(),
      tenantId: 'default',
      status,
      input: { messages: [{ role: 'user', content: `job ${i}` }] },
      attempts: i,
      nextAttemptAt: now + 60_000,
      rawMemoryIds: i === 0 ? ['x'] : null,
      result: status === 'done' ? { results: [] } : null,
      lastError: status === 'failed' ? { message: 'boom' } : null,
      createdAt: now,
      updatedAt: now,
    })
  }
  const vector = new Float32Array(embedder.dimensions).map((_, i) => Math.sin(i) / 7)
  const now = Date.now()
  const row = {
    tenantId: 'default',
    userId: 'u9',
    agentId: null,
    runId: null,
    role: null,
    text: 'from the journal',
    dedupKey: 'k',
    metadata: {},
    createdAt: now,
    updatedAt: now,
    validTo: null,
  }
  await metadata.beginChange({ inserts: [{ id: randomUUID(), ...row, vector }], updates: [], deletes: [] }, [], { memories: [], scopes: [] })
  await metadata.close()
}

/** Everything a store holds, read raw; vectors as bytes. */
async function snapshot(location: StoreLocation) {
  const stores = await openStores(location)
  try {
    const manifest = await stores.metadata.getManifest()
    if (!manifest) throw new Error('no manifest')
    const vectors = await stores.provider.open(manifest.vectorTable, manifest.dimensions)
    const memories = []
    for await (const batch of vectors.scan(1000)) for (const m of batch) memories.push({ ...m, vector: Buffer.from(m.vector.buffer).toString('base64') })
    vectors.close()
    const { updatedAt: _, ...rest } = manifest as typeof manifest & { updatedAt?: number }
    return { manifest: rest, memories, history: await stores.metadata.historyRows(0, 10_000), jobs: await stores.metadata.jobRows('', 10_000) }
  } finally {
    await stores.close()
  }
}

it('copies a local store to PostgreSQL + S3 and back with nothing lost', async () => {
  const middle = await shared('middle')
  const there = await copyStore(source, middle)
  const before = await snapshot(source)
  expect(before.memories).toHaveLength(24) // 23 + the other tenant's + imported + the journal's - purged - deleted
  expect(before.memories.some((m) => m.text === 'from the journal')).toBe(true)
  expect(before.memories.some((m) => m.validTo === Date.parse('2025-01-02T03:04:05.678Z'))).toBe(true)
  expect(before.history.some((h) => h.purged)).toBe(true)
  expect(there).toMatchObject({ resumed: false, source: { memories: 24, history: before.history.length, jobs: 3 } })
  expect(there.target).toEqual(there.source)
  expect(await snapshot(middle)).toEqual(before)

  const back = { path: join(dir.path, 'back') }
  await copyStore(middle, back)
  expect(await snapshot(back)).toEqual(before)
  // The copy is a working store, and new history continues after the copied ids: an event stored
  // under a lower id than the copied ones would come first.
  const memory = await Memory.open({ ...back, embedder })
  const [first] = (await memory.getAll({ userId: 'u0', limit: 1 })).results
  await memory.update(first?.id ?? '', { text: 'after the move' })
  const history = await memory.history(first?.id ?? '')
  expect(history.length).toBeGreaterThan(1)
  expect(history.at(-1)).toMatchObject({ id: history.length, event: 'UPDATE', newMemory: 'after the move' })
  await memory.close()
}, 180_000)

it('resumes an interrupted copy without duplicating anything', async () => {
  const target = await shared('resumed')
  const stopAt = async (table: CopyProgress['table'], rows: number) => {
    const abort = new AbortController()
    const run = copyStore(source, target, {
      batchSize: 5,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.table === table && p.done >= rows) abort.abort()
      },
    })
    await expect(run).rejects.toThrow()
  }
  await stopAt('memories', 10)
  await stopAt('history', 10)
  const result = await copyStore(source, target, { batchSize: 5 })
  expect(result.resumed).toBe(true)
  expect(result.target).toEqual(result.source)
  expect(await snapshot(target)).toEqual(await snapshot(source))
  // Again: nothing to do, nothing duplicated.
  expect((await copyStore(source, target)).target).toEqual(result.source)
}, 180_000)

it('refuses a store another process serves, and a target holding another store', async () => {
  const memory = await Memory.open({ ...source, embedder })
  await expect(copyStore(source, { path: join(dir.path, 'never') })).rejects.toMatchObject({ code: 'MEMORY_LOCKED' })
  await memory.close()
  const other = { path: join(dir.path, 'other') }
  const served = await Memory.open({ ...other, embedder })
  await served.add('a different store', { userId: 'u' })
  await served.close()
  await expect(copyStore(source, other)).rejects.toMatchObject({ code: 'MEMORY_INVALID_INPUT' })
  // On PostgreSQL, a served store is one whose replicas' leader lock is held.
  const replicated = await shared('served')
  const leader = await Memory.open({ ...replicated, embedder })
  await expect(copyStore(replicated, { path: join(dir.path, 'never') })).rejects.toMatchObject({ code: 'MEMORY_LOCKED' })
  await expect(copyStore(source, replicated)).rejects.toMatchObject({ code: 'MEMORY_LOCKED' })
  await leader.close()
}, 60_000)
