import { MemoryError, MemoryErrorCode } from './errors.js'

/**
 * Mem0-style filters, parsed into a dialect-free tree. Each vector store compiles the tree to its
 * own query language (see store/lancedb-predicate.ts), so the engine never builds query text.
 *
 * Grammar: `{ field: value }` (eq), `{ field: { op: value, ... } }`, `{ AND: [...] }`, `{ OR: [...] }`,
 * `{ NOT: filter | [...] }`; several keys in one object are ANDed. Fields are the columns below, or
 * metadata keys written `{ metadata: { key: ... } }` or `'metadata.key'`. Anything else is an error,
 * never silently ignored.
 */
export type Scalar = string | number | boolean
export type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte'
export type FilterOperator = ComparisonOperator | 'in' | 'nin' | 'contains' | 'icontains'

export const filterOperators: readonly FilterOperator[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains', 'icontains']

/** Columns that filters may name; times are epoch milliseconds once parsed. */
export type FilterColumn = 'user_id' | 'agent_id' | 'run_id' | 'role' | 'created_at' | 'updated_at'
export type FilterField = { kind: 'column'; column: FilterColumn } | { kind: 'metadata'; key: string }

export type FilterNode =
  | { kind: 'and'; children: FilterNode[] }
  | { kind: 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode }
  | { kind: 'compare'; op: ComparisonOperator; field: FilterField; value: Scalar }
  | { kind: 'in'; negated: boolean; field: FilterField; values: Scalar[] }
  | { kind: 'contains'; caseInsensitive: boolean; field: FilterField; value: string }

export type Filters = Record<string, unknown>

const columnAliases: Record<string, FilterColumn> = {
  user_id: 'user_id',
  userId: 'user_id',
  agent_id: 'agent_id',
  agentId: 'agent_id',
  run_id: 'run_id',
  runId: 'run_id',
  role: 'role',
  created_at: 'created_at',
  createdAt: 'created_at',
  updated_at: 'updated_at',
  updatedAt: 'updated_at',
}
/** Each column once, by its column name (camelCase spellings are aliases of the same fields). */
const filterableFields = [...new Set(Object.values(columnAliases))].join(', ')
const timeColumns = new Set<FilterColumn>(['created_at', 'updated_at'])
const maxDepth = 16
const maxConditions = 256
const maxListLength = 1000
/** The longest metadata key, in UTF-16 units: what a write stores and a filter names alike. */
export const maxMetadataKeyLength = 256

function invalid(message: string, path: string): MemoryError {
  return new MemoryError(MemoryErrorCode.InvalidFilter, `Invalid filter at ${path || 'root'}: ${message}`, { details: { path } })
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Parses and validates user filters; `undefined` or `{}` means no filter. */
export function parseFilters(filters: unknown): FilterNode | undefined {
  if (filters === undefined || filters === null) return undefined
  const counter = { conditions: 0 }
  const node = parseObject(filters, '', 0, counter, undefined)
  return node.kind === 'and' && node.children.length === 0 ? undefined : node
}

type Counter = { conditions: number }

function parseObject(input: unknown, path: string, depth: number, counter: Counter, metadataOnly: true | undefined): FilterNode {
  if (depth > maxDepth) throw invalid(`nesting deeper than ${maxDepth}`, path)
  if (!isPlainObject(input)) throw invalid('expected an object', path)
  const children: FilterNode[] = []
  for (const [key, value] of Object.entries(input)) {
    const at = path ? `${path}.${key}` : key
    if (key === 'AND' || key === 'OR') {
      if (!Array.isArray(value) || value.length === 0) throw invalid(`${key} takes a non-empty array`, at)
      const parts = value.map((item, i) => parseObject(item, `${at}[${i}]`, depth + 1, counter, metadataOnly))
      children.push({ kind: key === 'AND' ? 'and' : 'or', children: parts })
    } else if (key === 'NOT') {
      const inner = Array.isArray(value)
        ? { kind: 'and' as const, children: value.map((item, i) => parseObject(item, `${at}[${i}]`, depth + 1, counter, metadataOnly)) }
        : parseObject(value, at, depth + 1, counter, metadataOnly)
      children.push({ kind: 'not', child: inner })
    } else if (key === 'metadata' && !metadataOnly) {
      children.push(parseObject(value, at, depth + 1, counter, true))
    } else {
      children.push(parseCondition(resolveField(key, at, metadataOnly), value, at, counter))
    }
  }
  return children.length === 1 && children[0] ? children[0] : { kind: 'and', children }
}

function resolveField(key: string, path: string, metadataOnly: true | undefined): FilterField {
  if (metadataOnly) return metadataField(key, path)
  if (key.startsWith('metadata.')) return metadataField(key.slice('metadata.'.length), path)
  // Own keys only: `constructor` or `__proto__` would read Object.prototype's and pass for a column.
  const column = Object.hasOwn(columnAliases, key) ? columnAliases[key] : undefined
  if (column) return { kind: 'column', column }
  throw invalid(`unknown field '${key}'. Filterable fields: ${filterableFields}; metadata keys go under { metadata: { '${key}': ... } }`, path)
}

function metadataField(key: string, path: string): FilterField {
  if (key.length === 0 || key.length > maxMetadataKeyLength) throw invalid(`metadata keys must be 1-${maxMetadataKeyLength} characters`, path)
  if (key.includes('\u0000')) throw invalid('metadata keys cannot contain NUL', path)
  return { kind: 'metadata', key }
}

function parseCondition(field: FilterField, value: unknown, path: string, counter: Counter): FilterNode {
  if (!isPlainObject(value)) return condition(field, 'eq', value, path, counter)
  const ops = Object.entries(value)
  if (ops.length === 0) throw invalid('an operator object needs at least one operator', path)
  const parts = ops.map(([op, operand]) => condition(field, op, operand, `${path}.${op}`, counter))
  return parts.length === 1 && parts[0] ? parts[0] : { kind: 'and', children: parts }
}

function condition(field: FilterField, op: string, operand: unknown, path: string, counter: Counter): FilterNode {
  if (++counter.conditions > maxConditions) throw invalid(`more than ${maxConditions} conditions`, path)
  if (!(filterOperators as readonly string[]).includes(op)) throw invalid(`unknown operator '${op}'. Operators: ${filterOperators.join(', ')}`, path)
  const type: ValueType = field.kind === 'metadata' ? 'any' : timeColumns.has(field.column) ? 'time' : 'text'
  const isTime = type === 'time'
  const operator = op as FilterOperator
  switch (operator) {
    case 'in':
    case 'nin': {
      if (!Array.isArray(operand) || operand.length === 0 || operand.length > maxListLength) {
        throw invalid(`${op} takes an array of 1-${maxListLength} values`, path)
      }
      return { kind: 'in', negated: op === 'nin', field, values: operand.map((v, i) => scalar(v, `${path}[${i}]`, type)) }
    }
    case 'contains':
    case 'icontains': {
      if (isTime) throw invalid(`${op} does not apply to a time field`, path)
      if (typeof operand !== 'string') throw invalid(`${op} takes a string`, path)
      return { kind: 'contains', caseInsensitive: op === 'icontains', field, value: checkString(operand, path) }
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (isTime) return { kind: 'compare', op: operator, field, value: timeBound(operator, timeValue(operand, path)) }
      return { kind: 'compare', op: operator, field, value: scalar(operand, path, type) }
    default:
      return { kind: 'compare', op: operator, field, value: scalar(operand, path, type) }
  }
}

function checkString(value: string, path: string): string {
  if (value.includes('\u0000')) throw invalid('values cannot contain NUL', path)
  return value
}

/** What a field holds: scope columns and role are text (a number there would be a type error in the store), metadata anything. */
type ValueType = 'time' | 'text' | 'any'

function scalar(value: unknown, path: string, type: ValueType): Scalar {
  if (type === 'time') return wholeTime(timeValue(value, path), path)
  if (typeof value === 'string') return checkString(value, path)
  if (type === 'text') throw invalid(`expected a string, got ${value === null ? 'null' : typeof value}`, path)
  if (typeof value === 'boolean') return value
  if (typeof value === 'number' && Number.isFinite(value)) return value
  throw invalid(`expected a string, a finite number or a boolean, got ${value === null ? 'null' : typeof value}`, path)
}

/** The latest epoch millisecond a Date holds (and the earliest, negated): a bound beyond it is no time. */
const maxEpochMs = 8.64e15

/**
 * A time as given: its whole epoch millisecond, and whether the instant lies a fraction of a
 * millisecond after it (`2026-01-01T00:00:00.0005Z`, `1.5`). Stored times are whole milliseconds.
 */
interface Instant {
  ms: number
  fraction: boolean
}

const isoTime = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/
const timeHint = 'expected an ISO-8601 date or date-time (2026-01-31, 2026-01-31T09:30:00Z; no offset means UTC) or epoch milliseconds as a number'

/** Times are ISO-8601 strings (checked against the calendar) or epoch milliseconds (numbers), within what a Date holds. */
function timeValue(value: unknown, path: string): Instant {
  let instant: Instant | undefined
  if (typeof value === 'number' && Number.isFinite(value)) {
    const ms = Math.floor(value)
    instant = { ms, fraction: ms !== value }
  } else if (typeof value === 'string') instant = parseIsoTime(value)
  if (!instant) throw invalid(timeHint, path)
  if (Math.abs(instant.ms) > maxEpochMs) {
    throw invalid(`a time must lie within ${-maxEpochMs} to ${maxEpochMs} epoch milliseconds (what a date holds)`, path)
  }
  return instant
}

function parseIsoTime(text: string): Instant | undefined {
  const m = isoTime.exec(text)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number]
  const digits = m[7] ?? ''
  const offset = m[8]
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59)) return undefined
  let offsetMinutes = 0
  if (offset && offset.toUpperCase() !== 'Z') {
    const [hours, minutes] = [Number(offset.slice(1, 3)), offset.length > 3 ? Number(offset.slice(-2)) : 0]
    if (hours > 23 || minutes > 59) return undefined
    offsetMinutes = (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes)
  }
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, Number(digits.slice(0, 3).padEnd(3, '0')))
  return { ms: date.getTime() - offsetMinutes * 60_000, fraction: /[1-9]/.test(digits.slice(3)) }
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** A time compared for (in)equality: stored times are whole milliseconds, so a finer one is refused rather than never (or always) matching. */
function wholeTime({ ms, fraction }: Instant, path: string): number {
  if (fraction) throw invalid('times are whole milliseconds: eq, ne, in and nin take no finer fraction', path)
  return ms
}

/**
 * A range bound on a time, in whole milliseconds: an instant a fraction after ms t lies between
 * t and t + 1, so `gte`/`lt` round it up and `gt`/`lte` down (`gte 00.5` holds from 1 on).
 */
function timeBound(op: 'gt' | 'gte' | 'lt' | 'lte', { ms, fraction }: Instant): number {
  return fraction && (op === 'gte' || op === 'lt') ? ms + 1 : ms
}
