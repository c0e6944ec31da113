import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Client, createClient } from '@libsql/client'
import { and, asc, eq, isNull, sql } from 'drizzle-orm'
import { drizzle, type LibSQLDatabase } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'
import { CachedKeyStore, type KeyRow, newKey, toInfo } from './cached-key-store.js'
import type { ApiKeyInfo, KeyRole, KeyStoreOptions } from './key-store.js'
import { apiKeys } from './sqlite-schema.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle/sqlite', import.meta.url))

/**
 * API keys in their own SQLite file (safe to use from the CLI while the server runs). The change
 * marker is `PRAGMA data_version` (~40 µs hot, ~0.5 ms when rare), which moves when any other
 * connection, in this process or another, commits. The client has a single connection, because
 * the version is only comparable on one connection; it does not move for that connection's own
 * writes, so `create` and `revoke` drop the copy (`changed()`).
 */
export class SqliteKeyStore extends CachedKeyStore {
  private constructor(
    private readonly db: LibSQLDatabase,
    private readonly client: Client,
    options: KeyStoreOptions,
  ) {
    super(options)
  }

  static async open(file: string, options: KeyStoreOptions = {}): Promise<SqliteKeyStore> {
    mkdirSync(dirname(file), { recursive: true })
    // One connection: busy_timeout is per connection, and data_version is only comparable on one.
    const client = createClient({ url: `file:${file}`, concurrency: 1 })
    try {
      await client.execute('PRAGMA journal_mode = WAL')
      await client.execute('PRAGMA busy_timeout = 5000')
      const db = drizzle(client)
      await migrate(db, { migrationsFolder })
      return new SqliteKeyStore(db, client, options)
    } catch (e) {
      client.close()
      throw e
    }
  }

  async create(options: { tenantId: string; role?: KeyRole; name?: string }): Promise<{ key: string; info: ApiKeyInfo }> {
    const { key, row } = newKey(options)
    await this.db.insert(apiKeys).values(row)
    this.changed()
    return { key, info: toInfo(row) }
  }

  async list(options: { tenantId?: string } = {}): Promise<ApiKeyInfo[]> {
    const rows = await this.db
      .select()
      .from(apiKeys)
      .where(options.tenantId === undefined ? undefined : eq(apiKeys.tenantId, options.tenantId))
      .orderBy(asc(apiKeys.createdAt))
    return rows.map(toInfo)
  }

  async revoke(id: string): Promise<boolean> {
    const revoked = await this.db
      .update(apiKeys)
      .set({ revokedAt: Date.now() })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id })
    this.changed()
    return revoked.length > 0
  }

  async rows(): Promise<KeyRow[]> {
    return this.db.select().from(apiKeys).orderBy(asc(apiKeys.id))
  }

  async putRows(rows: KeyRow[]): Promise<void> {
    if (rows.length === 0) return
    // Only a key's label and revocation can change; the rest is fixed at creation.
    await this.db
      .insert(apiKeys)
      .values(rows)
      .onConflictDoUpdate({ target: apiKeys.id, set: { name: sql`excluded.name`, revokedAt: sql`excluded.revoked_at` } })
    this.changed()
  }

  protected async readVersion(): Promise<number> {
    return Number((await this.client.execute('PRAGMA data_version')).rows[0]?.[0])
  }

  protected readKeys() {
    return this.db.select({ id: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, hash: apiKeys.hash, revokedAt: apiKeys.revokedAt }).from(apiKeys)
  }

  protected async closeDatabase(): Promise<void> {
    this.client.close()
  }
}
