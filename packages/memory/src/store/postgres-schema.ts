import { bigint, bigserial, boolean, customType, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core'

/**
 * Drizzle tables of the PostgreSQL metadata store: the same tables as sqlite-schema.ts (see the
 * comments there), in PostgreSQL's types. Change them, then run `pnpm db:generate:postgres`.
 * Times are epoch ms as bigint read back as numbers (exact up to 2^53).
 */

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' })
const epochMs = (name: string) => bigint(name, { mode: 'number' })

export const manifest = pgTable('manifest', {
  id: integer('id').primaryKey(),
  schemaVersion: integer('schema_version').notNull(),
  embeddingModel: text('embedding_model').notNull(),
  dimensions: integer('dimensions').notNull(),
  vectorTable: text('vector_table').notNull(),
  updatedAt: epochMs('updated_at').notNull(),
})

export const history = pgTable(
  'history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id').notNull(),
    memoryId: text('memory_id').notNull(),
    userId: text('user_id'),
    agentId: text('agent_id'),
    runId: text('run_id'),
    event: text('event', { enum: ['ADD', 'UPDATE', 'DELETE', 'SUPERSEDE'] }).notNull(),
    previousText: text('previous_text'),
    newText: text('new_text'),
    metadata: jsonb('metadata'),
    actor: text('actor'),
    purged: boolean('purged').notNull().default(false),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [index('history_memory_idx').on(t.tenantId, t.memoryId, t.id)],
)

export const journal = pgTable('journal', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  change: text('change').notNull(),
  vectors: bytea('vectors').notNull(),
  dimensions: integer('dimensions').notNull(),
  createdAt: epochMs('created_at').notNull(),
})

export const inferenceJobs = pgTable(
  'inference_jobs',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    status: text('status', { enum: ['queued', 'pending', 'done', 'failed'] }).notNull(),
    input: jsonb('input').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: epochMs('next_attempt_at').notNull(),
    rawMemoryIds: jsonb('raw_memory_ids'),
    result: jsonb('result'),
    lastError: jsonb('last_error'),
    createdAt: epochMs('created_at').notNull(),
    updatedAt: epochMs('updated_at').notNull(),
  },
  (t) => [
    index('inference_jobs_due_idx').on(t.status, t.nextAttemptAt),
    index('inference_jobs_tenant_idx').on(t.tenantId, t.id),
    index('inference_jobs_tenant_status_idx').on(t.tenantId, t.status, t.id),
  ],
)

/**
 * One row: who leads the replicas of this store. `epoch` grows at every change of leader and
 * fences journal commits (a deposed leader's commit fails); `secret` authenticates the calls
 * followers forward to the leader (only processes that can read this database know it).
 */
export const cluster = pgTable('cluster', {
  id: integer('id').primaryKey(),
  epoch: bigint('epoch', { mode: 'number' }).notNull(),
  leaderAddress: text('leader_address'),
  secret: text('secret').notNull(),
  updatedAt: epochMs('updated_at').notNull(),
})
