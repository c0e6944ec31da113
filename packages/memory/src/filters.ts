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
const maxKeyLength = 256

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
  const column = columnAliases[key]
  if (column) return { kind: 'column', column }
  throw invalid(`unknown field '${key}'. Filterable fields: ${filterableFields}; metadata keys go under { metadata: { '${key}': ... } }`, path)
}

function metadataField(key: string, path: string): FilterField {
  if (key.length === 0 || key.length > maxKeyLength) throw invalid(`metadata keys must be 1-${maxKeyLength} characters`, path)
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
  switch (op as FilterOperator) {
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
    default:
      return { kind: 'compare', op: op as ComparisonOperator, field, value: scalar(operand, path, type) }
  }
}

function checkString(value: string, path: string): string {
  if (value.includes('\u0000')) throw invalid('values cannot contain NUL', path)
  return value
}

/** What a field holds: scope columns and role are text (a number there would be a type error in the store), metadata anything. */
type ValueType = 'time' | 'text' | 'any'

function scalar(value: unknown, path: string, type: ValueType): Scalar {
  if (type === 'time') return timeValue(value, path)
  if (typeof value === 'string') return checkString(value, path)
  if (type === 'text') throw invalid(`expected a string, got ${value === null ? 'null' : typeof value}`, path)
  if (typeof value === 'boolean') return value
  if (typeof value === 'number' && Number.isFinite(value)) return value
  throw invalid(`expected a string, a finite number or a boolean, got ${value === null ? 'null' : typeof value}`, path)
}

/** Times are ISO-8601 strings or epoch milliseconds. */
function timeValue(value: unknown, path: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN
  if (!Number.isFinite(ms)) throw invalid('expected an ISO-8601 date or epoch milliseconds', path)
  return Math.trunc(ms)
}
