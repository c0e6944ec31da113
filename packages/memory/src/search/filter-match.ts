import type { FilterColumn, FilterNode, Scalar } from '../filters.js'
import type { ScopeFilter, StoredMemory } from '../store/types.js'

/**
 * Parsed filters evaluated on a memory in process: the resident index's twin of
 * store/lancedb-predicate.ts, with the same documented semantics (docs/http-api.md#filters). SQL's
 * NULL (a missing key, a null column) only ever makes a condition false here: the store coalesces
 * NULL to false under every NOT, so two-valued logic gives the same rows. The property test
 * (test/filters-property.int.test.ts) holds both to one reference.
 */
export function matchesFilter(memory: StoredMemory, filter: FilterNode): boolean {
  switch (filter.kind) {
    case 'and':
      return filter.children.every((child) => matchesFilter(memory, child))
    case 'or':
      return filter.children.some((child) => matchesFilter(memory, child))
    case 'not':
      return !matchesFilter(memory, filter.child)
    default:
      return filter.field.kind === 'metadata'
        ? matchesMetadata(Object.hasOwn(memory.metadata, filter.field.key) ? memory.metadata[filter.field.key] : undefined, filter)
        : matchesColumn(columnValue(memory, filter.field.column), filter)
  }
}

/** The scope part of a read: tenant, the given user / agent / run, and current rows unless asked otherwise. */
export function inScope(memory: StoredMemory, scope: ScopeFilter): boolean {
  return (
    memory.tenantId === scope.tenantId &&
    (scope.userId === undefined || memory.userId === scope.userId) &&
    (scope.agentId === undefined || memory.agentId === scope.agentId) &&
    (scope.runId === undefined || memory.runId === scope.runId) &&
    (!scope.currentOnly || memory.validTo === null)
  )
}

/** Whether two scope filters can match a row in common (an absent id matches any). */
export function scopesOverlap(a: ScopeFilter, b: ScopeFilter): boolean {
  return (
    a.tenantId === b.tenantId &&
    (a.userId === undefined || b.userId === undefined || a.userId === b.userId) &&
    (a.agentId === undefined || b.agentId === undefined || a.agentId === b.agentId) &&
    (a.runId === undefined || b.runId === undefined || a.runId === b.runId)
  )
}

type Condition = Exclude<FilterNode, { kind: 'and' | 'or' | 'not' }>

function columnValue(memory: StoredMemory, column: FilterColumn): string | number | null {
  switch (column) {
    case 'user_id':
      return memory.userId
    case 'agent_id':
      return memory.agentId
    case 'run_id':
      return memory.runId
    case 'role':
      return memory.role
    case 'created_at':
      return memory.createdAt
    case 'updated_at':
      return memory.updatedAt
  }
}

/** The store compares text as UTF-8 bytes; JavaScript's `<` compares UTF-16 code units. */
function compare(a: string | number | boolean, b: Scalar): number {
  if (typeof a === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b as string))
  return Number(a) - Number(b)
}

function ordered(op: 'gt' | 'gte' | 'lt' | 'lte', order: number): boolean {
  return op === 'gt' ? order > 0 : op === 'gte' ? order >= 0 : op === 'lt' ? order < 0 : order <= 0
}

/** Columns: SQL on a typed column. `ne` / `nin` also hold for a null column (the compiled predicate says so). */
function matchesColumn(value: string | number | null, node: Condition): boolean {
  switch (node.kind) {
    case 'compare':
      if (node.op === 'ne') return value === null || value !== node.value
      if (value === null) return false
      return node.op === 'eq' ? value === node.value : ordered(node.op, compare(value, node.value))
    case 'in':
      return node.negated ? value === null || !node.values.includes(value) : value !== null && node.values.includes(value)
    case 'contains':
      if (typeof value !== 'string') return false
      return node.caseInsensitive ? value.toLowerCase().includes(node.value.toLowerCase()) : value.includes(node.value)
  }
}

type Json = unknown

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v)
/** A list's elements, and those of every list inside it (also inside its objects). */
const elements = (list: Json[]): Json[] => list.flatMap((e) => (Array.isArray(e) ? elements(e) : isObject(e) ? listsIn(e) : [e]))
const listsIn = (object: Record<string, Json>): Json[] => Object.values(object).flatMap((v) => (Array.isArray(v) ? elements(v) : isObject(v) ? listsIn(v) : []))
/** Same type and value: 1 and 1.0 are equal, 1 and "1" are not. */
const same = (v: Json, x: Scalar) => typeof v === typeof x && v === x
const equals = (v: Json, x: Scalar) => (Array.isArray(v) ? elements(v).some((e) => same(e, x)) : same(v, x))

/** Metadata: a scalar equal to the value, or a list holding it; orderings compare two scalars of one type only. */
function matchesMetadata(value: Json, node: Condition): boolean {
  switch (node.kind) {
    case 'compare': {
      if (node.op === 'eq') return equals(value, node.value)
      if (node.op === 'ne') return !equals(value, node.value)
      if (typeof value !== typeof node.value || typeof value === 'object') return false
      return ordered(node.op, compare(value as Scalar, node.value))
    }
    case 'in': {
      const found = node.values.some((x) => equals(value, x))
      return node.negated ? !found : found
    }
    case 'contains':
      if (node.caseInsensitive) return typeof value === 'string' && value.toLowerCase().includes(node.value.toLowerCase())
      return typeof value === 'string' ? value.includes(node.value) : equals(value, node.value)
  }
}
