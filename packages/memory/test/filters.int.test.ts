import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Memory } from '../src/index.js'
import { defaultEmbedder, openTemp } from './helpers/fixtures.js'

const hostile = [
  "O'Brien",
  "'; DROP TABLE memories; --",
  'back\\slash\\',
  '50%_off',
  "x' OR '1'='1",
  'SELECT * FROM memories WHERE 1=1',
  '"double" and \'single\'',
  'ünïcödé ✓',
]

let embedder: Embedder
let store: Awaited<ReturnType<typeof openTemp>>
let memory: Memory

beforeAll(async () => {
  embedder = await defaultEmbedder()
  store = await openTemp(embedder)
  memory = store.memory
  const rows = [
    { messages: 'alpha', metadata: { kind: 'a', n: 1, ok: true, note: 'Hello World' } },
    { messages: 'beta', metadata: { kind: 'b', n: 2.5, ok: false, note: 'hello there' } },
    { messages: 'gamma', metadata: { kind: 'c', n: 10 } },
    { messages: 'delta', metadata: {} },
    ...hostile.map((value, i) => ({ messages: `hostile ${i}`, metadata: { kind: value, [value]: 'key' } })),
  ]
  await memory.addBatch(rows.map((r) => ({ ...r, userId: 'u1' })))
  await memory.add('other user alpha', { userId: 'u2', metadata: { kind: 'a', n: 1 } })
})
afterAll(async () => {
  await store[Symbol.asyncDispose]()
  await embedder.close()
})

async function matching(filters: Record<string, unknown>): Promise<string[]> {
  const listed = (await memory.getAll({ userId: 'u1', filters })).results.map((r) => r.memory).sort()
  // Search applies the same compiled predicate: both paths must agree.
  const searched = (await memory.search('alpha beta gamma delta hostile', { userId: 'u1', filters, topK: 100, mode: 'vector' })).results
    .map((r) => r.memory)
    .sort()
  expect(searched).toEqual(listed)
  return listed
}

describe('filters on real LanceDB', () => {
  it('applies every operator', async () => {
    expect(await matching({ metadata: { kind: 'a' } })).toEqual(['alpha'])
    expect(await matching({ metadata: { kind: { eq: 'b' } } })).toEqual(['beta'])
    expect(await matching({ metadata: { n: { gt: 1 } } })).toEqual(['beta', 'gamma'])
    expect(await matching({ metadata: { n: { gte: 2.5 } } })).toEqual(['beta', 'gamma'])
    expect(await matching({ metadata: { n: { lt: 2.5 } } })).toEqual(['alpha'])
    expect(await matching({ metadata: { n: { lte: 2.5 } } })).toEqual(['alpha', 'beta'])
    expect(await matching({ metadata: { n: { gt: 1, lt: 10 } } })).toEqual(['beta'])
    expect(await matching({ metadata: { ok: true } })).toEqual(['alpha'])
    expect(await matching({ metadata: { kind: { in: ['a', 'c'] } } })).toEqual(['alpha', 'gamma'])
    expect(await matching({ metadata: { note: { contains: 'ello' } } })).toEqual(['alpha', 'beta'])
    expect(await matching({ metadata: { note: { contains: 'World' } } })).toEqual(['alpha'])
    expect(await matching({ metadata: { note: { icontains: 'WORLD' } } })).toEqual(['alpha'])
    // ne / nin / NOT include memories that lack the key.
    const all = (await memory.getAll({ userId: 'u1' })).results.map((r) => r.memory)
    expect(await matching({ metadata: { kind: { ne: 'a' } } })).toEqual(all.filter((m) => m !== 'alpha').sort())
    expect(await matching({ metadata: { n: { nin: [1, 10] } } })).toEqual(all.filter((m) => m !== 'alpha' && m !== 'gamma').sort())
    expect(await matching({ NOT: { metadata: { ok: true } } })).toEqual(all.filter((m) => m !== 'alpha').sort())
  })

  it('nests AND / OR / NOT and filters on time and scope columns', async () => {
    expect(await matching({ OR: [{ metadata: { kind: 'a' } }, { AND: [{ metadata: { n: { gt: 2 } } }, { NOT: { metadata: { kind: 'c' } } }] }] })).toEqual([
      'alpha',
      'beta',
    ])
    expect(await matching({ created_at: { gte: '2000-01-01T00:00:00Z' }, metadata: { kind: 'a' } })).toEqual(['alpha'])
    expect(await matching({ created_at: { lt: '2000-01-01T00:00:00Z' } })).toEqual([])
    expect(await matching({ user_id: 'u2' })).toEqual([])
  })

  it('treats hostile values and keys as data', async () => {
    for (const [i, value] of hostile.entries()) {
      expect(await matching({ metadata: { kind: value } }), value).toEqual([`hostile ${i}`])
      expect(await matching({ metadata: { [value]: 'key' } }), value).toEqual([`hostile ${i}`])
      expect(await matching({ metadata: { kind: { contains: value } } }), value).toEqual([`hostile ${i}`])
      expect(await matching({ metadata: { kind: { in: [value, 'nothing'] } } }), value).toEqual([`hostile ${i}`])
    }
    // LIKE wildcards in a contains value match literally.
    expect(await matching({ metadata: { kind: { contains: '%' } } })).toEqual([`hostile ${hostile.indexOf('50%_off')}`])
    expect(await matching({ metadata: { kind: { contains: '_' } } })).toEqual([`hostile ${hostile.indexOf('50%_off')}`])
  })
})
