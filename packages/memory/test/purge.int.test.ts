import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Memory, MemoryErrorCode } from '../src/index.js'
import { defaultEmbedder, openTemp } from './helpers/fixtures.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(() => embedder.close())

/** Files under `folder` (recursively: WAL, Lance data, deletion files, versions, indexes) whose bytes contain `needle` in any case. */
function filesContaining(folder: string, needle: string): string[] {
  const forms = [needle, needle.toLowerCase(), needle.toUpperCase()].map((n) => Buffer.from(n))
  const hits: string[] = []
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = join(entry.parentPath, entry.name)
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch (error) {
      // LanceDB's background work may remove a temporary file between the listing and the read.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    if (forms.some((form) => bytes.includes(form))) hits.push(file.slice(folder.length + 1))
  }
  return hits
}

/** Folders of the full-text index (the only index over the text; its token files are compressed, so a byte search cannot see into them). */
function ftsIndexFolders(folder: string): string[] {
  return readdirSync(folder, { recursive: true })
    .map(String)
    .filter((path) => path.endsWith('_tokens.lance'))
    .map((path) => path.split('/').slice(0, -1).join('/'))
}

// The full text, a distinctive word, its stem (as the full-text index stores it) and a metadata value.
const secret = 'the vault phrase is Xylofrumpet Quandaberry'
const traces = [secret, 'Xylofrumpet', 'quandaberri', 'Zentraquil']

function tracesIn(folder: string): string[] {
  return traces.flatMap((trace) => filesContaining(folder, trace).map((file) => `${trace} in ${file}`))
}

async function addFiller(memory: Memory): Promise<void> {
  await memory.addBatch(Array.from({ length: 30 }, (_, i) => ({ messages: `ordinary note number ${i} about the weekly groceries`, userId: 'u1' })))
}

async function expectCode(promise: Promise<unknown>, code: string) {
  await expect(promise).rejects.toMatchObject({ name: 'MemoryError', code })
}

describe('issue 17: purge leaves the text in no file of the store', () => {
  it.each([
    ['in the full-text index', true],
    ['not indexed yet', false],
  ])('purges a memory deleted earlier (%s)', async (_, indexed) => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await addFiller(memory)
    const id = (await memory.add(secret, { userId: 'u1', metadata: { hint: 'Zentraquil' } })).results[0]?.id as string
    if (indexed) await memory.optimize()
    expect((await memory.search('Xylofrumpet', { userId: 'u1', mode: 'keyword' })).results.map((r) => r.id)).toEqual([id])
    await memory.delete(id, { actor: 'agent' })
    // A plain delete keeps the audit trail, so the text is still on disk: the search below can see it.
    expect(tracesIn(store.path)).not.toEqual([])

    await memory.delete(id, { purge: true, actor: 'dpo' })
    expect(tracesIn(store.path)).toEqual([])
    expect((await memory.history(id)).map((h) => [h.event, h.previousMemory, h.newMemory, h.metadata, h.actor, h.purged])).toEqual([
      ['ADD', null, null, null, null, true],
      ['DELETE', null, null, null, 'agent', true],
    ])
    expect(await memory.get(id)).toBeNull()
    // Purging again is harmless; an id this tenant never had is not found, in any tenant.
    await memory.delete(id, { purge: true })
    await expectCode(memory.withTenant('other').delete(id, { purge: true }), MemoryErrorCode.NotFound)
    await expectCode(memory.delete('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', { purge: true }), MemoryErrorCode.NotFound)
    // Everything else is intact and searchable.
    expect(await memory.count({ userId: 'u1' })).toBe(30)
    expect((await memory.search('groceries', { userId: 'u1', mode: 'keyword', topK: 50 })).results).toHaveLength(30)
  })

  it('rebuilds the full-text index, whose token files a byte search cannot read', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await addFiller(memory)
    const id = (await memory.add(secret, { userId: 'u1' })).results[0]?.id as string
    await memory.optimize()
    const before = ftsIndexFolders(store.path)
    expect(before).not.toEqual([])
    await memory.delete(id, { purge: true })
    const after = ftsIndexFolders(store.path)
    expect(after).not.toEqual([])
    expect(after.filter((folder) => before.includes(folder))).toEqual([])
    expect((await memory.search('groceries', { userId: 'u1', mode: 'keyword', topK: 50 })).results).toHaveLength(30)
  })

  it('purges a superseded memory and the text an update replaced', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await addFiller(memory)
    const [superseded] = (await memory.import([{ memory: secret, userId: 'u1', validTo: new Date().toISOString() }])).results
    const updated = (await memory.add('the vault phrase changed: Xylofrumpet Quandaberry, Zentraquil', { userId: 'u1' })).results[0]?.id as string
    await memory.update(updated, { text: 'the vault phrase is now secret' })
    await memory.optimize()
    expect(tracesIn(store.path)).not.toEqual([])

    await memory.delete(superseded?.id as string, { purge: true })
    await memory.delete(updated, { purge: true })
    expect(tracesIn(store.path)).toEqual([])
    expect(filesContaining(store.path, 'now secret')).toEqual([])
    expect((await memory.history(updated)).map((h) => [h.event, h.previousMemory, h.newMemory, h.purged])).toEqual([
      ['ADD', null, null, true],
      ['UPDATE', null, null, true],
      ['DELETE', null, null, true],
    ])
  })

  it('deleteAll with purge also erases memories of the scope deleted earlier, and nothing outside it', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await addFiller(memory)
    const [early, live, other] = (
      await memory.addBatch([
        { messages: secret, userId: 'u2', agentId: 'a' },
        { messages: 'u2 also said Zentraquil', userId: 'u2' },
        { messages: 'u3 keeps Brambleworth', userId: 'u3' },
      ])
    ).results.map((r) => r.id) as [string, string, string]
    await memory.delete(early)
    const otherTenant = memory.withTenant('t2')
    await otherTenant.add('tenant two Brambleworth', { userId: 'u2' })

    expect(await memory.deleteAll({ userId: 'u2', purge: true })).toEqual({ deleted: 1 })
    expect(tracesIn(store.path)).toEqual([])
    for (const id of [early, live]) expect((await memory.history(id)).every((h) => h.purged && h.previousMemory === null && h.newMemory === null)).toBe(true)
    // Outside the scope, nothing changed.
    expect((await memory.history(other))[0]).toMatchObject({ newMemory: 'u3 keeps Brambleworth', purged: false })
    expect((await otherTenant.getAll({ userId: 'u2' })).results.map((m) => m.memory)).toEqual(['tenant two Brambleworth'])
    expect(await memory.count({ userId: 'u1' })).toBe(30)
  })

  it('a burst of purges shares one rewrite of the store', async () => {
    let rewrites = 0
    // A maintenance logs at debug, or at info when it took 1 s or more.
    const record = (event: string, fields?: Record<string, unknown>) => void (event === 'memory.maintain' && fields?.['purge'] && rewrites++)
    const logger = { info: record, warn() {}, error() {}, debug: record }
    await using store = await openTemp(embedder, { logger })
    const { memory } = store
    await addFiller(memory)
    const ids = (await memory.getAll({ userId: 'u1', limit: 5 })).results.map((m) => m.id)
    await Promise.all(ids.map((id) => memory.delete(id, { purge: true })))
    expect(rewrites).toBe(1)
    expect(await memory.count({ userId: 'u1' })).toBe(25)
  })
})
