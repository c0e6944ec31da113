import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Client, createClient } from '@libsql/client'
import { and, asc, eq, isNull } from 'drizzle-orm'
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

/** A key's public JSON (never the key itself), as the admin API and `agentmem keys list` print it. */
export function toKeyJson(info: ApiKeyInfo) {
  return { id: info.id, tenant: info.tenantId, name: info.name, role: info.role, prefix: info.prefix, created_at: info.createdAt, revoked_at: info.revokedAt }
}

export interface KeyStoreOptions {
  /**
   * How old the in-memory copy of the active keys may be before `verify` and `activeCount` ask
   * SQLite whether another connection (the `agentmem keys` CLI, another KeyStore) changed the file.
   * This bounds how long a key revoked elsewhere keeps working: a call that starts more than this
   * long after the revocation committed refuses the key. Changes made through this instance apply
   * at once. 0 checks on every call. Default 100 ms.
   */
  maxStalenessMs?: number
}

/** The active keys by hash, as of `version` (SQLite's `data_version` on this store's connection). */
interface ActiveKeys {
  byHash: Map<string, Principal>
  version: number
  /** When the check that produced this copy began (performance.now()). */
  checkedAt: number
}

/**
 * API keys in their own SQLite file (safe to use from the CLI while the server runs).
 *
 * `verify` and `activeCount` run on every request, so they answer from an in-memory copy of the
 * active keys: a query through drizzle and libsql cost ~100 µs a request. `PRAGMA data_version`
 * (~40 µs hot, ~0.5 ms when rare) changes when any other connection, in this process or another,
 * commits; it is read at most once per `maxStalenessMs`, and the rows only when it moved. The
 * client has a single connection, because the version is only comparable on one connection; it
 * does not move for that connection's own writes, so `create` and `revoke` drop the copy.
 */
export class KeyStore {
  #active: ActiveKeys | undefined
  #refreshing: { done: Promise<ActiveKeys>; startedAt: number } | undefined
  /** Bumped by this instance's writes: a refresh that began before one must not install its copy. */
  #generation = 0
  #closed = false

  private constructor(
    private readonly db: LibSQLDatabase,
    private readonly client: Client,
    private readonly maxStalenessMs: number,
  ) {}

  static async open(file: string, options: KeyStoreOptions = {}): Promise<KeyStore> {
    mkdirSync(dirname(file), { recursive: true })
    // One connection: busy_timeout is per connection, and data_version is only comparable on one.
    const client = createClient({ url: `file:${file}`, concurrency: 1 })
    try {
      await client.execute('PRAGMA journal_mode = WAL')
      await client.execute('PRAGMA busy_timeout = 5000')
      const db = drizzle(client)
      await migrate(db, { migrationsFolder })
      return new KeyStore(db, client, options.maxStalenessMs ?? 100)
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
    this.#changed()
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
    this.#changed()
    return revoked.length > 0
  }

  /** The principal of an active key, or null. Reflects other processes' changes within `maxStalenessMs`. */
  async verify(key: string): Promise<Principal | null> {
    const { byHash } = await this.#activeKeys()
    return byHash.get(hashKey(key)) ?? null
  }

  /** Active keys; with none, the server serves loopback only, without authentication. */
  async activeCount(): Promise<number> {
    return (await this.#activeKeys()).byHash.size
  }

  close(): void {
    this.#closed = true
    this.#active = undefined
    this.client.close()
  }

  #activeKeys(): ActiveKeys | Promise<ActiveKeys> {
    const now = performance.now()
    const active = this.#active
    if (active && now - active.checkedAt < this.maxStalenessMs) return active
    // Concurrent calls share a check, but only one begun within the bound: a slow one (a busy
    // file) must not answer for calls that arrive long after it started.
    if (this.#refreshing && now - this.#refreshing.startedAt < this.maxStalenessMs) return this.#refreshing.done
    const done = this.#refresh(active, now).finally(() => {
      if (this.#refreshing?.done === done) this.#refreshing = undefined
    })
    this.#refreshing = { done, startedAt: now }
    return done
  }

  async #refresh(previous: ActiveKeys | undefined, checkedAt: number): Promise<ActiveKeys> {
    if (this.#closed) throw new Error('The key store is closed')
    const generation = this.#generation
    // The version is read before the rows: a commit in between is seen again at the next check.
    const version = Number((await this.client.execute('PRAGMA data_version')).rows[0]?.[0])
    let active: ActiveKeys
    if (previous && previous.version === version) {
      active = { ...previous, checkedAt }
    } else {
      const rows = await this.db
        .select({ id: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, hash: apiKeys.hash })
        .from(apiKeys)
        .where(isNull(apiKeys.revokedAt))
      active = { byHash: new Map(rows.map((r) => [r.hash, { tenantId: r.tenantId, role: r.role, keyId: r.id }])), version, checkedAt }
    }
    if (generation === this.#generation && !this.#closed) this.#active = active
    return active
  }

  /** After a write through this connection, which does not move its own data_version. */
  #changed(): void {
    this.#generation++
    this.#active = undefined
    this.#refreshing = undefined
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
