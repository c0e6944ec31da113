import { invalidInput, MemoryError, MemoryErrorCode } from './errors.js'
import { maxMetadataKeyLength } from './filters.js'
import { storable } from './text.js'
import type { Metadata } from './types.js'

/** Metadata keys that look like identity fields are refused: scope lives in columns, never in metadata. */
const reservedMetadataKeys = new Set(['tenant_id', 'tenantId', 'user_id', 'userId', 'agent_id', 'agentId', 'run_id', 'runId'])
const maxMetadataBytes = 64 * 1024
/** Objects and arrays nested deeper are refused: SQLite's JSON functions stop at 1,000 levels, and no real metadata comes near this. */
const maxMetadataDepth = 64

/**
 * Metadata as it will be stored: plain JSON within the size and depth limits, keys a filter can
 * name. A lone surrogate or NUL, which the stores cannot keep (text.ts `storable`), is replaced
 * (U+FFFD) in a value, as in a memory's text, and refused in a key, since two keys could become one.
 */
export function checkMetadata(metadata: Metadata): Metadata {
  for (const key of Object.keys(metadata)) {
    if (key.length === 0 || key.length > maxMetadataKeyLength) {
      throw invalidInput(`metadata keys must be 1-${maxMetadataKeyLength} characters; ${shortKey(key)} has ${key.length}`)
    }
    if (key.includes('\u0000')) throw invalidInput(`metadata key ${shortKey(key)} holds NUL, which no filter can name`)
    if (reservedMetadataKeys.has(key)) throw invalidInput(`metadata key '${key}' is reserved: scope is set by userId / agentId / runId, never by metadata`)
  }
  let json: string
  try {
    // JSON.stringify writes Infinity and NaN as null: a number JSON cannot hold (1e400 parses as
    // Infinity) would be stored as null without a word.
    json = JSON.stringify(metadata, function (this: unknown, key, value) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw invalidInput(`metadata ${Array.isArray(this) ? 'holds' : `value ${shortKey(key)} is`} ${value}, not a finite number`)
      }
      return value
    })
  } catch (cause) {
    if (cause instanceof MemoryError) throw cause
    throw new MemoryError(MemoryErrorCode.InvalidInput, 'metadata must be JSON-serialisable', { cause })
  }
  if (Buffer.byteLength(json) > maxMetadataBytes) throw invalidInput(`metadata is larger than ${maxMetadataBytes} bytes as JSON`)
  const copy = JSON.parse(json) as Metadata
  if (nestingDepth(copy) > maxMetadataDepth) throw invalidInput(`metadata is nested more than ${maxMetadataDepth} levels deep`)
  // JSON.stringify writes a lone surrogate, and only that, as a \ud800-\udfff escape; NUL as \u0000.
  return sortedKeys(/\\ud[89a-f]|\\u0000/.test(json) ? (wellFormed(copy, '') as Metadata) : copy)
}

/** A copy of a JSON value with its strings made storable (text.ts); a lone surrogate in a key is refused. */
function wellFormed(value: unknown, path: string): unknown {
  if (typeof value === 'string') return storable(value)
  if (Array.isArray(value)) return value.map((item, i) => wellFormed(item, `${path}[${i}]`))
  if (typeof value !== 'object' || value === null) return value
  // fromEntries defines each key, so a nested "__proto__" stays a key, as JSON.parse made it.
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => {
      const at = path ? `${path}.${key.toWellFormed()}` : key.toWellFormed()
      if (!key.isWellFormed()) throw invalidInput(`metadata key ${shortKey(at)} holds a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot store`)
      if (key.includes('\u0000')) throw invalidInput(`metadata key ${shortKey(at)} holds NUL, which the stores cannot keep`)
      return [key, wellFormed(item, at)]
    }),
  )
}

/** A key for an error message: quoted, cut to 40 characters. */
function shortKey(key: string): string {
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)
}

/** How many objects and arrays deep a JSON value goes (a flat object is 1), without recursion. */
function nestingDepth(value: unknown): number {
  let deepest = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number]
    if (typeof node !== 'object' || node === null) continue
    deepest = Math.max(deepest, depth)
    for (const child of Object.values(node)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
  }
  return deepest
}

/**
 * A copy of a JSON value with every object's keys in the order the vector store keeps them
 * (code point order, at every level; an integer-like key still comes first, as JS objects hold
 * them). Metadata is built in this order wherever it is made, so a memory's metadata reads the
 * same from every path: the writer's own rows, the resident index and a read of the store (which
 * sorts them) alike.
 */
export function sortedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortedKeys) as T
  if (typeof value !== 'object' || value === null) return value
  // fromEntries defines each key, so a "__proto__" key stays a key.
  return Object.fromEntries(
    Object.keys(value)
      .sort(compareCodePoints)
      .map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]),
  ) as T
}

/** Code point order, which is UTF-8 byte order; `<` on strings compares UTF-16 units, which puts U+10000 and up before U+E000-U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    const xSurrogate = x >= 0xd800 && x <= 0xdfff
    const ySurrogate = y >= 0xd800 && y <= 0xdfff
    if (xSurrogate !== ySurrogate && (xSurrogate ? y : x) >= 0xe000) return xSurrogate ? 1 : -1
    return x - y
  }
  return a.length - b.length
}
