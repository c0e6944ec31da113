/**
 * @module Page cursors of list calls (getAll, inferenceJobs): opaque, and bound to the query
 * they came from.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { MemoryError, MemoryErrorCode } from './errors.js'
import type { FilterNode } from './filters.js'
import type { ScopeFilter } from './store/types.js'

/** Cursors are opaque and bound to the query they came from: reusing one with another scope or filter is an error. */
export function queryFingerprint(scope: ScopeFilter, filter: FilterNode | undefined): string {
  return fingerprint([scope.tenantId, scope.userId ?? null, scope.agentId ?? null, scope.runId ?? null, filter ?? null, scope.currentOnly ?? false])
}

export function fingerprint(query: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(query)).digest('base64url').slice(0, 16)
}

/** The last id of a page, and the fingerprint of the query it belongs to. */
export function encodeCursor(lastId: string, query: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after: lastId, q: query })).toString('base64url')
}

/** The last id of the previous page; `returnedBy` names the call and query in the error. */
export function decodeCursor(cursor: string, query: string, returnedBy: string): string {
  const invalid = () => new MemoryError(MemoryErrorCode.InvalidCursor, `cursor is not one returned by ${returnedBy}`)
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalid()
  }
  const parsed = z.object({ v: z.literal(1), after: z.uuid(), q: z.string() }).safeParse(decoded)
  if (!parsed.success) throw invalid()
  if (parsed.data.q !== query) throw invalid()
  return parsed.data.after
}
