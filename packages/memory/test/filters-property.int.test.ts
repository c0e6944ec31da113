import type { Embedder } from '@agentmem/embeddings'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Memory } from '../src/index.js'
import { defaultEmbedder, openTemp, storeMatches } from './helpers/fixtures.js'

/**
 * Issue 17: random metadata shapes x random filters, through the real store (getAll and search),
 * checked against a small reference evaluator of the documented semantics (docs/http-api.md#filters).
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Scalar = string | number | boolean
type Filter = Record<string, unknown>

const keys = ['k', "it's"]
const strings = [
  '',
  'a',
  'A',
  'ab',
  'sport',
  'Sport',
  'sports day',
  '3',
  '1',
  'true',
  'x"y',
  'back\\slash',
  'new\nline',
  '\u0001\u007f\u2028',
  'n',
  'ü',
  'Ü',
  '50%_',
  'a,1,b',
  '[1]',
  '.*',
]
const numbers = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 2.5, 3, 1e-7, 1e-6, 5e-6, 1e21, 2 ** 53 + 2, 2 ** 64, -(2 ** 63) - 4096),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
)
// Filters refuse NUL, so stored strings (which filter values are drawn from) hold none.
const anyString = fc.string({ unit: 'grapheme', maxLength: 4 }).filter((t) => !t.includes('\u0000'))
const scalar: fc.Arbitrary<Scalar> = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...strings) }, anyString, numbers, fc.boolean())
const element: fc.Arbitrary<Json> = fc.oneof({ weight: 6, arbitrary: scalar }, fc.constant(null), fc.record({ a: scalar }), fc.array(scalar, { maxLength: 2 }))
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  fc.constant(null),
  { weight: 4, arbitrary: fc.array(element, { maxLength: 4 }) },
  fc.record({ a: scalar, b: fc.array(scalar, { maxLength: 2 }) }),
)
const metadataShape = fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: keys.length })

/** The reference: what each operator means, in plain JS. */
const same = (a: Json | undefined, b: Scalar) => typeof a === typeof b && a === b
const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v)
/** A list's elements, and those of every list inside it (also inside its objects). */
const elements = (list: Json[]): Json[] => list.flatMap((e) => (Array.isArray(e) ? elements(e) : isObject(e) ? listsIn(e) : [e]))
const listsIn = (object: { [key: string]: Json }): Json[] =>
  Object.values(object).flatMap((v) => (Array.isArray(v) ? elements(v) : isObject(v) ? listsIn(v) : []))
const equals = (v: Json | undefined, x: Scalar) => (Array.isArray(v) ? elements(v).some((e) => same(e, x)) : same(v, x))

/** Ordering applies to two scalars of one type, never to a list or an object. */
function order(v: Json | undefined, x: Scalar): number | undefined {
  if (typeof v !== typeof x || typeof v === 'object') return undefined
  if (typeof v === 'string') return Buffer.compare(Buffer.from(v), Buffer.from(x as string)) // UTF-8 byte order
  return Number(v) - Number(x)
}

function holds(v: Json | undefined, op: string, x: unknown): boolean {
  const ordered = () => order(v, x as Scalar)
  switch (op) {
    case 'eq':
      return equals(v, x as Scalar)
    case 'ne':
      return !equals(v, x as Scalar)
    case 'in':
      return (x as Scalar[]).some((y) => equals(v, y))
    case 'nin':
      return !(x as Scalar[]).some((y) => equals(v, y))
    case 'contains':
      return typeof v === 'string' ? v.includes(x as string) : equals(v, x as string)
    case 'icontains':
      return typeof v === 'string' && v.toLowerCase().includes((x as string).toLowerCase())
    case 'gt':
      return (ordered() ?? Number.NaN) > 0
    case 'gte':
      return (ordered() ?? Number.NaN) >= 0
    case 'lt':
      return (ordered() ?? Number.NaN) < 0
    default:
      return (ordered() ?? Number.NaN) <= 0
  }
}

