import { bigint, doublePrecision, index, integer, pgTable, text } from 'drizzle-orm/pg-core'

/**
 * Drizzle tables of the server in PostgreSQL, beside the memory package's (manifest, history,
 * journal, inference_jobs) in the same database. Change them, then run `pnpm db:generate:postgres`.
 * Times are epoch ms as bigint read back as numbers (exact up to 2^53).
 */

const epochMs = (name: string) => bigint(name, { mode: 'number' })

/** The same table as sqlite-schema.ts's `api_keys`. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    name: text('name'),
    role: text('role', { enum: ['tenant', 'admin'] }).notNull(),
    hash: text('hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    createdAt: epochMs('created_at').notNull(),
    revokedAt: epochMs('revoked_at'),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenantId)],
)

/**
 * One row (id 1), bumped in the transaction of every key change: replicas poll it to learn that
 * their copy of the active keys is stale (SQLite's `PRAGMA data_version` has no equivalent here).
 */
export const apiKeysVersion = pgTable('api_keys_version', {
  id: integer('id').primaryKey(),
  version: bigint('version', { mode: 'number' }).notNull(),
})

/** A token bucket per client (API key id) shared by every replica; see postgres-rate-limiter.ts. */
export const rateLimitBuckets = pgTable('rate_limit_buckets', {
  client: text('client').primaryKey(),
  /** Tokens left after the last grant (fractional: the bucket refills continuously). */
  tokens: doublePrecision('tokens').notNull(),
  /** What the last reservation got; read back through RETURNING. */
  granted: integer('granted').notNull(),
  /** PostgreSQL's clock, epoch ms, at the last grant: one clock for every replica. */
  updatedAt: doublePrecision('updated_at').notNull(),
})
