import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from '@libsql/client'
import { and, asc, count, eq, isNull } from 'drizzle-orm'
import { drizzle, type LibSQLDatabase } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'
import { apiKeys } from './schema.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

export type KeyRole = 'tenant' | 'admin'

/** Who a request acts as: a tenant, and whether it may manage tenants and keys. */
export interface Principal {
  tenantId: string
  role: KeyRole
  /** null when no key was needed (no keys exist and the request came from loopback). */
  keyId: string | null
}

export interface ApiKeyInfo {
  id: string
  tenantId: string
  name: string | null
  role: KeyRole
  prefix: string
  createdAt: string
  revokedAt: string | null
}

/** API keys in their own SQLite file (safe to use from the CLI while the server runs). */
/** A key's public JSON (never the key itself), as the admin API and `agentmem keys list` print it. */
export function toKeyJson(info: ApiKeyInfo) {
  return { id: info.id, tenant: info.tenantId, name: info.name, role: info.role, prefix: info.prefix, created_at: info.createdAt, revoked_at: info.revokedAt }
}

export class KeyStore {
  private constructor(
    private readonly db: LibSQLDatabase,
    private readonly closeClient: () => void,
  ) {}

  static async open(file: string): Promise<KeyStore> {
    mkdirSync(dirname(file), { recursive: true })
    const client = createClient({ url: `file:${file}` })
    try {
      await client.execute('PRAGMA journal_mode = WAL')
      await client.execute('PRAGMA busy_timeout = 5000')
      const db = drizzle(client)
      await migrate(db, { migrationsFolder })
      return new KeyStore(db, () => client.close())
    } catch (e) {
      client.close()
      throw e
    }
  }

  /** Creates a key and returns it; this is the only time the key itself is available. */
  async create(options: { tenantId: string; role?: KeyRole; name?: string }): Promise<{ key: string; info: ApiKeyInfo }> {
    const key = `am_${randomBytes(32).toString('base64url')}`
    const row = {
      id: `key_${randomBytes(8).toString('hex')}`,
      tenantId: options.tenantId,
      name: options.name ?? null,
      role: options.role ?? 'tenant',
      hash: hashKey(key),
      prefix: key.slice(0, 10),
      createdAt: Date.now(),
      revokedAt: null,
    }
    await this.db.insert(apiKeys).values(row)
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

  /** Revokes a key; false if there is no such active key. */
  async revoke(id: string): Promise<boolean> {
    const revoked = await this.db
      .update(apiKeys)
      .set({ revokedAt: Date.now() })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id })
    return revoked.length > 0
  }

  /** The principal of an active key, or null. */
  async verify(key: string): Promise<Principal | null> {
    const [row] = await this.db
      .select({ id: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role })
      .from(apiKeys)
      .where(and(eq(apiKeys.hash, hashKey(key)), isNull(apiKeys.revokedAt)))
    return row ? { tenantId: row.tenantId, role: row.role, keyId: row.id } : null
  }

  /** Active keys; with none, the server serves loopback only, without authentication. */
  async activeCount(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(apiKeys).where(isNull(apiKeys.revokedAt))
    return row?.n ?? 0
  }

  close(): void {
    this.closeClient()
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

function toInfo(row: typeof apiKeys.$inferSelect): ApiKeyInfo {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    createdAt: new Date(row.createdAt).toISOString(),
    revokedAt: row.revokedAt === null ? null : new Date(row.revokedAt).toISOString(),
  }
}
