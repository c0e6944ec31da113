import { statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createClient } from '@libsql/client'
import { and, asc, count, desc, eq, fillPlaceholders, getTableColumns, gt, inArray, lt, lte, max, min, type Query, type SQL, sql } from 'drizzle-orm'
import { drizzle, type LibSQLDatabase } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'
import { SQLiteAsyncDialect } from 'drizzle-orm/sqlite-core'
import Database from 'libsql'
import { storageFailed } from '../errors.js'
import type { HistoryEntry } from '../types.js'
import { decodeChange, encodeChange, historyScope, idsByTenant, overwriteAll, toHistoryEntries } from './metadata-rows.js'
import { history, inferenceJobs, journal, manifest, walReserve } from './sqlite-schema.js'
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

// The same relative path from src/store and dist/store.
const migrationsFolder = fileURLToPath(new URL('../../drizzle/sqlite', import.meta.url))
const purgeChunk = 500

/** The only module that touches SQLite: history, manifest and the write journal, through drizzle. */
export async function openSqliteMetadataStore(file: string): Promise<MetadataStore> {
  // One connection for drizzle's queries, so the PRAGMAs below hold for every statement (the
  // journal commit has its own, with the same PRAGMAs: JournalCommits).
  const client = createClient({ url: `file:${file}`, concurrency: 1 })
  let journal: JournalCommits | undefined
  try {
    // WAL lets readers run during a commit; FULL syncs every commit, so an acknowledged write survives a crash.
    await client.execute('PRAGMA journal_mode = WAL')
    await client.execute('PRAGMA synchronous = FULL')
    await client.execute('PRAGMA busy_timeout = 5000')
    const db = drizzle(client)
    await migrate(db, { migrationsFolder })
    journal = new JournalCommits(file, db)
    journal.reserveWal()
    return new SqliteMetadataStore(db, journal, () => client.close())
  } catch (e) {
    journal?.close()
    client.close()
    throw storageFailed('open metadata', e)
  }
}

const historyColumns = [
  history.tenantId,
  history.memoryId,
  history.userId,
  history.agentId,
  history.runId,
  history.event,
  history.previousText,
  history.newText,
  history.metadata,
  history.actor,
  history.createdAt,
] as const

/**
 * All events of a commit as one statement over a JSON array (`rows`): drizzle's multi-row insert
 * builder costs ~25 ms of CPU per 1,000 rows, SQLite's json_each a fraction of that, and one
 * parameter has no variable limit.
 */
function insertHistory(): Query {
  const names = sql.join(
    historyColumns.map((c) => sql.identifier(c.name)),
    sql`, `,
  )
  // `value ->> i` is element i as SQL text/integer (an object comes back as its JSON text, as drizzle's json mode stores it).
  const values = sql.join(
    historyColumns.map((_, i) => sql.raw(`value ->> ${i}`)),
    sql`, `,
  )
  return new SQLiteAsyncDialect().sqlToQuery(sql`INSERT INTO ${history} (${names}) SELECT ${values} FROM json_each(${sql.placeholder('rows')})`)
}

function historyRowsJson(events: HistoryRecord[]): string {
  return JSON.stringify(
    events.map((e) => [e.tenantId, e.memoryId, e.userId, e.agentId, e.runId, e.event, e.previousText, e.newText, e.metadata, e.actor, e.createdAt]),
  )
}

/** A statement prepared once, with drizzle's query (its placeholders say which value binds where). */
interface Prepared {
  query: Query
  statement: Database.Statement
}

function run({ query, statement }: Prepared, values: Record<string, unknown>) {
  return statement.run(fillPlaceholders(query.params, values))
}

/**
 * The journal commit, every write's durability point, on a second, native connection to the same
 * file with its statements prepared once. Through @libsql/client each commit built its SQL in
 * drizzle and prepared every statement again, ~25% of a sequential add's CPU (profiled; the
 * fsync is the floor). drizzle still writes the SQL, once. Both connections run each of their
 * transactions in one synchronous call, so they never interleave; SQLite orders their writes.
 * Keep it so: an interactive (async) transaction on the drizzle connection would hold the write
 * lock across awaits, and a journal commit would then block the event loop for the busy timeout
 * and fail. Both connections must load the same copy of libsql (one SQLite library per process
 * and file, or POSIX locks break); sqlite-journal.int.test.ts checks it.
 */
