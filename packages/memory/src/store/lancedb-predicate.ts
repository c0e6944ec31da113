import type { FilterField, FilterNode, Scalar } from '../filters.js'
import type { ScopeFilter } from './types.js'

/**
 * Compiles scopes and parsed filters to LanceDB (DataFusion SQL) predicates. Every value goes
 * through `literal()`: a quote in a value is data, never SQL. Metadata lives in a Lance JSON
 * column and is read with the typed json_get_* functions.
 */

/** A SQL string literal: single quotes doubled. DataFusion treats backslashes in '...' literally. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

function scalarLiteral(value: Scalar): string {
  if (typeof value === 'string') return literal(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  return String(value)
}

/** The column expression for a field, typed by the value it is compared with. */
function fieldExpression(field: FilterField, value: Scalar): string {
  if (field.kind === 'column') return field.column
  const key = literal(field.key)
  if (typeof value === 'number') return `json_get_float(metadata, ${key})`
  if (typeof value === 'boolean') return `json_get_bool(metadata, ${key})`
  return `json_get_string(metadata, ${key})`
}

/** LIKE pattern for a substring match: %, _ and the escape character itself are escaped. */
function containsPattern(value: string): string {
  return literal(`%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
}

export function compileFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'and':
      return `(${node.children.map(compileFilter).join(' AND ')})`
    case 'or':
      return `(${node.children.map(compileFilter).join(' OR ')})`
    case 'not':
      // A missing field makes the inner predicate NULL; NOT NULL is NULL, so coalesce to keep NOT total.
      return `(NOT coalesce(${compileFilter(node.child)}, false))`
    case 'compare': {
      const expr = fieldExpression(node.field, node.value)
      const value = scalarLiteral(node.value)
      if (node.op === 'ne') return `(${expr} IS NULL OR ${expr} <> ${value})`
      const sqlOp = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' }[node.op]
      return `(${expr} ${sqlOp} ${value})`
    }
    case 'in': {
      // Values of different types are compared through different json_get_* functions.
      const groups = new Map<string, Scalar[]>()
      for (const value of node.values) {
        const expr = fieldExpression(node.field, value)
        groups.set(expr, [...(groups.get(expr) ?? []), value])
      }
      const parts = [...groups].map(([expr, values]) => `${expr} IN (${values.map(scalarLiteral).join(', ')})`)
      if (!node.negated) return `(${parts.join(' OR ')})`
      const exprs = [...groups.keys()]
      return `((${exprs.map((e) => `${e} IS NULL`).join(' AND ')}) OR NOT coalesce(${parts.join(' OR ')}, false))`
    }
    case 'contains': {
      const expr = fieldExpression(node.field, node.value)
      return node.caseInsensitive
        ? `(lower(${expr}) LIKE ${containsPattern(node.value.toLowerCase())} ESCAPE '\\')`
        : `(${expr} LIKE ${containsPattern(node.value)} ESCAPE '\\')`
    }
  }
}

/** The tenant predicate is always present; user / agent / run narrow it when given. */
export function compileScope(scope: ScopeFilter): string {
  const parts = [`tenant_id = ${literal(scope.tenantId)}`]
  if (scope.userId !== undefined) parts.push(`user_id = ${literal(scope.userId)}`)
  if (scope.agentId !== undefined) parts.push(`agent_id = ${literal(scope.agentId)}`)
  if (scope.runId !== undefined) parts.push(`run_id = ${literal(scope.runId)}`)
  if (scope.currentOnly) parts.push('valid_to IS NULL')
  return parts.join(' AND ')
}

export function compileWhere(scope: ScopeFilter, filter: FilterNode | undefined): string {
  const base = compileScope(scope)
  return filter ? `${base} AND ${compileFilter(filter)}` : base
}

export function inList(column: string, values: readonly string[]): string {
  return `${column} IN (${values.map(literal).join(', ')})`
}
