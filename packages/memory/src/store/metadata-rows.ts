import { and, type Column, eq, type SQL, sql } from 'drizzle-orm'
import { sortedKeys } from '../metadata.js'
import type { HistoryEntry, Metadata } from '../types.js'
import type { ScopeFilter, StoreChange, StoredMemory } from './types.js'

/** What both metadata stores (SQLite, PostgreSQL) share: how journal entries and history rows are laid out. */

/**
 * How a journal entry is stored by every metadata store: the change as JSON without vectors, and
 * the vectors of inserts then updates as consecutive float32 values (a quarter of JSON's size).
 */
export interface EncodedChange {
  change: string
  vectors: Buffer
  dimensions: number
}

type SerialisedMemory = Omit<StoredMemory, 'vector'>

export function encodeChange(change: StoreChange): EncodedChange {
  const rows = [...change.inserts, ...change.updates]
  const dimensions = rows[0]?.vector.length ?? 0
  const vectors = Buffer.alloc(rows.length * dimensions * 4)
  rows.forEach((row, i) => {
    vectors.set(new Uint8Array(row.vector.buffer, row.vector.byteOffset, dimensions * 4), i * dimensions * 4)
  })
  const strip = ({ vector: _, ...rest }: StoredMemory): SerialisedMemory => rest
  return { change: JSON.stringify({ inserts: change.inserts.map(strip), updates: change.updates.map(strip), deletes: change.deletes }), vectors, dimensions }
}

export function decodeChange(entry: EncodedChange): StoreChange {
  const parsed = JSON.parse(entry.change) as { inserts: SerialisedMemory[]; updates: SerialisedMemory[]; deletes: string[] }
  const floats = new Float32Array(entry.vectors.buffer.slice(entry.vectors.byteOffset, entry.vectors.byteOffset + entry.vectors.byteLength))
  let next = 0
  const withVector = (m: SerialisedMemory): StoredMemory => {
    const vector = floats.slice(next * entry.dimensions, (next + 1) * entry.dimensions)
    next++
    return { ...m, vector }
  }
  const inserts = parsed.inserts.map(withVector)
  const updates = parsed.updates.map(withVector)
  return { inserts, updates, deletes: parsed.deletes }
}

/** A history row as both stores keep it. */
export interface HistoryRow {
  id: number
  memoryId: string
  event: HistoryEntry['event']
  previousText: string | null
  newText: string | null
  metadata: unknown
  actor: string | null
  purged: boolean
  createdAt: number
}

/**
 * A memory's events as callers get them, from its rows in stored order. An event's id is its
 * place in its memory's history (1 for the first): the stored id is one counter across every
 * tenant, whose gaps would tell a tenant how much the others write.
 */
export function toHistoryEntries(rows: readonly HistoryRow[]): HistoryEntry[] {
  return rows.map((row, at) => toHistoryEntry(row, at + 1))
}

function toHistoryEntry(row: HistoryRow, id: number): HistoryEntry {
  return {
    id,
    memoryId: row.memoryId,
    event: row.event,
    previousMemory: row.previousText,
    newMemory: row.newText,
    // PostgreSQL's jsonb reads keys back shortest first: put them in the order every other read has.
    metadata: row.metadata ? sortedKeys(row.metadata as Metadata) : null,
    actor: row.actor,
    purged: row.purged,
    createdAt: new Date(row.createdAt).toISOString(),
  }
}

/** Groups memory ids by tenant, in chunks small enough for one statement's IN list. */
export function idsByTenant(memories: ReadonlyArray<{ tenantId: string; id: string }>, chunk: number): Array<[string, string[]]> {
  const byTenant = new Map<string, string[]>()
  for (const { tenantId, id } of memories) {
    const ids = byTenant.get(tenantId)
    if (ids) ids.push(id)
    else byTenant.set(tenantId, [id])
  }
  const chunks: Array<[string, string[]]> = []
  for (const [tenantId, ids] of byTenant) {
    for (let i = 0; i < ids.length; i += chunk) chunks.push([tenantId, ids.slice(i, i + chunk)])
  }
  return chunks
}

/** History rows of a scope: its tenant, narrowed by each scope id given. */
export function historyScope(columns: { tenantId: Column; userId: Column; agentId: Column; runId: Column }, scope: ScopeFilter): SQL | undefined {
  return and(
    eq(columns.tenantId, scope.tenantId),
    scope.userId === undefined ? undefined : eq(columns.userId, scope.userId),
    scope.agentId === undefined ? undefined : eq(columns.agentId, scope.agentId),
    scope.runId === undefined ? undefined : eq(columns.runId, scope.runId),
  )
}

/** An upsert's SET that overwrites every column with the incoming row's value (both dialects name it `excluded`). */
export function overwriteAll(columns: Record<string, Column>): Record<string, SQL> {
  return Object.fromEntries(Object.entries(columns).map(([key, column]) => [key, sql.raw(`excluded.${column.name}`)]))
}
