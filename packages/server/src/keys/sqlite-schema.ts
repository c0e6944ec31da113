import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/** Drizzle tables of the server's own SQLite file. Change them, then run `pnpm db:generate`. */

/** API keys: only a hash of each key is stored; the key itself is shown once, at creation. */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    name: text('name'),
    role: text('role', { enum: ['tenant', 'admin'] }).notNull(),
    /** sha256 of the key, hex. Keys are 256 random bits, so a fast hash is enough. */
    hash: text('hash').notNull().unique(),
    /** The key's first characters, to recognise it in a listing. */
    prefix: text('prefix').notNull(),
    createdAt: integer('created_at').notNull(),
    revokedAt: integer('revoked_at'),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenantId)],
)
