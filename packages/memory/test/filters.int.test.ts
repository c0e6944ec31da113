import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Memory } from '../src/index.js'
import { defaultEmbedder, openTemp, storeMatches } from './helpers/fixtures.js'

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
  // Issue 17: list-valued and mixed-type metadata under one key, in a scope of their own.
  await memory.addBatch(
    [
      { messages: 'list sport', metadata: { tags: ['sport', 'music'], v: 'x' } },
      { messages: 'list numbers', metadata: { tags: [1, 2.5], v: 3 } },
      { messages: 'list mixed', metadata: { tags: ['1', true, null, { sport: 1 }, ['sport']], v: true } },
      { messages: 'string tag', metadata: { tags: 'sports day', v: '3' } },
      { messages: 'number tag', metadata: { tags: 1, v: null } },
      { messages: 'object tag', metadata: { tags: { sport: 'sport' }, v: ['x', 3] } },
      { messages: 'empty list', metadata: { tags: [], v: '' } },
      { messages: 'no tag', metadata: {} },
      // Lance writes these numbers as 1.8446744073709552e+19 and 1e-6, JSON.stringify in full.
      { messages: 'odd numbers', metadata: { tags: [2 ** 64, 1e-6, -(2 ** 63) - 4096] } },
    ].map((r) => ({ ...r, userId: 'mixed' })),
  )
  await memory.size() // every write in the store, which matching() also reads directly
})
afterAll(async () => {
  await store[Symbol.asyncDispose]()
  await embedder.close()
})

async function matching(filters: Record<string, unknown>, userId = 'u1'): Promise<string[]> {
  const listed = (await memory.getAll({ userId, filters })).results.map((r) => r.memory).sort()
  // Once a search loaded the scope, getAll and search both answer from the resident index
  // (filter-match.ts): LanceDB's compiled predicate is asked directly, and all three must agree.
  const searched = (await memory.search('alpha beta gamma delta hostile', { userId, filters, topK: 100, mode: 'vector' })).results.map((r) => r.memory).sort()
  expect(searched).toEqual(listed)
  expect(await storeMatches(memory, userId, filters)).toEqual(listed)
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

describe('issue 17: list-valued and mixed-type metadata', () => {
  const mixed = (filters: Record<string, unknown>) => matching(filters, 'mixed')
  const everything = ['empty list', 'list mixed', 'list numbers', 'list sport', 'no tag', 'number tag', 'object tag', 'odd numbers', 'string tag']
  const except = (...names: string[]) => everything.filter((n) => !names.includes(n))

  it('contains, eq, in and nin test list membership; contains on a string stays a substring match', async () => {
    // A list inside the list counts ('list mixed' holds ['sport']); an object's keys do not.
    expect(await mixed({ 'metadata.tags': { contains: 'sport' } })).toEqual(['list mixed', 'list sport', 'string tag'])
    expect(await mixed({ metadata: { tags: 'sport' } })).toEqual(['list mixed', 'list sport'])
    expect(await mixed({ metadata: { tags: { in: ['music', 2.5] } } })).toEqual(['list numbers', 'list sport'])
    expect(await mixed({ metadata: { tags: { in: [1] } } })).toEqual(['list numbers', 'number tag'])
    expect(await mixed({ metadata: { tags: { eq: '1' } } })).toEqual(['list mixed'])
    for (const n of [2 ** 64, 1e-6, -(2 ** 63) - 4096]) expect(await mixed({ metadata: { tags: n } }), String(n)).toEqual(['odd numbers'])
    expect(await mixed({ metadata: { tags: true } })).toEqual(['list mixed'])
    expect(await mixed({ metadata: { tags: { nin: ['sport', 1] } } })).toEqual(except('list mixed', 'list sport', 'list numbers', 'number tag'))
    expect(await mixed({ metadata: { tags: { ne: 'music' } } })).toEqual(except('list sport'))
    expect(await mixed({ NOT: { metadata: { tags: { contains: 'sport' } } } })).toEqual(except('list mixed', 'list sport', 'string tag'))
  })

  it('a comparison never matches a value of another type, a list or an object', async () => {
    expect(await mixed({ metadata: { v: { gt: 2 } } })).toEqual(['list numbers'])
    expect(await mixed({ metadata: { v: { lte: 'x' } } })).toEqual(['empty list', 'list sport', 'string tag'])
    expect(await mixed({ metadata: { v: { gt: '' } } })).toEqual(['list sport', 'string tag'])
    expect(await mixed({ metadata: { v: { lt: '' } } })).toEqual([])
    expect(await mixed({ metadata: { v: '' } })).toEqual(['empty list'])
    expect(await mixed({ metadata: { v: 3 } })).toEqual(['list numbers', 'object tag'])
    expect(await mixed({ metadata: { v: { gte: false } } })).toEqual(['list mixed'])
    expect(await mixed({ metadata: { tags: { gt: 0 } } })).toEqual(['number tag'])
    expect(await mixed({ metadata: { v: { icontains: 'X' } } })).toEqual(['list sport'])
    expect(await mixed({ metadata: { v: { contains: '3' } } })).toEqual(['string tag'])
    expect(await mixed({ metadata: { v: { ne: 3 } } })).toEqual(except('list numbers', 'object tag'))
  })
})
