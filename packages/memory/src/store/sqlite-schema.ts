import { blob, index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/** Drizzle tables of the SQLite metadata store. Change them, then run `pnpm db:generate`. */

/** One row: what the store was built with (embedding model and dimensions, schema version, vector table). */
export const manifest = sqliteTable('manifest', {
  id: integer('id').primaryKey(),
  schemaVersion: integer('schema_version').notNull(),
  embeddingModel: text('embedding_model').notNull(),
  dimensions: integer('dimensions').notNull(),
  vectorTable: text('vector_table').notNull(),
  updatedAt: integer('updated_at').notNull(),
})

/**
 * The audit trail: one row per ADD / UPDATE / DELETE / SUPERSEDE, kept after a plain delete. The
 * scope columns let a scope purge (`deleteAll` with purge) reach memories deleted earlier; rows
 * written before they existed are null there.
 */
export const history = sqliteTable(
  'history',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: text('tenant_id').notNull(),
    memoryId: text('memory_id').notNull(),
    userId: text('user_id'),
    agentId: text('agent_id'),
    runId: text('run_id'),
    event: text('event', { enum: ['ADD', 'UPDATE', 'DELETE', 'SUPERSEDE'] }).notNull(),
    previousText: text('previous_text'),
    newText: text('new_text'),
    metadata: text('metadata', { mode: 'json' }),
    actor: text('actor'),
    purged: integer('purged', { mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('history_memory_idx').on(t.tenantId, t.memoryId, t.id)],
)

/**
 * Write-ahead journal of vector-store changes. An entry commits with its history events, is applied
 * to the vector store, then deleted; entries left after a crash are replayed on open.
 */
export const journal = sqliteTable('journal', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  /** StoreChange without vectors, as JSON. */
  change: text('change').notNull(),
  /** The vectors of inserts then updates, as consecutive float32 values. */
  vectors: blob('vectors', { mode: 'buffer' }).notNull(),
  dimensions: integer('dimensions').notNull(),
  createdAt: integer('created_at').notNull(),
})

/**
 * Inference jobs: the input of every `add(..., { infer: true })`, durable before any LLM call, so
 * a failed or crashed extraction is retried instead of lost. `rawMemoryIds`: the input stored
 * as is while extraction is pending (superseded once it succeeds).
 */
export const inferenceJobs = sqliteTable(
  'inference_jobs',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    status: text('status', { enum: ['queued', 'pending', 'done', 'failed'] }).notNull(),
    /** Scope, messages and options of the add, as JSON. */
    input: text('input', { mode: 'json' }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    rawMemoryIds: text('raw_memory_ids', { mode: 'json' }),
    result: text('result', { mode: 'json' }),
    lastError: text('last_error', { mode: 'json' }),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    index('inference_jobs_due_idx').on(t.status, t.nextAttemptAt),
    // A tenant's jobs newest first (ids are uuidv7), all of them or those of one status.
    index('inference_jobs_tenant_idx').on(t.tenantId, t.id),
    index('inference_jobs_tenant_status_idx').on(t.tenantId, t.status, t.id),
  ],
)

/**
 * Empty but for a moment at open: a row of zeros committed and deleted there grows the WAL file to
 * the size it reaches between checkpoints (SqliteMetadataStore, `reserveWal`).
 */
export const walReserve = sqliteTable('wal_reserve', {
  id: integer('id').primaryKey(),
  pad: blob('pad', { mode: 'buffer' }).notNull(),
})
