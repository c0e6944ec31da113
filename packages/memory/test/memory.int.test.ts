import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type AddBatchItem, Memory, MemoryError, MemoryErrorCode } from '../src/index.js'
import { createHashEmbedder } from '../src/testing/index.js'
import { dedupKey } from '../src/text.js'
import type { WriteOp } from '../src/writer.js'
import { type Backend, defaultEmbedder, localBackend, openTemp, sharedBackend, tempDir, tempStore, useBackend } from './helpers/fixtures.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(() => embedder.close())

async function expectCode(promise: Promise<unknown>, code: string) {
  await expect(promise).rejects.toMatchObject({ name: 'MemoryError', code })
}

// The contract suite: the same behaviour on the embedded default and on shared services.
describe.each<Backend>([localBackend, sharedBackend()])('Memory on $name, with the default model', (backend) => {
  beforeAll(() => useBackend(backend))
  afterAll(async () => {
    useBackend(localBackend)
    await backend.stop()
  })

  it('adds, finds, lists, updates, deletes and keeps history', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const added = await memory.add('I moved to Lisbon in May', { userId: 'u1', metadata: { topic: 'home' } })
    expect(added.results).toEqual([{ id: expect.any(String), memory: 'I moved to Lisbon in May', event: 'ADD' }])
    const id = added.results[0]?.id as string

    // Exact duplicates in the same scope are not stored twice; another scope is another memory.
    expect((await memory.add('  i moved to LISBON in may ', { userId: 'u1' })).results[0]).toMatchObject({ id, event: 'NONE' })
    expect((await memory.add('I moved to Lisbon in May', { userId: 'u2' })).results[0]?.event).toBe('ADD')

    const messages = await memory.add(
      [
        { role: 'system', content: 'You are helpful' },
        { role: 'user', content: 'My dog is called Pepper' },
        { role: 'assistant', content: 'Pepper is a lovely name for a dog' },
      ],
      { userId: 'u1', agentId: 'coach' },
    )
    expect(messages.results.map((r) => r.event)).toEqual(['ADD', 'ADD'])

    const item = await memory.get(id)
    expect(item).toMatchObject({ id, memory: 'I moved to Lisbon in May', userId: 'u1', agentId: null, runId: null, metadata: { topic: 'home' } })

    for (const mode of ['hybrid', 'vector', 'keyword'] as const) {
      const found = await memory.search('Pepper the dog', { userId: 'u1', mode, explain: true })
      expect(found.results[0]?.memory, mode).toMatch(/Pepper/)
      expect(found.results.every((r) => r.userId === 'u1')).toBe(true)
      expect(found.results[0]?.explain).toBeDefined()
    }
    const hybrid = await memory.search('dog named Pepper', { userId: 'u1', explain: true })
    expect(hybrid.results[0]?.explain?.keyword?.rank).toBe(1)
    expect(hybrid.results[0]?.explain?.vector.score).toBeGreaterThan(0)
    expect((await memory.search('dog', { userId: 'u1', topK: 1 })).results).toHaveLength(1)
    expect((await memory.search('dog', { userId: 'u1', threshold: 0.999 })).results.every((r) => (r.explain?.vector.score ?? 1) >= 0.999)).toBe(true)
    expect((await memory.search('dog', { userId: 'u1', agentId: 'coach' })).results.every((r) => r.agentId === 'coach')).toBe(true)

    const updated = await memory.update(id, { text: 'I moved to Porto in June', metadata: { topic: 'home', year: 2024 } })
    expect(updated).toMatchObject({ id, memory: 'I moved to Porto in June', metadata: { topic: 'home', year: 2024 } })
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(updated.createdAt))
    expect((await memory.search('Porto', { userId: 'u1', mode: 'keyword' })).results[0]?.id).toBe(id)
    // An update that changes nothing (same text, equal metadata, or none given) records nothing.
    for (const same of [
      { text: 'I moved to Porto in June' },
      { metadata: { year: 2024, topic: 'home' } },
      { text: 'I moved to Porto in June', metadata: { topic: 'home', year: 2024 } },
    ]) {
      expect(await memory.update(id, same)).toEqual(updated)
    }
    expect(await memory.history(id)).toHaveLength(2)

    await memory.delete(id, { actor: 'agent-7' })
    expect(await memory.get(id)).toBeNull()
    const history = await memory.history(id)
    expect(history.map((h) => [h.event, h.previousMemory, h.newMemory, h.metadata, h.actor])).toEqual([
      ['ADD', null, 'I moved to Lisbon in May', { topic: 'home' }, null],
      ['UPDATE', 'I moved to Lisbon in May', 'I moved to Porto in June', { topic: 'home', year: 2024 }, null],
      ['DELETE', 'I moved to Porto in June', null, null, 'agent-7'],
    ])
    // The ADD is dated as the memory is (it was its group's commit time, a few ms later), and the UPDATE as its updatedAt.
    expect([history[0]?.createdAt, history[1]?.createdAt]).toEqual([updated.createdAt, updated.updatedAt])
    await expectCode(memory.delete(id), MemoryErrorCode.NotFound)
    await expectCode(memory.update(id, { metadata: {} }), MemoryErrorCode.NotFound)
  })

  it('ranks keyword matches by score, also among rows written since the last index refresh', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    // One write group: no maintenance runs, so every row is outside the full-text index.
    const filler = Array.from({ length: 40 }, (_, i) => ({ messages: `note ${i} about the garden`, userId: 'u1' }))
    await memory.addBatch([...filler, { messages: 'Garden garden garden: the garden plan', userId: 'u1' }])
    const ranked = async () => (await memory.search('garden plan', { userId: 'u1', mode: 'keyword', topK: 3 })).results
    const before = await ranked()
    expect(before[0]?.memory).toBe('Garden garden garden: the garden plan')
    expect(before.map((r) => r.score)).toEqual([...before.map((r) => r.score)].sort((a, b) => b - a))
    // Once indexed, the same ranking (the fillers tie, so compare scores, not which filler).
    await memory.optimize()
    const after = await ranked()
    expect(after[0]?.id).toBe(before[0]?.id)
    for (const [i, r] of after.entries()) expect(r.score).toBeCloseTo(before[i]?.score as number, 4)
    const hybrid = await memory.search('garden plan', { userId: 'u1', topK: 1 })
    expect(hybrid.results[0]?.memory).toBe('Garden garden garden: the garden plan')
  })

  it('pages through every memory of a scope with a stable cursor, with no cap', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const texts = Array.from({ length: 1234 }, (_, i) => `fact number ${i} about the user`)
    await memory.addBatch(texts.map((messages) => ({ messages, userId: 'u1' })))
    await memory.add('someone else', { userId: 'u2' })
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await memory.getAll({ userId: 'u1', limit: 100, ...(cursor && { cursor }) })
      seen.push(...page.results.map((r) => r.memory))
      cursor = page.nextCursor ?? undefined
      pages++
      // A write between pages neither repeats nor skips what was already there.
      if (pages === 3) await memory.add('added while paging', { userId: 'u1' })
    } while (cursor)
    expect(pages).toBe(13)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen.slice(0, 1234)).toEqual(texts)
    expect(seen.at(-1)).toBe('added while paging')
    const filtered = await memory.getAll({ userId: 'u1', filters: { created_at: { gte: 0 } }, limit: 5 })
    await expectCode(memory.getAll({ userId: 'u2', cursor: filtered.nextCursor as string }), MemoryErrorCode.InvalidCursor)
    await expectCode(memory.getAll({ userId: 'u1', cursor: 'not-a-cursor' }), MemoryErrorCode.InvalidCursor)
  })

  it('addBatch stores items in one commit and reports each with its index', async () => {
    await using store = await openTemp(embedder)
    const { results } = await store.memory.addBatch([
      { messages: 'likes green tea', userId: 'u1', metadata: { source: 'chat' } },
      { messages: [{ role: 'user', content: 'allergic to peanuts' }], userId: 'u1', runId: 'r1' },
      { messages: 'likes green tea', userId: 'u1' },
    ])
    expect(results.map((r) => [r.index, r.event])).toEqual([
      [0, 'ADD'],
      [1, 'ADD'],
      [2, 'NONE'],
    ])
    expect(results[2]?.id).toBe(results[0]?.id)
  })

  it('a batch error names the item that failed, by index', async () => {
    await using store = await openTemp(embedder, { maxTextLength: 50 })
    const cases: Array<[AddBatchItem, RegExp]> = [
      [{ messages: 'fine', metadata: { user_id: 'u2' }, userId: 'u1' }, /user_id/],
      [{ messages: 'x'.repeat(51), userId: 'u1' }, /51 UTF-16 code units long/],
      [{ messages: 'no scope' }, /user_id|userId/],
    ]
    for (const [bad, reason] of cases) {
      const error = await store.memory.addBatch([{ messages: 'fine', userId: 'u1' }, bad]).catch((e: unknown) => e)
      expect(error, JSON.stringify(bad)).toBeInstanceOf(MemoryError)
      expect((error as MemoryError).details?.['index'], JSON.stringify(bad)).toBe(1)
      expect((error as MemoryError).message).toMatch(/^items\[1\]: /)
      expect((error as MemoryError).message).toMatch(reason)
    }
    expect((await store.memory.getAll({ userId: 'u1' })).results).toEqual([])
  })

  it('refuses bad input with typed errors and writes nothing', async () => {
    await using store = await openTemp(embedder, { maxTextLength: 50 })
    const { memory } = store
    await expectCode(memory.add('no scope', {}), MemoryErrorCode.ScopeRequired)
    await expectCode(memory.add('   ', { userId: 'u1' }), MemoryErrorCode.InvalidInput)
    await expectCode(memory.add(42 as unknown as string, { userId: 'u1' }), MemoryErrorCode.InvalidInput)
    await expectCode(memory.add([{ role: 'user', content: 5 }] as never, { userId: 'u1' }), MemoryErrorCode.InvalidInput)
    await expectCode(memory.add('x'.repeat(51), { userId: 'u1' }), MemoryErrorCode.InvalidInput)
    await expectCode(memory.add('hi', { userId: 'u1', metadata: { user_id: 'u2' } }), MemoryErrorCode.InvalidInput)
    // Nested past 64 levels (SQLite's JSON refused 1,000 as a storage failure, a 500 over HTTP); 64 is kept.
    const nested = (levels: number) => JSON.parse(`${'{"a":'.repeat(levels - 1)}{"leaf":1}${'}'.repeat(levels - 1)}`) as Record<string, unknown>
    for (const levels of [65, 1000]) await expectCode(memory.add('deep', { userId: 'u1', metadata: nested(levels) }), MemoryErrorCode.InvalidInput)
    await expectCode(memory.add('hi', { userId: 'u1', colour: 'red' } as never), MemoryErrorCode.InvalidOptions)
    await expectCode(memory.add('hi', { userId: 'u1', infer: true }), MemoryErrorCode.InferenceNotConfigured)
    // One bad item fails the whole batch before anything is written.
    await expectCode(
      memory.addBatch([
        { messages: 'fine', userId: 'u1' },
        { messages: '', userId: 'u1' },
      ]),
      MemoryErrorCode.InvalidInput,
    )
    // So does an item of system messages alone (it vanished from the results while the rest were stored).
    const systemOnly = await memory
      .addBatch([
        { messages: [{ role: 'user', content: 'fine' }], userId: 'u1' },
        { messages: [{ role: 'system', content: 'be brief' }], userId: 'u1' },
      ])
      .catch((e: unknown) => e)
    expect(systemOnly).toMatchObject({
      code: MemoryErrorCode.InvalidInput,
      message: 'items[1]: nothing to add: every message was empty or a system message',
      details: { index: 1 },
    })
    // A message too long is named by its place in the list (and its item's in a batch).
    const tooLong = await memory
      .addBatch([
        {
          messages: [
            { role: 'user', content: 'fine' },
            { role: 'assistant', content: 'y'.repeat(51) },
          ],
          userId: 'u1',
        },
      ])
      .catch((e: unknown) => e)
    expect(tooLong).toMatchObject({
      code: MemoryErrorCode.InvalidInput,
      message: expect.stringMatching(/^items\[0\]: messages\[1\]: memory text is 51 /),
      details: { index: 0, message_index: 1 },
    })
    await expectCode(memory.get('not-a-uuid'), MemoryErrorCode.InvalidInput)
    await expectCode(memory.search('q', { userId: 'u1', topK: 1001 }), MemoryErrorCode.InvalidOptions)
    await expectCode(memory.search('q', { userId: 'u1', filters: { metadata: { a: { like: 'x' } } } }), MemoryErrorCode.InvalidFilter)
    await expectCode(memory.search('', { userId: 'u1' }), MemoryErrorCode.InvalidInput)
    await expectCode(memory.search('q', {}), MemoryErrorCode.ScopeRequired)
    await expectCode(memory.getAll({}), MemoryErrorCode.ScopeRequired)
    await expectCode(memory.deleteAll({}), MemoryErrorCode.ScopeRequired)
    expect((await memory.getAll({ userId: 'u1' })).results).toEqual([])
    expect((await memory.add('deep enough', { userId: 'u1', metadata: nested(64) })).results[0]?.event).toBe('ADD')
    // A lone surrogate is replaced before the write, so the answer is what was stored.
    // An empty message in a conversation (an assistant turn that only called a tool) says nothing: skipped, as a system message is.
    const turns = await memory.add(
      [
        { role: 'user', content: 'Book the usual table' },
        { role: 'assistant', content: '' },
        { role: 'tool', content: ' \n ' },
        { role: 'assistant', content: 'Booked for 8pm' },
      ],
      { userId: 'u1' },
    )
    expect(turns.results.map((r) => r.memory)).toEqual(['Book the usual table', 'Booked for 8pm'])
    const added = await memory.add('broken \ud800 pair', { userId: 'u1' })
    expect(added.results[0]?.memory).toBe('broken \ufffd pair')
    expect((await memory.get(added.results[0]?.id as string))?.memory).toBe('broken \ufffd pair')
  })

  it('finds a memory by its id in either case (UUIDs are case-insensitive)', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const id = (await memory.add('an id in capitals', { userId: 'u1' })).results[0]?.id as string
    const upper = id.toUpperCase()
    expect((await memory.get(upper))?.id).toBe(id)
    expect((await memory.update(upper, { text: 'an id in CAPITALS' })).id).toBe(id)
    expect((await memory.history(upper)).map((h) => h.event)).toEqual(['ADD', 'UPDATE'])
    await memory.delete(upper)
    expect(await memory.get(id)).toBeNull()
    expect((await memory.history(upper)).map((h) => h.event)).toEqual(['ADD', 'UPDATE', 'DELETE'])

    // An id a store kept in uppercase (imports did, before ids were lowercased) is still found as it was stored.
    const legacy = '01A234FF-0000-7000-8000-0000000000AB'
    const [vector] = await embedder.embed(['kept in capitals'])
    const writer = (memory as unknown as { engine: { writer: { submit(ops: WriteOp[]): Promise<unknown[]> } } }).engine.writer
    const scope = { tenantId: memory.tenantId, userId: 'u1' }
    await writer.submit([
      {
        kind: 'add',
        keepId: 'byId',
        actor: null,
        memory: {
          ...scope,
          id: legacy,
          agentId: null,
          runId: null,
          role: null,
          text: 'kept in capitals',
          dedupKey: dedupKey(scope, 'kept in capitals'),
          metadata: {},
          createdAt: 1,
          updatedAt: 1,
          validTo: null,
          vector: vector as Float32Array,
        },
      },
    ])
    expect((await memory.get(legacy))?.id).toBe(legacy)
    expect((await memory.update(legacy, { text: 'kept in CAPITALS' })).id).toBe(legacy)
    await memory.delete(legacy, { purge: true })
    expect(await memory.get(legacy)).toBeNull()
    expect((await memory.history(legacy)).map((h) => [h.event, h.newMemory])).toEqual([
      ['ADD', null],
      ['UPDATE', null],
      ['DELETE', null],
    ])
  })

  it("reads a memory's metadata in one key order from every path: the writer's rows, the resident index, the store and history", async () => {
    await using dir = await tempStore('key-order')
    const first = await Memory.open({ ...dir.location, embedder })
    // Out of order at every level, with keys whose UTF-16 and code point orders differ (U+FF21 and an emoji).
    // "b" before "ab" too, as PostgreSQL's jsonb orders them (shortest first).
    const metadata = { zz: 1, a: { y: 1, x: [{ q: 1, p: 2 }] }, '\u{1F600}': 2, '\uff21': 3, B: 4, b: 6, ab: 7 }
    const stored = '{"B":4,"a":{"x":[{"p":2,"q":1}],"y":1},"ab":7,"b":6,"zz":1,"\uff21":3,"\u{1F600}":2}'
    const id = (await first.add('key order', { userId: 'u1', metadata })).results[0]?.id as string
    const orders = async (memory: Memory) => [
      JSON.stringify((await memory.get(id))?.metadata),
      JSON.stringify((await memory.getAll({ userId: 'u1' })).results[0]?.metadata),
      JSON.stringify((await memory.search('key order', { userId: 'u1' })).results[0]?.metadata),
      JSON.stringify((await memory.history(id)).at(-1)?.metadata),
    ]
    expect(await orders(first)).toEqual([stored, stored, stored, stored])
    // A merge of new keys (the same text said again) keeps the order too.
    await first.add('key order', { userId: 'u1', metadata: { c: 5 } })
    const merged = stored.replace('"zz":1', '"c":5,"zz":1')
    expect(await orders(first)).toEqual([merged, merged, merged, merged])
    await first.close()
    const reopened = await Memory.open({ ...dir.location, embedder })
    expect(await orders(reopened)).toEqual([merged, merged, merged, merged])
    await reopened.close()
  })

  it('stores NUL in texts and metadata values as U+FFFD, as lone surrogates (PostgreSQL refused them: a 500; SQLite history cut the text there)', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const id = (await memory.add('a NUL \u0000 in it', { userId: 'u1', metadata: { v: 'x\u0000y', nested: ['\u0000'] } })).results[0]?.id as string
    expect(await memory.get(id)).toMatchObject({ memory: 'a NUL \ufffd in it', metadata: { v: 'x\ufffdy', nested: ['\ufffd'] } })
    await memory.update(id, { text: 'edited \u0000 again' })
    expect((await memory.history(id)).map((h) => [h.previousMemory, h.newMemory])).toEqual([
      [null, 'a NUL \ufffd in it'],
      ['a NUL \ufffd in it', 'edited \ufffd again'],
    ])
    expect((await memory.search('edited again', { userId: 'u1' })).results[0]?.id).toBe(id)
    await expectCode(memory.add('x', { userId: 'u1', metadata: { a: { 'k\u0000': 1 } } }), 'MEMORY_INVALID_INPUT')
  })

  it('stores metadata as given or refuses it: lone surrogates in values replaced as in texts, bad keys named', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    // A lone surrogate and the literal text of its escape are two values, stored as two (the first was stored as the second).
    const metadata = { lone: '\udc00x', literal: '\\udc00x', nested: { list: ['ok \ud83d\ude00', '\ud800'] }, n: 1 }
    const id = (await memory.add('surrogates in metadata', { userId: 'u1', metadata })).results[0]?.id as string
    const expected = { lone: '\ufffdx', literal: '\\udc00x', nested: { list: ['ok \ud83d\ude00', '\ufffd'] }, n: 1 }
    expect((await memory.get(id))?.metadata).toEqual(expected)
    expect((await memory.getAll({ userId: 'u1', filters: { metadata: { lone: '\ufffdx' } } })).results.map((r) => r.id)).toEqual([id])
    expect((await memory.search('surrogates', { userId: 'u1' })).results[0]?.metadata).toEqual(expected)
    // A "__proto__" key (JSON.parse makes it a plain key) stays one, nested or not (the options schema dropped a top-level one).
    const proto = (await memory.add('a proto key', { userId: 'u1', metadata: JSON.parse('{"__proto__": "kept", "outer": {"__proto__": {"x": 1}}}') }))
      .results[0]?.id as string
    expect(JSON.stringify((await memory.get(proto))?.metadata)).toBe('{"__proto__":"kept","outer":{"__proto__":{"x":1}}}')
    expect((await memory.getAll({ userId: 'u1', filters: { 'metadata.__proto__': 'kept' } })).results.map((r) => r.id)).toEqual([proto])
    // Metadata and filters are plain objects (a Date was stored as its JSON string, a Map as {}).
    for (const odd of [new Date(0), new Map([['k', 'v']])]) {
      await expectCode(memory.add('odd metadata', { userId: 'u1', metadata: odd as unknown as Record<string, unknown> }), 'MEMORY_INVALID_OPTIONS')
      await expectCode(memory.getAll({ userId: 'u1', filters: odd as unknown as Record<string, unknown> }), 'MEMORY_INVALID_OPTIONS')
    }
    // Names Object.prototype holds are no columns (they read its members: a 500 from the store, or a silent mismatch).
    for (const field of ['__proto__', 'constructor', 'toString']) {
      for (const filters of [JSON.parse(`{"${field}": {"eq": 1}}`), JSON.parse(`{"${field}": "x"}`)]) {
        await expect(memory.getAll({ userId: 'u1', filters })).rejects.toMatchObject({ code: 'MEMORY_INVALID_FILTER' })
        await expect(memory.search('proto', { userId: 'u1', filters })).rejects.toMatchObject({ code: 'MEMORY_INVALID_FILTER' })
      }
    }
    for (const [bad, message] of [
      [{ 'k\ud800': 1 }, /metadata key "k\ufffd" holds a lone surrogate/],
      [{ a: { 'k\udc00': 1 } }, /metadata key "a\.k\ufffd" holds a lone surrogate/],
      [{ 'k\u0000ey': 'v' }, /metadata key "k\\u0000ey" holds NUL/],
      [{ '': 1 }, /metadata keys must be 1-256 characters; "" has 0/],
      [{ ['x'.repeat(10_000)]: 1 }, /metadata keys must be 1-256 characters; "x{40}\.\.\." has 10000$/],
    ] as const) {
      const error = await memory.add('bad metadata key', { userId: 'u1', metadata: bad }).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: MemoryErrorCode.InvalidInput })
      expect((error as Error).message).toMatch(message)
      await expectCode(memory.update(id, { metadata: bad }), MemoryErrorCode.InvalidInput)
    }
    expect((await memory.get(id))?.metadata).toEqual(expected)
  })

  it('issue 17: re-adding a text merges its new metadata (UPDATE); nothing new is NONE', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const id = (await memory.add('I like green tea', { userId: 'u1', metadata: { source: 'chat', mood: 'calm' } })).results[0]?.id as string
    const merged = await memory.add('i like green TEA', { userId: 'u1', metadata: { mood: 'happy', topic: 'drinks' } })
    expect(merged.results).toEqual([{ id, memory: 'I like green tea', event: 'UPDATE' }])
    expect((await memory.get(id))?.metadata).toEqual({ source: 'chat', mood: 'happy', topic: 'drinks' })
    // Nothing new: no metadata, or the same values in another key order.
    expect((await memory.add('I like green tea', { userId: 'u1' })).results[0]?.event).toBe('NONE')
    expect((await memory.add('I like green tea', { userId: 'u1', metadata: { topic: 'drinks', mood: 'happy' } })).results[0]?.event).toBe('NONE')
    expect((await memory.history(id)).map((h) => [h.event, h.previousMemory, h.newMemory, h.metadata])).toEqual([
      ['ADD', null, 'I like green tea', { source: 'chat', mood: 'calm' }],
      ['UPDATE', 'I like green tea', 'I like green tea', { source: 'chat', mood: 'happy', topic: 'drinks' }],
    ])
    // Within one batch too: the second item's metadata lands on the first's new memory.
    const batch = await memory.addBatch([
      { messages: 'I play chess', userId: 'u1', metadata: { a: 1 } },
      { messages: 'I play chess', userId: 'u1', metadata: { b: 2 } },
    ])
    expect(batch.results.map((r) => r.event)).toEqual(['ADD', 'UPDATE'])
    expect((await memory.get(batch.results[0]?.id as string))?.metadata).toEqual({ a: 1, b: 2 })
    expect(await memory.count({ userId: 'u1' })).toBe(2)
  })

  it('never lets metadata change identity fields', async () => {
    await using store = await openTemp(embedder)
    const { results } = await store.memory.add('a fact', { userId: 'u1', metadata: { role: 'admin', owner: 'u2' } })
    const id = results[0]?.id as string
    await expectCode(store.memory.update(id, { metadata: { userId: 'u2' } }), MemoryErrorCode.InvalidInput)
    await store.memory.update(id, { metadata: { owner: 'u3' } })
    expect(await store.memory.get(id)).toMatchObject({ userId: 'u1', metadata: { owner: 'u3' } })
    expect((await store.memory.getAll({ userId: 'u2' })).results).toEqual([])
  })

  it('purge erases the text from history; a plain delete keeps the audit trail', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const [kept, purged] = (
      await memory.addBatch([
        { messages: 'my passport number is X123', userId: 'u1' },
        { messages: 'my bank PIN is 0000', userId: 'u1' },
      ])
    ).results.map((r) => r.id) as [string, string]
    await memory.delete(kept)
    await memory.delete(purged, { purge: true, actor: 'dpo' })
    expect((await memory.history(kept)).map((h) => h.previousMemory ?? h.newMemory)).toEqual(['my passport number is X123', 'my passport number is X123'])
    const erased = await memory.history(purged)
    expect(erased.map((h) => [h.event, h.previousMemory, h.newMemory, h.purged])).toEqual([
      ['ADD', null, null, true],
      ['DELETE', null, null, true],
    ])
    expect(erased[1]?.actor).toBe('dpo')
    expect((await memory.search('PIN', { userId: 'u1', mode: 'keyword' })).results).toEqual([])
  })

  it('deleteAll and reset are confined to their scope and tenant', async () => {
    await using store = await openTemp(embedder)
    const acme = store.memory.withTenant('acme')
    await store.memory.addBatch([
      { messages: 'a1', userId: 'u1' },
      { messages: 'a2', userId: 'u1', agentId: 'x' },
      { messages: 'b1', userId: 'u2' },
    ])
    await acme.add('acme fact', { userId: 'u1' })
    expect(await store.memory.deleteAll({ userId: 'u1' })).toEqual({ deleted: 2 })
    expect((await store.memory.getAll({ userId: 'u2' })).results).toHaveLength(1)
    expect((await acme.getAll({ userId: 'u1' })).results).toHaveLength(1)
    expect(await acme.reset()).toEqual({ deleted: 1 })
    expect((await acme.getAll({ userId: 'u1' })).results).toHaveLength(0)
    expect(await acme.reset()).toEqual({ deleted: 0 })
    expect((await store.memory.getAll({ userId: 'u2' })).results).toHaveLength(1)
  })

  it('refuses to open with another model and re-embeds without losing a memory', async () => {
    await using dir = await tempStore('reembed')
    const first = await Memory.open({ ...dir.location, embedder })
    const texts = Array.from({ length: 700 }, (_, i) => `memory ${i}: the user likes item ${i}`)
    await first.addBatch(texts.map((messages) => ({ messages, userId: 'u1' })))
    const id = (await first.getAll({ userId: 'u1', limit: 1 })).results[0]?.id as string
    await first.update(id, { metadata: { edited: true } })
    await first.close()

    const other = createHashEmbedder({ dimensions: 32 })
    await expect(Memory.open({ ...dir.location, embedder: other })).rejects.toMatchObject({
      code: MemoryErrorCode.EmbedderMismatch,
      message: expect.stringMatching(new RegExp(`${embedder.modelId}.*${other.modelId}`)),
    })

    const reopened = await Memory.open({ ...dir.location, embedder })
    const progress: number[] = []
    await reopened.reembed(other, { onProgress: (p) => progress.push(p.done), batchSize: 200 })
    expect(progress).toEqual([0, 200, 400, 600, 700])
    expect(reopened.embedder.modelId).toBe(other.modelId)
    expect((await reopened.search(texts[42] as string, { userId: 'u1', mode: 'vector', topK: 1 })).results[0]?.memory).toBe(texts[42])
    expect(await reopened.get(id)).toMatchObject({ metadata: { edited: true } })
    await reopened.close()
    // The manifest now names the new model.
    await expect(Memory.open({ ...dir.location, embedder })).rejects.toMatchObject({ code: MemoryErrorCode.EmbedderMismatch })
    const after = await Memory.open({ ...dir.location, embedder: other })
    let count = 0
    for (let cursor: string | null | undefined; ; ) {
      const page = await after.getAll({ userId: 'u1', limit: 1000, ...(cursor && { cursor }) })
      count += page.results.length
      cursor = page.nextCursor
      if (!cursor) break
    }
    expect(count).toBe(700)
    expect((await after.history(id)).map((h) => h.event)).toEqual(['ADD', 'UPDATE'])
    await after.close()
  })

  it("refuses an embedder's broken vectors with a typed error and stores nothing", async () => {
    await using dir = await tempStore('broken-embedder')
    const honest = createHashEmbedder({ dimensions: 16 })
    // Breaks the contract for texts that ask it to: a NaN, a short vector, one vector too many.
    const broken: Embedder = {
      ...honest,
      async embed(texts, options) {
        const vectors = await honest.embed(texts, options)
        return texts.flatMap((text, i) => {
          const vector = vectors[i] as Float32Array
          if (text.includes('nan')) vector[3] = Number.NaN
          if (text.includes('infinite')) vector[0] = Number.POSITIVE_INFINITY
          if (text.includes('short')) return [vector.subarray(0, 8)]
          if (text.includes('plain')) return [Array.from(vector) as unknown as Float32Array]
          if (text.includes('realm')) return [runInNewContext('new Float32Array(16)').fill(0.25)]
          return text.includes('twice') ? [vector, vector] : [vector]
        })
      },
    }
    const memory = await Memory.open({ ...dir.location, embedder: broken })
    const kept = await memory.add('a fine memory', { userId: 'u1' })
    const id = kept.results[0]?.id as string
    const failed = { code: 'EMBEDDINGS_INFERENCE_FAILED', message: expect.stringContaining(honest.modelId) }
    await expect(memory.add('a nan memory', { userId: 'u1' })).rejects.toMatchObject(failed)
    await expect(memory.add('an infinite memory', { userId: 'u1' })).rejects.toMatchObject(failed)
    await expect(memory.add('said twice', { userId: 'u1' })).rejects.toMatchObject(failed)
    await expect(memory.add('a plain array', { userId: 'u1' })).rejects.toMatchObject({ ...failed, message: expect.stringContaining('returned Array where') })
    // A Float32Array from another realm is a Float32Array.
    await memory.add('from another realm', { userId: 'u2' })
    await expect(memory.add('a short memory', { userId: 'u1' })).rejects.toMatchObject({
      code: 'EMBEDDINGS_DIMENSION_MISMATCH',
      details: { index: 0, expected: 16, actual: 8 },
    })
    // One bad text fails the whole batch: nothing of it lands.
    await expect(
      memory.addBatch([
        { messages: 'fine one', userId: 'u1' },
        { messages: 'nan two', userId: 'u1' },
      ]),
    ).rejects.toMatchObject(failed)
    await expect(memory.update(id, { text: 'now nan' })).rejects.toMatchObject(failed)
    await expect(memory.search('nan query', { userId: 'u1' })).rejects.toMatchObject(failed)
    expect((await memory.getAll({ userId: 'u1' })).results.map((m) => m.memory)).toEqual(['a fine memory'])
    expect((await memory.search('fine memory', { userId: 'u1' })).results[0]?.memory).toBe('a fine memory')
    await memory.close()
  })

  it('rejects calls after close', async () => {
    await using dir = await tempStore('closed')
    const memory = await Memory.open({ ...dir.location, embedder })
    await memory.close()
    await expectCode(memory.add('late', { userId: 'u1' }), MemoryErrorCode.Closed)
  })

  it('refuses an import line updated or superseded before it was created, and imports nothing of its batch', async () => {
    await using dir = await tempStore('import-times')
    const memory = await Memory.open({ ...dir.location, embedder })
    const good = { memory: 'in order', userId: 'u1', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' }
    for (const bad of [
      { memory: 'updated first', userId: 'u1', createdAt: '2099-01-01T00:00:00Z', updatedAt: '1999-01-01T00:00:00Z' },
      { memory: 'superseded first', userId: 'u1', createdAt: '2026-01-02T00:00:00Z', validTo: '2026-01-01T00:00:00+02:00' },
      // Given an updatedAt alone, it is the creation time too.
      { memory: 'superseded before its only time', userId: 'u1', updatedAt: '2026-01-02T00:00:00Z', validTo: '2026-01-01T00:00:00Z' },
    ]) {
      await expect(memory.import([good, bad])).rejects.toMatchObject({
        code: MemoryErrorCode.InvalidInput,
        message: expect.stringContaining('before the creation time'),
      })
    }
    expect(await memory.count({ userId: 'u1' })).toBe(0)
    // What the engine checks itself (text, metadata) names the item, as a batch add does.
    await expect(memory.import([good, { memory: ' ', userId: 'u1' }])).rejects.toMatchObject({
      code: MemoryErrorCode.InvalidInput,
      message: 'items[1]: memory text is empty',
      details: { index: 1 },
    })
    expect((await memory.import([good, { ...good, memory: 'same instant', updatedAt: '2026-01-01T00:00:00Z' }])).results).toHaveLength(2)
    await memory.close()
  })

  it('finds the other holder of a text once one of two memories an update made alike is deleted, resident or not', async () => {
    for (const resident of [true, false]) {
      await using dir = await tempStore(`alike-${resident}`)
      const memory = await Memory.open({ ...dir.location, embedder, ...(!resident && { resident: { budgetBytes: 0 } }) })
      const [a] = (await memory.add('fact gamma', { userId: 'u1' })).results
      const [b] = (await memory.add('fact delta', { userId: 'u1' })).results
      if (resident) await memory.warm({ userId: 'u1' })
      await memory.update(b?.id as string, { text: 'fact gamma' })
      await memory.delete(b?.id as string)
      const [again] = (await memory.add('fact gamma', { userId: 'u1' })).results
      expect([again?.event, again?.id], `resident: ${resident}`).toEqual(['NONE', a?.id])
      expect((await memory.getAll({ userId: 'u1' })).results.map((m) => m.id)).toEqual([a?.id])
      await memory.close()
    }
  })

  it('lets calls made before close() finish, then refuses new ones and the next export batch', async () => {
    await using dir = await tempStore('closing')
    const memory = await Memory.open({ ...dir.location, embedder })
    const [warm] = (await memory.add('warm up', { userId: 'u1' })).results
    const exported = memory.exportAll({ batchSize: 1 })[Symbol.asyncIterator]()
    expect((await exported.next()).value).toHaveLength(1)
    // None awaited before close(): the adds are still being embedded when it begins.
    const calls = [
      ...Array.from({ length: 8 }, (_, i) => memory.add(`fact number ${i} about cats`, { userId: 'u1' })),
      ...Array.from({ length: 4 }, (_, i) => memory.search(`cats ${i}`, { userId: 'u1' })),
      memory.getAll({ userId: 'u1' }),
      memory.count({ userId: 'u1' }),
      // These return a promise of their last read: counted until it settles, not until it is made.
      memory.get(warm?.id as string),
      memory.history(warm?.id as string),
      memory.size(),
      memory.withTenant('other').add('another tenant', { userId: 'u2' }),
    ]
    const closing = memory.close()
    await expectCode(memory.get('00000000-0000-7000-8000-000000000000'), MemoryErrorCode.Closed)
    const outcomes = await Promise.allSettled(calls)
    await closing
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason)).toEqual([])
    await expectCode(exported.next(), MemoryErrorCode.Closed)
    // Every add acknowledged before the close is in the store.
    const reopened = await Memory.open({ ...dir.location, embedder })
    expect(await reopened.count({ userId: 'u1' })).toBe(9)
    expect(await reopened.withTenant('other').count({ userId: 'u2' })).toBe(1)
    await reopened.close()
  })

  it('counts, lists entities, exports a tenant and imports it back keeping ids, idempotently', async () => {
    await using source = await openTemp(embedder)
    const a = source.memory.withTenant('a')
    await a.addBatch([
      { messages: 'I moved to Lisbon in May', userId: 'u1', metadata: { topic: 'home' } },
      { messages: 'My sister is called Ana', userId: 'u1', agentId: 'bot' },
      { messages: 'I play chess', agentId: 'bot', runId: 'r1' },
    ])
    await source.memory.withTenant('b').add('tenant b fact', { userId: 'u1' })
    expect(await a.count({ userId: 'u1' })).toBe(2)
    expect(await a.count({ agentId: 'bot', filters: { run_id: 'r1' } })).toBe(1)
    expect(await source.memory.size()).toBe(4)
    // Users, agents, runs, each by id: in that order, not the table's.
    expect(await a.entities()).toEqual([
      { type: 'user', id: 'u1', count: 2 },
      { type: 'agent', id: 'bot', count: 2 },
      { type: 'run', id: 'r1', count: 1 },
    ])
    const exported = []
    for await (const batch of a.exportAll({ batchSize: 2 })) exported.push(...batch)
    expect(exported.map((m) => m.memory)).toEqual(['I moved to Lisbon in May', 'My sister is called Ana', 'I play chess'])
    const resumed = []
    for await (const batch of a.exportAll({ after: exported[0]?.id as string })) resumed.push(...batch)
    expect(resumed.map((m) => m.id)).toEqual(exported.slice(1).map((m) => m.id))

    await using target = await openTemp(embedder)
    const items = exported.map(({ id, memory, metadata, userId, agentId, runId, createdAt, updatedAt }) => ({
      id,
      memory,
      metadata,
      createdAt,
      updatedAt,
      ...(userId && { userId }),
      ...(agentId && { agentId }),
      ...(runId && { runId }),
    }))
    expect((await target.memory.withTenant('c').import(items)).results.map((r) => r.event)).toEqual(['ADD', 'ADD', 'ADD'])
    expect((await target.memory.withTenant('c').import(items)).results.map((r) => r.event)).toEqual(['NONE', 'NONE', 'NONE'])
    const copy = await target.memory.withTenant('c').get(exported[0]?.id as string)
    expect(copy).toEqual(exported[0])
    // An id another tenant already holds is never shared: the import gets a fresh id.
    const [other] = (await target.memory.withTenant('d').import([items[0] as (typeof items)[number]])).results
    expect(other?.event).toBe('ADD')
    expect(other?.id).not.toBe(exported[0]?.id)
    expect((await target.memory.withTenant('c').get(exported[0]?.id as string))?.memory).toBe('I moved to Lisbon in May')
    await expectCode(target.memory.import([{ memory: 'no scope' }]), MemoryErrorCode.ScopeRequired)
    await expectCode(target.memory.import([{ memory: 'x', userId: 'u', id: 'not-a-uuid' }]), MemoryErrorCode.InvalidInput)
  })

  it('issue 17: import keeps ids no other tenant holds and reports every remap', async () => {
    await using store = await openTemp(embedder)
    const a = store.memory.withTenant('a')
    await a.addBatch([
      { messages: 'I moved to Lisbon in May', userId: 'u1' },
      { messages: 'My sister is called Ana', userId: 'u1' },
    ])
    const exported = (await a.getAll({ userId: 'u1' })).results
    const items = exported.map(({ id, memory, userId }) => ({ id, memory, userId: userId as string }))

    // Another tenant of the same store: every id is held by tenant a, so each gets a new one, reported.
    const b = store.memory.withTenant('b')
    const first = await b.import(items)
    expect(first.results.map((r) => r.event)).toEqual(['ADD', 'ADD'])
    expect(first.remapped).toEqual(exported.map((m, i) => ({ from: m.id, to: first.results[i]?.id, event: 'ADD' })))
    expect(first.remapped.every(({ from, to }) => from !== to)).toBe(true)
    // A re-run adds nothing and reports the same mapping, each line already present (NONE).
    const again = await b.import(items)
    expect(again.results.map((r) => r.event)).toEqual(['NONE', 'NONE'])
    expect(again.remapped).toEqual(first.remapped.map((r) => ({ ...r, event: 'NONE' })))

    // Another store: no tenant holds the ids, so they are kept and nothing is remapped.
    await using fresh = await openTemp(embedder)
    const kept = await fresh.memory.withTenant('b').import(items)
    expect(kept.results.map((r) => r.id)).toEqual(exported.map((m) => m.id))
    expect(kept.remapped).toEqual([])
  })

  it('imports an export back whole, two memories that say the same included (the second merged into the first, its metadata lost)', async () => {
    await using source = await openTemp(embedder)
    const alpha = (await source.memory.add('alpha fact', { userId: 'u1', metadata: { v: 1 } })).results[0]?.id as string
    const beta = (await source.memory.add('beta fact', { userId: 'u1', metadata: { v: 2, only_b: 'important' } })).results[0]?.id as string
    // An update does not deduplicate: the scope now holds the same text twice.
    await source.memory.update(beta, { text: 'Alpha  FACT' })
    const exported = []
    for await (const batch of source.memory.exportAll()) exported.push(...batch)
    const items = exported.map(({ id, memory, metadata, userId, createdAt, updatedAt }) => ({
      id,
      memory,
      metadata,
      createdAt,
      updatedAt,
      userId: userId as string,
    }))
    await using target = await openTemp(embedder)
    const imported = await target.memory.import(items)
    expect(imported.results.map((r) => [r.id, r.event])).toEqual([
      [alpha, 'ADD'],
      [beta, 'ADD'],
    ])
    expect(imported.remapped).toEqual([])
    expect((await target.memory.getAll({ userId: 'u1' })).results).toEqual((await source.memory.getAll({ userId: 'u1' })).results)
    // Still idempotent by id; a line without an id still finds its text.
    expect((await target.memory.import(items)).results.map((r) => r.event)).toEqual(['NONE', 'NONE'])
    const [found] = (await target.memory.import([{ memory: 'alpha fact', userId: 'u1' }])).results
    expect([found?.event, [alpha, beta].includes(found?.id as string)]).toEqual(['NONE', true])
  })

  it('opens a store in one process at a time', async () => {
    await using dir = await tempStore('lock')
    const memory = await Memory.open({ ...dir.location, embedder })
    await expectCode(Memory.open({ ...dir.location, embedder }), MemoryErrorCode.Locked)
    await memory.close()
    const again = await Memory.open({ ...dir.location, embedder })
    await again.close()
    // A lock left by a process that died is taken over: a folder's lock file naming a pid that
    // cannot exist; PostgreSQL's session lock ends with its session, as closing shows above.
    if (dir.location.metadataUrl) return
    writeFileSync(join(dir.location.path, 'LOCK'), '2147483646')
    const afterCrash = await Memory.open({ ...dir.location, embedder })
    await afterCrash.close()
    // A lock file still empty (its owner between creating it and writing its pid) is held, not stale:
    // here another process writes its pid into it a moment later. Taken over at once, two processes held the store.
    writeFileSync(join(dir.location.path, 'LOCK'), '')
    const owner = spawn('sh', ['-c', `sleep 0.2; echo $$ > '${join(dir.location.path, 'LOCK')}'; exec sleep 30`], { stdio: 'ignore' })
    try {
      await expectCode(Memory.open({ ...dir.location, embedder }), MemoryErrorCode.Locked)
    } finally {
      owner.kill('SIGKILL')
    }
  })

  it('opens a folder store whose table a crash left half-created (no committed version)', async () => {
    await using dir = await tempStore('half-created')
    if (dir.location.metadataUrl) return // a folder's layout
    mkdirSync(join(dir.location.path, 'vectors', 'memories.lance', 'data'), { recursive: true })
    const memory = await Memory.open({ ...dir.location, embedder })
    await memory.add('it opens', { userId: 'u' })
    expect((await memory.getAll({ userId: 'u' })).results.map((m) => m.memory)).toEqual(['it opens'])
    await memory.close()
  })

  it('finds duplicates among rows written since the last index refresh, after updates and deletes, and across a reopen', async () => {
    await using dir = await tempStore('dedup')
    const add = async (memory: Memory, text: string) => (await memory.add(text, { userId: 'u' })).results[0]
    const first = await Memory.open({ ...dir.location, embedder, maintenanceEveryRows: 1_000_000, maintenanceEveryCommits: 1_000_000 })
    // Some indexed rows first: LanceDB's index-only reads skip rows written after them.
    await first.addBatch(Array.from({ length: 50 }, (_, i) => ({ messages: `older fact ${i}`, userId: 'u' })))
    await first.optimize()
    const tea = await add(first, 'I like tea')
    expect(await add(first, 'i like TEA')).toEqual({ ...tea, event: 'NONE' })
    await first.update(tea?.id as string, { text: 'I like coffee' })
    const teaAgain = await add(first, 'I like tea')
    expect(teaAgain?.event).toBe('ADD')
    expect((await add(first, 'I like coffee'))?.id).toBe(tea?.id)
    await first.delete(teaAgain?.id as string)
    const teaThird = await add(first, 'I like tea')
    expect(teaThird?.event).toBe('ADD')
    await first.close()

    // Reopened, the rows the first process left unindexed are still found as duplicates.
    const second = await Memory.open({ ...dir.location, embedder })
    expect(await add(second, 'I like tea')).toMatchObject({ id: teaThird?.id, event: 'NONE' })
    expect(await add(second, 'I like coffee')).toMatchObject({ id: tea?.id, event: 'NONE' })
    expect(await second.count({ userId: 'u' })).toBe(52)
    await second.close()
  })

  it('finds every duplicate in scopes not resident, through its filter of the store’s keys: while the filter is filled at open, and after', async () => {
    await using dir = await tempStore('key-filter')
    // No resident scopes: every duplicate check of an add goes through the writer's key filter and the store.
    const options = { ...dir.location, embedder, resident: { budgetBytes: 0 } }
    const users = 50
    const first = await Memory.open(options)
    await first.addBatch(Array.from({ length: 3000 }, (_, i) => ({ messages: `stored fact ${i}`, userId: `u${i % users}` })))
    const late = await Promise.all(Array.from({ length: users }, (_, u) => first.add(`late fact ${u}`, { userId: `u${u}` })))
    await vi.waitFor(() => expect(first.stats().keyFilter).toBe('ready'), { timeout: 20_000, interval: 20 })
    expect((await first.add('stored fact 7', { userId: 'u7' })).results[0]?.event).toBe('NONE')
    expect((await first.add('late fact 3', { userId: 'u3' })).results[0]).toMatchObject({ id: late[3]?.results[0]?.id, event: 'NONE' })
    await first.close()

    // Reopened: adds race the scan that fills the filter, then follow it.
    const second = await Memory.open(options)
    const during = await Promise.all(
      Array.from({ length: users }, async (_, u) => [
        (await second.add(`stored fact ${u + users}`, { userId: `u${u}` })).results[0]?.event,
        (await second.add(`new fact ${u}`, { userId: `u${u}` })).results[0]?.event,
        (await second.add(`new fact ${u}`, { userId: `u${u}` })).results[0]?.event,
      ]),
    )
    expect(during).toEqual(Array.from({ length: users }, () => ['NONE', 'ADD', 'NONE']))
    await vi.waitFor(() => expect(second.stats().keyFilter).toBe('ready'), { timeout: 20_000, interval: 20 })
    const after = await Promise.all(
      Array.from({ length: users }, async (_, u) => [
        (await second.add(`stored fact ${u + 2 * users}`, { userId: `u${u}` })).results[0]?.event,
        (await second.add(`late fact ${u}`, { userId: `u${u}` })).results[0]?.event,
        (await second.add(`new fact ${u}`, { userId: `u${u}` })).results[0]?.event,
        (await second.add(`newer fact ${u}`, { userId: `u${u}` })).results[0]?.event,
      ]),
    )
    expect(after).toEqual(Array.from({ length: users }, () => ['NONE', 'NONE', 'NONE', 'ADD']))
    expect(await second.count({ userId: 'u0' })).toBe(3000 / users + 3)
    await second.close()
  })

  it('runs maintenance the time budget postponed once the store goes quiet', async () => {
    await using dir = await tempStore('deferred')
    const maintained: number[] = []
    // A maintenance logs at debug, or at info when it took 1 s or more.
    const record = (event: string) => event === 'memory.maintain' && maintained.push(Date.now())
    const logger = { debug: record, info: record, warn() {}, error() {} }
    const memory = await Memory.open({ ...dir.location, embedder, logger, maintenanceEveryRows: 10 })
    try {
      await memory.addBatch(Array.from({ length: 20 }, (_, i) => ({ messages: `fact ${i}`, userId: 'u' })))
      await vi.waitFor(() => expect(maintained).toHaveLength(1), { timeout: 20_000, interval: 20 })
      // Due again at once, but within the budget's wait: postponed, not dropped.
      await memory.addBatch(Array.from({ length: 20 }, (_, i) => ({ messages: `more ${i}`, userId: 'u' })))
      expect(maintained).toHaveLength(1)
      await vi.waitFor(() => expect(maintained).toHaveLength(2), { timeout: 20_000, interval: 100 })
    } finally {
      await memory.close()
    }
  })
})

it('refuses to open with a LanceDB setting LanceDB would panic on, naming it, and creates nothing', async () => {
  const embedder = createHashEmbedder()
  await using dir = await tempDir('lance-env')
  const path = join(dir.path, 'store')
  const bad: Array<[string, string]> = [
    ['LANCE_CPU_THREADS', ''],
    ['LANCE_CPU_THREADS', '0'],
    ['LANCE_CPU_THREADS', 'two'],
    ['LANCE_CPU_THREADS', '99999999999999999999999'],
    ['LANCE_IO_CORE_RESERVATION', '-1'],
  ]
  for (const [name, value] of bad) {
    const before = process.env[name]
    process.env[name] = value
    try {
      await expect(Memory.open({ path, embedder }), `${name}=${value}`).rejects.toMatchObject({
        code: MemoryErrorCode.InvalidOptions,
        message: expect.stringContaining(name),
        details: { variable: name },
      })
    } finally {
      if (before === undefined) delete process.env[name]
      else process.env[name] = before
    }
  }
  expect(existsSync(path)).toBe(false)
})