class JournalCommits {
  private readonly db: Database.Database
  private readonly insertEntry: Prepared
  private readonly insertHistory: Prepared
  private readonly deleteEntries: Prepared
  private readonly insertReserve: Prepared
  private readonly deleteReserve: Prepared

  constructor(
    private readonly file: string,
    drizzleDb: LibSQLDatabase,
  ) {
    this.db = new Database(file)
    try {
      // PRAGMAs hold per connection (WAL is the file's, set by the first).
      this.db.exec('PRAGMA synchronous = FULL')
      this.db.exec('PRAGMA busy_timeout = 5000')
      const prepared = (query: Query): Prepared => ({ query, statement: this.db.prepare(query.sql) })
      this.insertEntry = prepared(
        drizzleDb
          .insert(journal)
          .values({
            change: sql.placeholder('change'),
            vectors: sql.placeholder('vectors'),
            dimensions: sql.placeholder('dimensions'),
            createdAt: sql.placeholder('createdAt'),
          })
          .returning({ seq: journal.seq })
          .toSQL(),
      )
      this.insertHistory = prepared(insertHistory())
      this.deleteEntries = prepared(
        drizzleDb
          .delete(journal)
          .where(lte(journal.seq, sql.placeholder('through')))
          .toSQL(),
      )
      this.insertReserve = prepared(
        drizzleDb
          .insert(walReserve)
          .values({ id: 1, pad: sql`zeroblob(${sql.placeholder('bytes')})` })
          .toSQL(),
      )
      this.deleteReserve = prepared(drizzleDb.delete(walReserve).toSQL())
    } catch (e) {
      this.db.close()
      throw e
    }
  }

  /** One transaction: the entry, its history events, these other statements, and the deletion of entries up to `deleteThrough`. */
  commit(entry: Record<string, unknown>, events: HistoryRecord[], also: Query[], deleteThrough: number | undefined): number {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const { query, statement } = this.insertEntry
      const row = statement.get(fillPlaceholders(query.params, entry)) as { seq?: number } | undefined
      if (row?.seq === undefined) throw new Error('journal insert returned no sequence number')
      if (events.length > 0) run(this.insertHistory, { rows: historyRowsJson(events) })
      for (const other of also) this.db.prepare(other.sql).run(other.params)
      if (deleteThrough !== undefined) this.deleteThrough(deleteThrough)
      this.db.exec('COMMIT')
      return row.seq
    } catch (e) {
      // SQLite may have rolled back already (a full disk, an I/O error): a second ROLLBACK would hide the cause.
      if (this.db.inTransaction) this.db.exec('ROLLBACK')
      throw e
    }
  }

  /**
   * Grows the WAL file, if smaller, to the size it reaches between two automatic checkpoints: a
   * row of zeros that size is committed and deleted, and a checkpoint lets the next commit start
   * over at the file's beginning. A WAL starts empty at every open (and after a purge's
   * truncation), and a commit that grows the file syncs its new size too: a bare commit took
   * 0.54-0.82 ms p50 against 0.29-0.36 in a WAL grown first, and sequential adds, whose floor is
   * that commit, ran 670-784/s against 819-981 (alternated probe, 200 adds after 5 in a fresh store;
   * docs/benchmarks/mem0.findings.md). Costs one ~4 MB write at open; the pages it used go to
   * SQLite's free list (as zeros) for later rows. Only an optimisation: a failure (a full disk)
   * leaves commits as they were.
   */
  reserveWal(): void {
    try {
      // A row a crash left between the two commits below.
      run(this.deleteReserve, {})
      const { journal_mode: mode } = this.db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }
      if (mode !== 'wal') return
      const size = statSync(`${this.file}-wal`, { throwIfNoEntry: false })?.size ?? 0
      const { page_size: pageSize } = this.db.prepare('PRAGMA page_size').get() as { page_size: number }
      const { wal_autocheckpoint: pages } = this.db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }
      const bytes = pages * pageSize
      if (bytes <= 0 || size >= bytes) return
      run(this.insertReserve, { bytes })
      run(this.deleteReserve, {})
      this.db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get()
    } catch {
      // The next commit's own write says what is wrong, if anything still is.
    }
  }

  /** Deletes the entries up to `seq` (applied to the vector store). */
  deleteThrough(seq: number): void {
    run(this.deleteEntries, { through: seq })
  }

  close(): void {
    this.db.close()
  }
}

