import { MemoryError, MemoryErrorCode, parseFilters } from '@agentmem/memory'
import { scopeOf } from './schemas.js'

type Filters = Record<string, unknown>

/** Columns that always hold text when present, so Mem0's `*` (present, any value) is `>= ''` on them. */
const wildcardColumns = new Set(['user_id', 'userId', 'agent_id', 'agentId', 'run_id', 'runId', 'role'])

/**
 * Reads Mem0-style filters for the engine, for both routers: the scope ids they name (top level or
 * under a top-level `AND`, as Mem0 clients scope a search), and the filters with Mem0's `*` wildcard
 * made explicit. The scope ids stay in the filters too, where they are redundant but exact.
 */
export function readFilters(filters: Filters | undefined): { scope: ReturnType<typeof scopeOf>; filters: Filters | undefined } {
  if (filters === undefined) return { scope: {}, filters: undefined }
  // The engine's own check first (operators, nesting depth): the walk below recurses, and a filter
  // nested thousands deep would overflow the stack (a 500) instead of answering 400.
  parseFilters(filters)
  const ids: Record<string, string> = {}
  const take = (node: unknown) => {
    if (!isObject(node)) return
    for (const key of ['user_id', 'agent_id', 'run_id']) {
      const value = node[key]
      if (typeof value === 'string' && value !== '*') ids[key] = value
    }
  }
  take(filters)
  const and = filters['AND']
  if (Array.isArray(and)) for (const child of and) take(child)
  return { scope: scopeOf(ids), filters: expandWildcards(filters, '') as Filters }
}

/** `{ field: '*' }` becomes "field present"; where that cannot be expressed, a typed 400, never an empty result. */
function expandWildcards(node: unknown, path: string, inMetadata = false): unknown {
  if (Array.isArray(node)) return node.map((child, i) => expandWildcards(child, `${path}[${i}]`, inMetadata))
  if (!isObject(node)) return node
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => {
      const at = path ? `${path}.${key}` : key
      if (key === 'AND' || key === 'OR' || key === 'NOT') return [key, expandWildcards(value, at, inMetadata)]
      if (key === 'metadata' && !inMetadata) return [key, expandWildcards(value, at, true)]
      if (value !== '*') return [key, value]
      if (wildcardColumns.has(key) && !inMetadata) return [key, { gte: '' }]
      throw new MemoryError(MemoryErrorCode.InvalidFilter, `Invalid filter at ${at}: '*' (any value) works on user_id, agent_id, run_id and role only`, {
        details: { path: at },
      })
    }),
  )
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
