import { fileURLToPath } from 'node:url'
import { and, asc, count, desc, eq, getTableColumns, gt, inArray, lt, lte, max, min, type SQL, sql } from 'drizzle-orm'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import { isMemoryError, type MemoryError, storageFailed, storeUnavailable } from '../errors.js'
import type { HistoryEntry } from '../types.js'
import { decodeChange, encodeChange, historyScope, idsByTenant, overwriteAll, toHistoryEntries } from './metadata-rows.js'
import { openPostgresPool } from './postgres-pool.js'
import { cluster, history, inferenceJobs, journal, manifest } from './postgres-schema.js'
import type {
  HistoryPurge,
  HistoryRecord,
  InferenceJobRecord,
  JobPage,
  Manifest,
  MetadataStore,
  MetadataTableStats,
  PendingChange,
  StoreChange,
  StoredHistoryRow,
} from './types.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle/postgres', import.meta.url))
const purgeChunk = 5_000

/**
 * The metadata store on PostgreSQL: the same tables and contract as the SQLite store, for stores
 * whose replicas run on several machines (postgres-cluster.ts says who writes). `fence` is the
 * epoch this process leads in: a journal commit checks it against the cluster row, so a deposed
 * leader cannot commit after a new one took over.
 */
export async function openPostgresMetadataStore(url: string, options: { fence?: () => number | undefined } = {}): Promise<MetadataStore> {
  const pool = openPostgresPool({ connectionString: url, max: 4 })
  try {
    const db = drizzle({ client: pool })
    // Replicas starting together would race on CREATE TABLE: one migrates at a time (the server's key store takes the same lock).
    const lock = await pool.connect()
    try {
      await lock.query(`SELECT pg_advisory_lock(hashtext('agentmem:migrations'))`)
      await migrate(db, { migrationsFolder, migrationsTable: '__agentmem_memory_migrations' })
    } finally {
      await lock.query(`SELECT pg_advisory_unlock(hashtext('agentmem:migrations'))`).catch(() => {})
      lock.release()
    }
    return new PostgresMetadataStore(db, () => pool.end(), options.fence)
  } catch (e) {
    await pool.end().catch(() => {})
    throw postgresFailed('open metadata', e)
  }
}

/**
 * Connection failures (PostgreSQL down, restarting, unreachable) are MEMORY_UNAVAILABLE: retry
 * later. Others are storage failures. drizzle wraps a failed query's error (`DrizzleQueryError`,
 * "Failed query: ...") with pg's as its `cause`, so the causes are read too.
 */
export function postgresFailed(operation: string, e: unknown): MemoryError {
  if (isMemoryError(e)) return e
  for (let error = e, depth = 0; error && depth < 4; error = (error as { cause?: unknown }).cause, depth++) {
    if (isConnectionFailure(error)) return storeUnavailable(`PostgreSQL is unreachable during ${operation}; retry shortly`, e)
  }
  return storageFailed(operation, e)
}

function isConnectionFailure(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? '')
  const message = String((e as Error)?.message ?? e)
  return (
    code.startsWith('08') ||
    code.startsWith('57P') ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)
  )
}

/**
 * All events in one statement over a JSON array (one parameter, no limit on rows), inserted in
 * array order so that history ids follow the events' order.
 */
function insertHistory(db: NodePgDatabase, events: HistoryRecord[]) {
  const rows = JSON.stringify(
    events.map((e) => [e.tenantId, e.memoryId, e.userId, e.agentId, e.runId, e.event, e.previousText, e.newText, e.metadata, e.actor, e.createdAt]),
  )
  return db.execute(sql`
    INSERT INTO ${history} (tenant_id, memory_id, user_id, agent_id, run_id, event, previous_text, new_text, metadata, actor, created_at)
    SELECT v->>0, v->>1, v->>2, v->>3, v->>4, v->>5, v->>6, v->>7, NULLIF(v->8, 'null'::jsonb), v->>9, (v->>10)::bigint
    FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(v, i) ORDER BY i`)
}

class PostgresMetadataStore implements MetadataStore {
  /** Journal entries up to here reached the vector store; those after `deletedThrough` still need deleting. */
  private appliedThrough = 0
  private deletedThrough = 0

  constructor(
    private readonly db: NodePgDatabase,
    private readonly closeClient: () => Promise<void>,
    private readonly fence: (() => number | undefined) | undefined,
  ) {}

  /** Runs a query; a lost connection becomes MEMORY_UNAVAILABLE. */
  private guard<T>(operation: string, task: () => Promise<T>): Promise<T> {
    return task().catch((e: unknown) => {
      throw postgresFailed(operation, e)
    })
  }

  async close(): Promise<void> {
    try {
      await this.deleteApplied()
    } finally {
      await this.closeClient()
    }
  }