class SqliteMetadataStore implements MetadataStore {
  /** Journal entries up to here reached the vector store; those after `deletedThrough` still need deleting. */
  private appliedThrough = 0
  private deletedThrough = 0

  constructor(
    private readonly db: LibSQLDatabase,
    private readonly journal: JournalCommits,
    private readonly closeClient: () => void,
  ) {}

  async close(): Promise<void> {
    try {
      // Entries applied since the last commit (which deletes those before it).
      if (this.appliedThrough > this.deletedThrough) this.journal.deleteThrough(this.appliedThrough)
    } finally {
      this.journal.close()
      this.closeClient()
    }
  }

  async getManifest(): Promise<Manifest | undefined> {
    const [row] = await this.db.select().from(manifest).where(eq(manifest.id, 1))
    return row && { schemaVersion: row.schemaVersion, embeddingModel: row.embeddingModel, dimensions: row.dimensions, vectorTable: row.vectorTable }
  }

  async createJob(job: InferenceJobRecord): Promise<void> {
    await this.db.insert(inferenceJobs).values(job)
  }

  async updateJob(id: string, change: Partial<Omit<InferenceJobRecord, 'id' | 'tenantId' | 'createdAt'>>): Promise<void> {
    await this.db
      .update(inferenceJobs)
      .set({ ...change, updatedAt: Date.now() })
      .where(eq(inferenceJobs.id, id))
  }

  async getJob(tenantId: string, id: string): Promise<InferenceJobRecord | undefined> {
    const [row] = await this.db
      .select()
      .from(inferenceJobs)
      .where(and(eq(inferenceJobs.tenantId, tenantId), eq(inferenceJobs.id, id)))
    return row as InferenceJobRecord | undefined
  }

  async listJobs(tenantId: string, page: JobPage): Promise<InferenceJobRecord[]> {
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
  }

  async dueJobs(now: number, limit: number): Promise<InferenceJobRecord[]> {
    const rows = await this.db
      .select()
      .from(inferenceJobs)
      .where(and(inArray(inferenceJobs.status, ['queued', 'pending']), lte(inferenceJobs.nextAttemptAt, now)))
      .orderBy(asc(inferenceJobs.nextAttemptAt))
      .limit(limit)
    return rows as InferenceJobRecord[]
  }

  async nextDueAt(): Promise<number | undefined> {
    const [row] = await this.db
      .select({ at: min(inferenceJobs.nextAttemptAt) })
      .from(inferenceJobs)
      .where(inArray(inferenceJobs.status, ['queued', 'pending']))
    return row?.at ?? undefined
  }

  async setManifest(m: Manifest): Promise<void> {
    const values = { ...m, updatedAt: Date.now() }
    await this.db
      .insert(manifest)
      .values({ id: 1, ...values })
      .onConflictDoUpdate({ target: manifest.id, set: values })
  }

  async beginChange(change: StoreChange, events: HistoryRecord[], purge: HistoryPurge): Promise<number> {
    const entry = encodeChange(change)
    // Right to be forgotten: the audit trail keeps that events happened, not what the memory said.
    const erase = (where: SQL | undefined) =>
      this.db.update(history).set({ previousText: null, newText: null, metadata: null, purged: true }).where(where).toSQL()
    const purgeUpdates = [
      ...purge.scopes.map((scope) => erase(historyScope(history, scope))),
      ...idsByTenant(purge.memories, purgeChunk).map(([tenantId, ids]) => erase(and(eq(history.tenantId, tenantId), inArray(history.memoryId, ids)))),
    ]
    const through = this.appliedThrough
    try {
      // One transaction: the journal entry and its history commit together or not at all.
      const seq = this.journal.commit({ ...entry, createdAt: Date.now() }, events, purgeUpdates, through > this.deletedThrough ? through : undefined)
      this.deletedThrough = Math.max(this.deletedThrough, through)
      return seq
    } catch (e) {
      throw storageFailed('journal commit', e)
    }
  }

