import { describe, expect, it } from 'vitest'
import { MemoryErrorCode } from './errors.js'
import { type FilterNode, parseFilters } from './filters.js'
import { compileFilter } from './store/lancedb-predicate.js'

const compile = (filters: Record<string, unknown>) => compileFilter(parseFilters(filters) as FilterNode)

function expectInvalid(filters: unknown, message: RegExp) {
  try {
    parseFilters(filters)
  } catch (error) {
    expect(error).toMatchObject({ code: MemoryErrorCode.InvalidFilter })
    expect((error as Error).message).toMatch(message)
    return
  }
  throw new Error('expected MEMORY_INVALID_FILTER')
}

describe('parseFilters', () => {
  it('names each filterable field once when a field is unknown', () => {
    expectInvalid({ colour: 'red' }, /Filterable fields: user_id, agent_id, run_id, role, created_at, updated_at;/)
  })

  it('treats no filter and an empty object as no filter', () => {
    expect(parseFilters(undefined)).toBeUndefined()
    expect(parseFilters({})).toBeUndefined()
  })

  it('parses every operator on metadata and columns', () => {
    const text = `json_extract(json_get(metadata, 'city'), '$')`
    expect(compile({ metadata: { city: 'Lisbon' } })).toBe(
      `(${text} IN ('"Lisbon"') OR (${text} LIKE '[%' AND (regexp_like(${text}, '[\\[,](?:"Lisbon")[,\\]]'))))`,
    )
    // One pass for any number of values; numbers also in the exponent form Lance may write them in.
    expect(compile({ metadata: { city: { in: ['a', 2.5, true] } } })).toBe(
      `(${text} IN ('"a"', '2.5', '2.5e+0', 'true') OR (${text} LIKE '[%' AND (regexp_like(${text}, '[\\[,](?:"a")[,\\]]') OR ` +
        `regexp_like(regexp_replace(${text}, '"(?:[^"\\\\]|\\\\.)*"', '""', 'g'), '[\\[,](?:2\\.5|2\\.5e\\+0|true)[,\\]]'))))`,
    )
    expect(compile({ 'metadata.n': { gt: 1, lte: 9.5 } })).toBe(
      `((json_exists(json_get(metadata, 'n'), '$ ? (@ > .1e1)') AND json_extract(json_get(metadata, 'n'), '$') NOT LIKE '[%') AND ` +
        `(json_exists(json_get(metadata, 'n'), '$ ? (@ <= .95e1)') AND json_extract(json_get(metadata, 'n'), '$') NOT LIKE '[%'))`,
    )
    expect(compile({ metadata: { ok: { ne: true } } })).toMatch(
      /^\(NOT coalesce\(\(json_extract\(json_get\(metadata, 'ok'\), '\$'\) IN \('true'\) .*, false\)\)$/,
    )
    expect(compile({ user_id: { in: ['a', 'b'] } })).toBe(`(user_id IN ('a', 'b'))`)
    expect(compile({ user_id: { nin: ['a'] } })).toBe(`(user_id IS NULL OR NOT (user_id IN ('a')))`)
    // contains: a string holding the text, or a list holding it as an element.
    expect(compile({ metadata: { note: { contains: 'a' } } })).toBe(
      `(regexp_like(json_extract(json_get(metadata, 'note'), '$'), '^"(?:[^"\\\\]|\\\\u[0-9a-fA-F]{4}|\\\\[^u])*a') OR ${compile({ metadata: { note: 'a' } })})`,
    )
    expect(compile({ metadata: { note: { icontains: 'AbC' } } })).toMatch(
      /^\(regexp_like\(lower\(json_extract\(json_get\(metadata, 'note'\), '\$'\)\), '.*abc'\)\)$/,
    )
    // The typed json_get_* functions fail on lists and objects, and convert "3" to 3: never used.
    for (const op of ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'icontains']) {
      expect(compile({ metadata: { x: { [op]: 'v' } } })).not.toMatch(/json_get_(string|float|bool)/)
    }
  })

  it('writes numbers as JSONPath reads them and empty strings without JSONPath', () => {
    const path = (value: number) => /'\$ \? \(@ > (.*?)\)'/.exec(compile({ metadata: { n: { gt: value } } }))?.[1]
    expect([0, -0, 3, -2.5, 1e-7, 1e21, 2 ** 53 + 2].map(path)).toEqual(['.0e0', '.0e0', '.3e1', '-.25e1', '.1e-6', '.1e22', '.9007199254740994e16'])
    expect(compile({ metadata: { s: { gt: '' } } })).not.toContain('json_exists')
    expect(compile({ metadata: { s: { lt: '' } } })).toBe('(false)')
  })

  it('converts times to epoch milliseconds', () => {
    expect(compile({ created_at: { gte: '2024-07-01T00:00:00Z' }, updatedAt: { lt: 5 } })).toBe('((created_at >= 1719792000000) AND (updated_at < 5))')
    // A date is UTC midnight, a date-time without an offset is UTC, an offset moves it.
    expect(compile({ created_at: '2024-07-01' })).toBe('(created_at = 1719792000000)')
    expect(compile({ created_at: '2024-07-01T02:00' })).toBe('(created_at = 1719799200000)')
    expect(compile({ created_at: '2024-07-01T02:00:00+02:00' })).toBe('(created_at = 1719792000000)')
    // PostgreSQL's own form: a space, an offset in hours.
    expect(compile({ created_at: '2024-07-01 02:00:00+02' })).toBe('(created_at = 1719792000000)')
    expect(compile({ created_at: '2024-07-01T01:30:00-0030' })).toBe('(created_at = 1719799200000)')
    expect(compile({ created_at: '2024-02-29T00:00:00.123Z' })).toBe('(created_at = 1709164800123)')
    expect(compile({ created_at: { in: ['0001-01-01', -8.64e15] } })).toBe('(created_at IN (-62135596800000, -8640000000000000))')
  })

  it('rounds a range bound finer than a millisecond to the stored whole milliseconds', () => {
    // Stored times are whole ms: 359 lies before .3591, so gte .3591 starts at 360 (it was cut to 359).
    expect(compile({ created_at: { gte: '2026-12-01T00:00:00.3591Z' } })).toBe('(created_at >= 1796083200360)')
    expect(compile({ created_at: { gt: '2026-12-01T00:00:00.3591Z' } })).toBe('(created_at > 1796083200359)')
    expect(compile({ created_at: { lt: '2026-12-01T00:00:00.359999Z' } })).toBe('(created_at < 1796083200360)')
    expect(compile({ created_at: { lte: '2026-12-01T00:00:00.3590000Z' } })).toBe('(created_at <= 1796083200359)')
    expect(compile({ updated_at: { gte: 1.5, lt: -1.5 } })).toBe('((updated_at >= 2) AND (updated_at < -1))')
    expectInvalid({ created_at: '2026-12-01T00:00:00.3591Z' }, /whole milliseconds/)
    expectInvalid({ created_at: { in: [1, 2.5] } }, /created_at\.in\[1\]: times are whole milliseconds/)
  })

  it('refuses times that are not ISO-8601, not on the calendar or beyond what a date holds', () => {
    for (const time of [
      '12',
      '0',
      'Dec 1 2026',
      'Thu, 03 Dec 2026 00:00:00 GMT',
      '1796180741359',
      '2026-02-29',
      '2026-02-31',
      '2026-13-01',
      '2026-01-01T24:00',
      '2026-01-01T10:00+25:00',
      ' 2026-01-01',
    ]) {
      expectInvalid({ created_at: { gte: time } }, /expected an ISO-8601 date or date-time/)
    }
    for (const time of [1e20, -1e19, 9.3e18, 8.64e15 + 1]) expectInvalid({ created_at: { gte: time } }, /within -8640000000000000 to 8640000000000000/)
    expectInvalid({ updated_at: { in: [1e20] } }, /updated_at\.in\[0\]: a time must lie within/)
    expectInvalid({ created_at: true }, /expected an ISO-8601/)
  })

  it('nests AND, OR and NOT', () => {
    const sql = compile({ OR: [{ AND: [{ role: 'a' }, { role: 'b' }] }, { NOT: { agent_id: 'x' } }], run_id: 'r' })
    expect(sql).toBe(`((((role = 'a') AND (role = 'b')) OR (NOT coalesce((agent_id = 'x'), false))) AND (run_id = 'r'))`)
    expect(compile({ NOT: [{ metadata: { a: 1 } }, { metadata: { b: 2 } }] })).toMatch(/^\(NOT coalesce\(\(.* AND .*\), false\)\)$/)
  })

  it('escapes hostile values and keys as data', () => {
    const key = `json_extract(json_get(metadata, 'k''ey'), '$')`
    expect(compile({ metadata: { "k'ey": "it's'); DROP TABLE memories; --" } })).toBe(
      `(${key} IN ('"it''s''); DROP TABLE memories; --"') OR (${key} LIKE '[%' AND (regexp_like(${key}, '[\\[,](?:"it''s''\\); DROP TABLE memories; \\-\\-")[,\\]]'))))`,
    )
    // Regex syntax in a contains value is escaped; a quote or backslash is JSON-escaped first.
    expect(compile({ metadata: { note: { contains: 'a.b*"\\' } } })).toContain(`*a\\.b\\*\\\\"\\\\\\\\')`)
    expect(compile({ metadata: { n: { ne: 'x' } } })).toMatch(/^\(NOT coalesce\(/)
    expect(compile({ metadata: { "it's": { nin: ["o'k", 1] } } })).toMatch(/^\(NOT coalesce\(.*json_get\(metadata, 'it''s'\).*'"o''k"'.*, false\)\)$/)
    expect(compile({ metadata: { note: { lt: 'x"y' } } })).toContain(`'$ ? (@ < "x\\"y")'`)
  })

  it('rejects unknown operators, unknown fields and bad values with a typed error', () => {
    expectInvalid({ metadata: { a: { regex: '.*' } } }, /unknown operator 'regex'/)
    expectInvalid({ city: 'Lisbon' }, /unknown field 'city'.*metadata/)
    expectInvalid({ tenant_id: 'other' }, /unknown field 'tenant_id'/)
    expectInvalid({ metadata: { a: null } }, /got null/)
    expectInvalid({ metadata: { a: { in: [] } } }, /in takes an array/)
    expectInvalid({ metadata: { a: { contains: 3 } } }, /contains takes a string/)
    expectInvalid({ created_at: { gt: 'yesterday' } }, /ISO-8601/)
    expectInvalid({ created_at: { contains: '2024' } }, /does not apply to a time field/)
    expectInvalid({ AND: [] }, /non-empty array/)
    expectInvalid({ metadata: { a: Number.NaN } }, /finite number/)
    expectInvalid({ metadata: { a: 'x\u0000y' } }, /NUL/)
    // Text columns take strings only: a number would be a type error inside the store (found by the server fuzz test).
    expectInvalid({ run_id: 557528038 }, /run_id: expected a string, got number/)
    expectInvalid({ role: false }, /expected a string, got boolean/)
    expectInvalid({ user_id: { in: ['a', 1] } }, /expected a string/)
    expectInvalid([], /expected an object/)
    let deep: Record<string, unknown> = { metadata: { a: 1 } }
    for (let i = 0; i < 20; i++) deep = { NOT: deep }
    expectInvalid(deep, /nesting deeper/)
  })
})
