import { and, asc, eq, isNull, sql } from 'drizzle-orm'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import { CachedKeyStore, type KeyRow, newKey, toInfo } from './cached-key-store.js'
import type { ApiKeyInfo, KeyRole, KeyStoreOptions } from './key-store.js'
import { openServerDatabase, unavailable } from './postgres-database.js'
import { apiKeys, apiKeysVersion } from './postgres-schema.js'

/**
 * API keys in PostgreSQL, shared by every replica. The change marker is a counter row that every
 * key change bumps in its own transaction (PostgreSQL has no `data_version`); a replica reads it
 * at most once per `maxStalenessMs` (one indexed read, ~0.1 ms), the keys only when it moved.
 * So a key created or revoked anywhere works, or stops working, everywhere within that bound.
 */
export class PostgresKeyStore extends CachedKeyStore {
  private constructor(
    private readonly db: NodePgDatabase,
    private readonly pool: pg.Pool,
    options: KeyStoreOptions,
  ) {
    super(options)
  }

  static async open(url: string, options: KeyStoreOptions = {}): Promise<PostgresKeyStore> {
    const pool = await openServerDatabase(url, 2)
    return new PostgresKeyStore(drizzle({ client: pool }), pool, options)
  }

  async create(options: { tenantId: string; role?: KeyRole; name?: string }): Promise<{ key: string; info: ApiKeyInfo }> {
    const { key, row } = newKey(options)
    await unavailable(() =>
      this.db.transaction(async (tx) => {
        await tx.insert(apiKeys).values(row)
        await bumpVersion(tx)
      }),
    )
    this.changed()
    return { key, info: toInfo(row) }
  }

  list(options: { tenantId?: string } = {}): Promise<ApiKeyInfo[]> {
    return unavailable(async () => {
      const rows = await this.db
        .select()
        .from(apiKeys)
        .where(options.tenantId === undefined ? undefined : eq(apiKeys.tenantId, options.tenantId))
        .orderBy(asc(apiKeys.createdAt))
      return rows.map(toInfo)
    })
  }

  async revoke(id: string): Promise<boolean> {
    const revoked = await unavailable(() =>
      this.db.transaction(async (tx) => {
        const rows = await tx
          .update(apiKeys)
          .set({ revokedAt: Date.now() })
          .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
          .returning({ id: apiKeys.id })
        if (rows.length > 0) await bumpVersion(tx)
        return rows.length > 0
      }),
    )
    this.changed()
    return revoked
  }

  rows(): Promise<KeyRow[]> {
    return unavailable(() => this.db.select().from(apiKeys).orderBy(asc(apiKeys.id)))
  }

  async putRows(rows: KeyRow[]): Promise<void> {
    if (rows.length === 0) return
    await unavailable(() =>
      this.db.transaction(async (tx) => {
        // Only a key's label and revocation can change; the rest is fixed at creation.
        await tx
          .insert(apiKeys)
          .values(rows)
          .onConflictDoUpdate({ target: apiKeys.id, set: { name: sql`excluded.name`, revokedAt: sql`excluded.revoked_at` } })
        await bumpVersion(tx)
      }),
    )
    this.changed()
  }

  protected readVersion(): Promise<number> {
    return unavailable(async () => {
      const [row] = await this.db.select({ version: apiKeysVersion.version }).from(apiKeysVersion).where(eq(apiKeysVersion.id, 1))
      return row?.version ?? 0
    })
  }

  protected readKeys() {
    return unavailable(() =>
      this.db.select({ id: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, hash: apiKeys.hash, revokedAt: apiKeys.revokedAt }).from(apiKeys),
    )
  }

  protected closeDatabase(): Promise<void> {
    return this.pool.end()
  }
}

/** Inside the change's transaction: readers that see the new version also see the change. */
function bumpVersion(tx: Pick<NodePgDatabase, 'insert'>) {
  return tx
    .insert(apiKeysVersion)
    .values({ id: 1, version: 1 })
    .onConflictDoUpdate({ target: apiKeysVersion.id, set: { version: sql`${apiKeysVersion.version} + 1` } })
}