  markApplied(seq: number): void {
    this.appliedThrough = Math.max(this.appliedThrough, seq)
  }

  async pendingChanges(): Promise<PendingChange[]> {
    const entries = await this.db.select().from(journal).orderBy(asc(journal.seq))
    return entries.map((entry) => ({ seq: entry.seq, change: decodeChange(entry) }))
  }

  async journalChange(seq: number): Promise<StoreChange | undefined> {
    const [entry] = await this.db.select().from(journal).where(eq(journal.seq, seq))
    return entry && decodeChange(entry)
  }

  async history(tenantId: string, memoryId: string): Promise<HistoryEntry[]> {
    const rows = await this.db
      .select()
      .from(history)
      .where(and(eq(history.tenantId, tenantId), eq(history.memoryId, memoryId)))
      .orderBy(asc(history.id))
    return toHistoryEntries(rows)
  }

  async hasHistory(tenantId: string, memoryId: string): Promise<boolean> {
    const [row] = await this.db
      .select({ id: history.id })
      .from(history)
      .where(and(eq(history.tenantId, tenantId), eq(history.memoryId, memoryId)))
      .limit(1)
    return row !== undefined
  }

  async compactErased(): Promise<void> {
    try {
      // Deleted rows (a plain delete's history is kept, but applied journal entries, which hold
      // texts, are deleted) leave their bytes in free pages. secure_delete would zero them at
      // every commit, which tripled the cost of each synced write (0.5 -> 1.9 ms); a purge is rare
      // and explicit, so it rewrites the file without free pages instead, then empties the WAL
      // (and grows it again: its zeros then sit in free pages, which holds no text).
      await this.db.run(sql`VACUUM`)
      await this.db.run(sql`PRAGMA wal_checkpoint(TRUNCATE)`)
      this.journal.reserveWal()
    } catch (e) {
      throw storageFailed('erase', e)
    }
  }

  async deleteHistory(tenantId: string): Promise<void> {
    await this.db.delete(history).where(eq(history.tenantId, tenantId))
    await this.db.delete(inferenceJobs).where(eq(inferenceJobs.tenantId, tenantId))
  }

  async historyRows(afterId: number, limit: number): Promise<StoredHistoryRow[]> {
    return (await this.db.select().from(history).where(gt(history.id, afterId)).orderBy(asc(history.id)).limit(limit)) as StoredHistoryRow[]
  }

  async putHistoryRows(rows: StoredHistoryRow[]): Promise<void> {
    // Explicit ids above the AUTOINCREMENT counter move it, so later events get new ids.
    if (rows.length > 0)
      await this.db
        .insert(history)
        .values(rows)
        .onConflictDoUpdate({ target: history.id, set: overwriteAll(getTableColumns(history)) })
  }

  async jobRows(afterId: string, limit: number): Promise<InferenceJobRecord[]> {
    return (await this.db.select().from(inferenceJobs).where(gt(inferenceJobs.id, afterId)).orderBy(asc(inferenceJobs.id)).limit(limit)) as InferenceJobRecord[]
  }

  async putJobs(jobs: InferenceJobRecord[]): Promise<void> {
    if (jobs.length > 0)
      await this.db
        .insert(inferenceJobs)
        .values(jobs)
        .onConflictDoUpdate({ target: inferenceJobs.id, set: overwriteAll(getTableColumns(inferenceJobs)) })
  }

  async tableStats(): Promise<MetadataTableStats> {
    const [h] = await this.db.select({ rows: count(), last: max(history.id) }).from(history)
    const [j] = await this.db.select({ rows: count(), last: max(inferenceJobs.id) }).from(inferenceJobs)
    return { historyRows: h?.rows ?? 0, lastHistoryId: h?.last ?? 0, jobRows: j?.rows ?? 0, lastJobId: j?.last ?? undefined }
  }
}
