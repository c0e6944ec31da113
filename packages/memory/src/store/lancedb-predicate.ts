import type { ComparisonOperator, FilterColumn, FilterNode, Scalar } from '../filters.js'
import type { ScopeFilter } from './types.js'

/**
 * Compiles scopes and parsed filters to LanceDB (DataFusion SQL) predicates. Every value goes
 * through `literal()`: a quote in a value is data, never SQL.
 *
 * Metadata lives in a Lance JSON column (JSONB). The typed json_get_string/float/bool functions
 * fail the whole query on a value they cannot convert (a list, an object), and convert others
 * silently ("3" is 3), so metadata conditions never use them: a value is read as JSONB
 * (`json_get`), and tested with typed JSONPath predicates or on its JSON text. A value of another
 * type simply does not match. Semantics: docs/http-api.md#filters.
 */

/** A SQL string literal: single quotes doubled. DataFusion treats backslashes in '...' literally. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

function columnLiteral(value: Scalar): string {
  return typeof value === 'string' ? literal(value) : String(value)
}

/** LIKE pattern for a substring match: %, _ and the escape character itself are escaped. */
function containsPattern(value: string): string {
  return literal(`%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
}

const sqlOperators: Record<ComparisonOperator, string> = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' }
const pathOperators = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const
type PathOperator = keyof typeof pathOperators
/** A condition on one field (not AND / OR / NOT). */
type Condition = Exclude<FilterNode, { kind: 'and' | 'or' | 'not' }>

/** A condition is NULL when its key is missing: negations coalesce it so NOT stays total. */
const not = (predicate: string) => `(NOT coalesce(${predicate}, false))`

/** The metadata value under `key` as JSONB, NULL when the key is missing. */
const jsonb = (key: string) => `json_get(metadata, ${literal(key)})`
/** Its JSON text, which Lance writes as JSON.stringify does: strings quoted and escaped, lists as [...]. */
const jsonText = (key: string) => `json_extract(${jsonb(key)}, '$')`

/**
 * A JSONPath literal. Numbers are written `.25e1`: the path parser reads a leading integer part as
 * an integer and then fails on the fraction ("2.5"). Empty strings have no JSONPath literal.
 */
function pathLiteral(value: number | boolean | string): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'boolean') return String(value)
  if (value === 0) return '.0e0'
  const [mantissa = '', exponent = '0'] = Math.abs(value).toExponential().split('e')
  return `${value < 0 ? '-' : ''}.${mantissa.replace('.', '')}e${Number(exponent) + 1}`
}

/**
 * A typed JSONPath test, for scalars only (this engine's lax mode compares a list's elements only
 * up to the first one of another type, and lists never take part in an ordering anyway).
 */
function pathTest(key: string, op: PathOperator, value: number | boolean | string): string {
  return `(json_exists(${jsonb(key)}, ${literal(`$ ? (@ ${pathOperators[op]} ${pathLiteral(value)})`)}) AND ${jsonText(key)} NOT LIKE '[%')`
}

/** The JSON text with every string replaced by "", so that text inside strings cannot match. */
const withoutStrings = (key: string) => `regexp_replace(${jsonText(key)}, '"(?:[^"\\\\]|\\\\.)*"', '""', 'g')`

/** Escapes Rust regex syntax. */
const regexLiteral = (text: string) => text.replace(/[\\.+*?()|[\]{}^$#&\-~]/g, '\\$&')

/** How Lance may write a value: numbers it holds as floats come in exponent form (2 ** 64 is 1.8446744073709552e+19, 1e-6 is 1e-6). */
const jsonTexts = (value: Scalar) => (typeof value === 'number' ? [JSON.stringify(value), value.toExponential()] : [JSON.stringify(value)])

/**
 * `eq` / `in`: a scalar equal to one of the values (same type: 1 and 1.0 are equal, 1 and "1" are
 * not), or a list that holds one, itself or in a list inside it. One pass per row, whatever the
 * number of values: in compact JSON text an array element is a whole token right after `[` or `,`
 * and right before `,` or `]` (an object's keys and values sit after `{` or `:`). Strings are
 * matched on the text as is (inside a string a quote is always escaped, so `,"` starts a token);
 * other values on the text with its strings blanked, so that "3" cannot pass for 3.
 */
function metadataIn(key: string, values: readonly Scalar[]): string {
  const text = jsonText(key)
  const strings = [...new Set(values.filter((v) => typeof v === 'string').map((v) => JSON.stringify(v)))]
  const others = [...new Set(values.filter((v) => typeof v !== 'string').flatMap(jsonTexts))]
  const element = (subject: string, texts: string[]) => `regexp_like(${subject}, ${literal(`[\\[,](?:${texts.map(regexLiteral).join('|')})[,\\]]`)})`
  const inLists = [strings.length > 0 ? element(text, strings) : '', others.length > 0 ? element(withoutStrings(key), others) : ''].filter(Boolean)
  return `(${text} IN (${[...strings, ...others].map(literal).join(', ')}) OR (${text} LIKE '[%' AND (${inLists.join(' OR ')})))`
}

/** gt / gte / lt / lte: a scalar of the value's type only, never a list's elements. */
function metadataOrder(key: string, op: PathOperator, value: Scalar): string {
  const text = jsonText(key)
  if (value === '') {
    // JSONPath cannot write "", the least string: every other string is greater.
    const isString = `${text} LIKE '"%'`
    return { gt: `(${isString} AND ${text} <> '""')`, gte: `(${isString})`, lt: '(false)', lte: `(${text} = '""')` }[op]
  }
  return pathTest(key, op, value)
}

/** A whole character of JSON string text: a plain character or one escape sequence. */
const jsonCharacter = String.raw`(?:[^"\\]|\\u[0-9a-fA-F]{4}|\\[^u])`

/**
 * `text` (JSON text) is a string holding `value`. Matching escaped text against escaped text is
 * exact only from a character boundary (a newline is `\n`, which holds an `n`), so the pattern
 * walks whole characters from the opening quote.
 */
function jsonStringContains(text: string, value: string): string {
  const escaped = JSON.stringify(value).slice(1, -1)
  const pattern = `^"${jsonCharacter}*${regexLiteral(escaped)}`
  return `regexp_like(${text}, ${literal(pattern)})`
}

function compileMetadata(node: Condition, key: string): string {
  switch (node.kind) {
    case 'compare':
      if (node.op === 'eq') return metadataIn(key, [node.value])
      if (node.op === 'ne') return not(metadataIn(key, [node.value]))
      return metadataOrder(key, node.op, node.value)
    case 'in':
      return node.negated ? not(metadataIn(key, node.values)) : metadataIn(key, node.values)
    case 'contains':
      // A string holds the text; a list holds the element. icontains reads strings only.
      return node.caseInsensitive
        ? `(${jsonStringContains(`lower(${jsonText(key)})`, node.value.toLowerCase())})`
        : `(${jsonStringContains(jsonText(key), node.value)} OR ${metadataIn(key, [node.value])})`
  }
}

function compileColumn(node: Condition, column: FilterColumn): string {
  switch (node.kind) {
    case 'compare': {
      const value = columnLiteral(node.value)
      if (node.op === 'ne') return `(${column} IS NULL OR ${column} <> ${value})`
      return `(${column} ${sqlOperators[node.op]} ${value})`
    }
    case 'in': {
      const list = `${column} IN (${node.values.map(columnLiteral).join(', ')})`
      return node.negated ? `(${column} IS NULL OR NOT (${list}))` : `(${list})`
    }
    case 'contains':
      return node.caseInsensitive
        ? `(lower(${column}) LIKE ${containsPattern(node.value.toLowerCase())} ESCAPE '\\')`
        : `(${column} LIKE ${containsPattern(node.value)} ESCAPE '\\')`
  }
}

export function compileFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'and':
      return `(${node.children.map(compileFilter).join(' AND ')})`
    case 'or':
      return `(${node.children.map(compileFilter).join(' OR ')})`
    case 'not':
      return not(compileFilter(node.child))
    default:
      return node.field.kind === 'metadata' ? compileMetadata(node, node.field.key) : compileColumn(node, node.field.column)
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