  private async deleteApplied(): Promise<void> {
    if (this.appliedThrough <= this.deletedThrough) return
    const through = this.appliedThrough
    await this.db.delete(journal).where(lte(journal.seq, through))
    this.deletedThrough = through
  }

  getManifest(): Promise<Manifest | undefined> {
    return this.guard('getManifest', async () => {
      const [row] = await this.db.select().from(manifest).where(eq(manifest.id, 1))
      return row && { schemaVersion: row.schemaVersion, embeddingModel: row.embeddingModel, dimensions: row.dimensions, vectorTable: row.vectorTable }
    })
  }

  setManifest(m: Manifest): Promise<void> {
    return this.guard('setManifest', async () => {
      const values = { ...m, updatedAt: Date.now() }
      await this.db
        .insert(manifest)
        .values({ id: 1, ...values })
        .onConflictDoUpdate({ target: manifest.id, set: values })
    })
  }

  async beginChange(change: StoreChange, events: HistoryRecord[], purge: HistoryPurge): Promise<number> {
    const entry = encodeChange(change)
    const through = this.appliedThrough
    try {
      // One transaction: the journal entry, its history and the purge's erasures commit together or not at all.
      const seq = await this.db.transaction(async (tx) => {
        if (this.fence) {
          // FOR SHARE waits for a promotion in progress; a new epoch means another process leads now.
          const [row] = await tx.select({ epoch: cluster.epoch }).from(cluster).where(eq(cluster.id, 1)).for('share')
          if (row?.epoch === undefined || row.epoch !== this.fence())
            throw storeUnavailable('This replica no longer leads the store; retry (the write was not applied)')
        }
        const [inserted] = await tx
          .insert(journal)
          .values({ ...entry, createdAt: Date.now() })
          .returning({ seq: journal.seq })
        if (events.length > 0) await insertHistory(tx, events)
        // Right to be forgotten: the audit trail keeps that events happened, not what the memory said.
        const erase = (where: SQL | undefined) => tx.update(history).set({ previousText: null, newText: null, metadata: null, purged: true }).where(where)
        for (const scope of purge.scopes) await erase(historyScope(history, scope))
        for (const [tenantId, ids] of idsByTenant(purge.memories, purgeChunk)) {
          await erase(and(eq(history.tenantId, tenantId), inArray(history.memoryId, ids)))
        }
        if (through > this.deletedThrough) await tx.delete(journal).where(lte(journal.seq, through))
        if (inserted === undefined) throw new Error('journal insert returned no sequence number')
        return inserted.seq
      })
      this.deletedThrough = Math.max(this.deletedThrough, through)
      return seq
    } catch (e) {
      throw postgresFailed('journal commit', e)
    }
  }

  markApplied(seq: number): void {
    this.appliedThrough = Math.max(this.appliedThrough, seq)
  }

  pendingChanges(): Promise<PendingChange[]> {
    return this.guard('pendingChanges', async () => {
      const entries = await this.db.select().from(journal).orderBy(asc(journal.seq))
      return entries.map((entry) => ({ seq: entry.seq, change: decodeChange(entry) }))
    })
  }

  journalChange(seq: number): Promise<StoreChange | undefined> {
    return this.guard('journalChange', async () => {
      const [entry] = await this.db.select().from(journal).where(eq(journal.seq, seq))
      return entry && decodeChange(entry)
    })
  }

  history(tenantId: string, memoryId: string): Promise<HistoryEntry[]> {
    return this.guard('history', async () => {
      const rows = await this.db
        .select()
        .from(history)
        .where(and(eq(history.tenantId, tenantId), eq(history.memoryId, memoryId)))
        .orderBy(asc(history.id))
      return toHistoryEntries(rows)
    })
  }

  hasHistory(tenantId: string, memoryId: string): Promise<boolean> {
    return this.guard('hasHistory', async () => {
      const [row] = await this.db
        .select({ id: history.id })
        .from(history)
        .where(and(eq(history.tenantId, tenantId), eq(history.memoryId, memoryId)))
        .limit(1)
      return row !== undefined
    })
  }

  async compactErased(): Promise<void> {
    try {
      // Rewrites the tables without dead tuples (erased texts, deleted journal entries). Older
      // copies can remain in WAL segments until PostgreSQL recycles them, and in its backups and
      // standbys: docs/architecture.md says so. CHECKPOINT needs the pg_checkpoint role; without
      // it the segments are recycled at the next automatic checkpoint.
      await this.db.execute(sql`VACUUM FULL ${history}, ${journal}`)
      await this.db.execute(sql`CHECKPOINT`).catch((e: unknown) => {
        if ((e as { code?: string }).code !== '42501') throw e
      })
    } catch (e) {
      throw postgresFailed('erase', e)
    }
  }

