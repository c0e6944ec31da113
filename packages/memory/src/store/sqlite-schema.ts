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

/** The audit trail: one row per ADD / UPDATE / DELETE, kept after a plain delete. */
export const history = sqliteTable(
  'history',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: text('tenant_id').notNull(),
    memoryId: text('memory_id').notNull(),
    event: text('event', { enum: ['ADD', 'UPDATE', 'DELETE'] }).notNull(),
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
