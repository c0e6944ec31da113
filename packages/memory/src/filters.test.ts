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
  it('treats no filter and an empty object as no filter', () => {
    expect(parseFilters(undefined)).toBeUndefined()
    expect(parseFilters({})).toBeUndefined()
  })

  it('parses every operator on metadata and columns', () => {
    expect(compile({ metadata: { city: 'Lisbon' } })).toBe(`(json_get_string(metadata, 'city') = 'Lisbon')`)
    expect(compile({ 'metadata.n': { gt: 1, lte: 9.5 } })).toBe(`((json_get_float(metadata, 'n') > 1) AND (json_get_float(metadata, 'n') <= 9.5))`)
    expect(compile({ metadata: { ok: { ne: true } } })).toBe(`(json_get_bool(metadata, 'ok') IS NULL OR json_get_bool(metadata, 'ok') <> true)`)
    expect(compile({ metadata: { n: { gte: 2, lt: 3 } } })).toContain(`>= 2`)
    expect(compile({ user_id: { in: ['a', 'b'] } })).toBe(`(user_id IN ('a', 'b'))`)
    expect(compile({ metadata: { tag: { nin: ['x', 1] } } })).toBe(
      `((json_get_string(metadata, 'tag') IS NULL AND json_get_float(metadata, 'tag') IS NULL) OR NOT coalesce(json_get_string(metadata, 'tag') IN ('x') OR json_get_float(metadata, 'tag') IN (1), false))`,
    )
    expect(compile({ metadata: { note: { contains: 'a' } } })).toBe(`(json_get_string(metadata, 'note') LIKE '%a%' ESCAPE '\\')`)
    expect(compile({ metadata: { note: { icontains: 'AbC' } } })).toBe(`(lower(json_get_string(metadata, 'note')) LIKE '%abc%' ESCAPE '\\')`)
  })

  it('converts times to epoch milliseconds', () => {
    expect(compile({ created_at: { gte: '2024-07-01T00:00:00Z' }, updatedAt: { lt: 5 } })).toBe('((created_at >= 1719792000000) AND (updated_at < 5))')
  })

  it('nests AND, OR and NOT', () => {
    const sql = compile({ OR: [{ AND: [{ metadata: { a: 1 } }, { metadata: { b: 2 } }] }, { NOT: { agent_id: 'x' } }], run_id: 'r' })
    expect(sql).toBe(
      `((((json_get_float(metadata, 'a') = 1) AND (json_get_float(metadata, 'b') = 2)) OR (NOT coalesce((agent_id = 'x'), false))) AND (run_id = 'r'))`,
    )
    expect(compile({ NOT: [{ metadata: { a: 1 } }, { metadata: { b: 2 } }] })).toMatch(/^\(NOT coalesce\(\(.* AND .*\), false\)\)$/)
  })

  it('escapes hostile values and keys as data', () => {
    expect(compile({ metadata: { "k'ey": "it's'); DROP TABLE memories; --" } })).toBe(
      `(json_get_string(metadata, 'k''ey') = 'it''s''); DROP TABLE memories; --')`,
    )
    expect(compile({ metadata: { note: { contains: '50%_off\\' } } })).toBe(`(json_get_string(metadata, 'note') LIKE '%50\\%\\_off\\\\%' ESCAPE '\\')`)
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