  deleteHistory(tenantId: string): Promise<void> {
    return this.guard('deleteHistory', async () => {
      await this.db.transaction(async (tx) => {
        await tx.delete(history).where(eq(history.tenantId, tenantId))
        await tx.delete(inferenceJobs).where(eq(inferenceJobs.tenantId, tenantId))
      })
    })
  }

  createJob(job: InferenceJobRecord): Promise<void> {
    return this.guard('createJob', async () => {
      await this.db.insert(inferenceJobs).values(job)
    })
  }

  updateJob(id: string, change: Partial<Omit<InferenceJobRecord, 'id' | 'tenantId' | 'createdAt'>>): Promise<void> {
    return this.guard('updateJob', async () => {
      await this.db
        .update(inferenceJobs)
        .set({ ...change, updatedAt: Date.now() })
        .where(eq(inferenceJobs.id, id))
    })
  }

  getJob(tenantId: string, id: string): Promise<InferenceJobRecord | undefined> {
    return this.guard('getJob', async () => {
      const [row] = await this.db
        .select()
        .from(inferenceJobs)
        .where(and(eq(inferenceJobs.tenantId, tenantId), eq(inferenceJobs.id, id)))
      return row as InferenceJobRecord | undefined
    })
  }

  listJobs(tenantId: string, page: JobPage): Promise<InferenceJobRecord[]> {
    return this.guard('listJobs', async () => {
      const rows = await this.db
        .select()
        .from(inferenceJobs)
        .where(
          and(
            eq(inferenceJobs.tenantId, tenantId),
            page.status === undefined ? undefined : eq(inferenceJobs.status, page.status),
            page.beforeId === undefined ? undefined : lt(inferenceJobs.id, page.beforeId),
          ),
        )
        .orderBy(desc(inferenceJobs.id))
        .limit(page.limit)
      return rows as InferenceJobRecord[]
    })
  }

  dueJobs(now: number, limit: number): Promise<InferenceJobRecord[]> {
    return this.guard('dueJobs', async () => {
      const rows = await this.db
        .select()
        .from(inferenceJobs)
        .where(and(inArray(inferenceJobs.status, ['queued', 'pending']), lte(inferenceJobs.nextAttemptAt, now)))
        .orderBy(asc(inferenceJobs.nextAttemptAt))
        .limit(limit)
      return rows as InferenceJobRecord[]
    })
  }

  nextDueAt(): Promise<number | undefined> {
    return this.guard('nextDueAt', async () => {
      const [row] = await this.db
        .select({ at: min(inferenceJobs.nextAttemptAt) })
        .from(inferenceJobs)
        .where(inArray(inferenceJobs.status, ['queued', 'pending']))
      return row?.at ?? undefined
    })
  }

  historyRows(afterId: number, limit: number): Promise<StoredHistoryRow[]> {
    return this.guard('historyRows', async () => {
      return (await this.db.select().from(history).where(gt(history.id, afterId)).orderBy(asc(history.id)).limit(limit)) as StoredHistoryRow[]
    })
  }

  putHistoryRows(rows: StoredHistoryRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve()
    return this.guard('putHistoryRows', () =>
      this.db.transaction(async (tx) => {
        await tx
          .insert(history)
          .values(rows)
          .onConflictDoUpdate({ target: history.id, set: overwriteAll(getTableColumns(history)) })
        // Explicit ids do not move the bigserial's sequence: move it past them, so later events get new ids.
        await tx.execute(sql`SELECT setval(pg_get_serial_sequence('history', 'id'), (SELECT max(id) FROM ${history}))`)
      }),
    )
  }

  jobRows(afterId: string, limit: number): Promise<InferenceJobRecord[]> {
    return this.guard('jobRows', async () => {
      return (await this.db
        .select()
        .from(inferenceJobs)
        .where(gt(inferenceJobs.id, afterId))
        .orderBy(asc(inferenceJobs.id))
        .limit(limit)) as InferenceJobRecord[]
    })
  }

  putJobs(jobs: InferenceJobRecord[]): Promise<void> {
    if (jobs.length === 0) return Promise.resolve()
    return this.guard('putJobs', async () => {
      await this.db
        .insert(inferenceJobs)
        .values(jobs)
        .onConflictDoUpdate({ target: inferenceJobs.id, set: overwriteAll(getTableColumns(inferenceJobs)) })
    })
  }

  tableStats(): Promise<MetadataTableStats> {
    return this.guard('tableStats', async () => {
      const [h] = await this.db.select({ rows: count(), last: max(history.id) }).from(history)
      const [j] = await this.db.select({ rows: count(), last: max(inferenceJobs.id) }).from(inferenceJobs)
      return { historyRows: h?.rows ?? 0, lastHistoryId: Number(h?.last ?? 0), jobRows: j?.rows ?? 0, lastJobId: j?.last ?? undefined }
    })
  }
}