function evaluate(filter: Filter, metadata: Record<string, Json>): boolean {
  return Object.entries(filter).every(([field, condition]) => {
    if (field === 'AND') return (condition as Filter[]).every((f) => evaluate(f, metadata))
    if (field === 'OR') return (condition as Filter[]).some((f) => evaluate(f, metadata))
    if (field === 'NOT') return !evaluate(condition as Filter, metadata)
    if (field === 'metadata') return evaluate(condition as Filter, metadata)
    const v = Object.hasOwn(metadata, field.replace(/^metadata\./, '')) ? metadata[field.replace(/^metadata\./, '')] : undefined
    if (typeof condition !== 'object' || condition === null) return holds(v, 'eq', condition)
    return Object.entries(condition).every(([op, x]) => holds(v, op, x))
  })
}

function filterShape(pool: Scalar[]): fc.Arbitrary<Filter> {
  const operand = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, scalar)
  const text = fc.oneof(fc.constantFrom(...strings, 'port', 'SPORT', 'LASH', 'w\nl'), fc.string({ maxLength: 3 }))
  const condition = fc.oneof(
    operand,
    fc.record({ op: fc.constantFrom('eq', 'ne', 'gt', 'gte', 'lt', 'lte'), x: operand }).map(({ op, x }) => ({ [op]: x })),
    fc.record({ op: fc.constantFrom('in', 'nin'), x: fc.array(operand, { minLength: 1, maxLength: 3 }) }).map(({ op, x }) => ({ [op]: x })),
    fc.record({ op: fc.constantFrom('contains', 'icontains'), x: text }).map(({ op, x }) => ({ [op]: x })),
  )
  const leaf = fc
    .record({ key: fc.constantFrom(...keys), condition, dotted: fc.boolean() })
    .map(({ key, condition, dotted }): Filter => (dotted ? { [`metadata.${key}`]: condition } : { metadata: { [key]: condition } }))
  const { tree } = fc.letrec<{ tree: Filter }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((parts): Filter => ({ AND: parts })),
      fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((parts): Filter => ({ OR: parts })),
      tie('tree').map((inner): Filter => ({ NOT: inner })),
    ),
  }))
  return tree
}

let embedder: Embedder
let store: Awaited<ReturnType<typeof openTemp>>
let memory: Memory
const stored = new Map<string, Record<string, Json>>()
const pool: Scalar[] = []

beforeAll(async () => {
  embedder = await defaultEmbedder()
  store = await openTemp(embedder)
  memory = store.memory
  const shapes = fc.sample(metadataShape, { seed: 17, numRuns: 80 })
  for (const [i, metadata] of shapes.entries()) stored.set(`memory ${i}`, metadata)
  await memory.addBatch([...stored].map(([text, metadata]) => ({ messages: text, metadata, userId: 'p' })))
  await memory.size() // every write in the store, which the property also reads directly
  // Filter values are mostly values that are stored, so that filters match something.
  const collect = (v: Json): void => {
    if (Array.isArray(v)) for (const e of v) collect(e)
    else if (v !== null && typeof v === 'object') collect(Object.values(v))
    else if (v !== null) pool.push(v)
  }
  for (const metadata of stored.values()) collect(Object.values(metadata))
})
afterAll(async () => {
  await store[Symbol.asyncDispose]()
  await embedder.close()
})

describe('filters on random metadata shapes', () => {
  it('match exactly what the reference evaluator says, in getAll and search, and never fail', async () => {
    await fc.assert(
      fc.asyncProperty(filterShape(pool), async (filters) => {
        const expected = [...stored].filter(([, metadata]) => evaluate(filters, metadata)).map(([text]) => text)
        const listed = (await memory.getAll({ userId: 'p', filters, limit: 1000 })).results.map((r) => r.memory)
        expect(listed.sort()).toEqual(expected.sort())
        const searched = (await memory.search('memory', { userId: 'p', filters, topK: 1000, mode: 'vector' })).results.map((r) => r.memory)
        expect(searched.sort()).toEqual(expected)
        // Both answer from the resident index once the scope is loaded: LanceDB's compiled predicate is asked directly.
        expect(await storeMatches(memory, 'p', filters)).toEqual(expected)
      }),
      { seed: 17, numRuns: 150 },
    )
  })
})
