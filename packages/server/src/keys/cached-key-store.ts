import { createHash, randomBytes } from 'node:crypto'
import { tenantIdSchema } from '@agentmem/memory/identifiers'
import { validationFailed } from '../errors.js'
import type { ApiKeyInfo, KeyRole, KeyStore, KeyStoreOptions, Principal } from './key-store.js'

/** A key row as both schemas store it (times in epoch ms). */
export interface KeyRow {
  id: string
  tenantId: string
  name: string | null
  role: KeyRole
  hash: string
  prefix: string
  createdAt: number
  revokedAt: number | null
}

/** The active keys by hash, as of `version` (the database's change marker). */
interface ActiveKeys {
  byHash: Map<string, Principal>
  /** Whether any key was ever created, revoked ones included. */
  anyCreated: boolean
  version: number
  /** When the check that produced this copy began (performance.now()). */
  checkedAt: number
}

/**
 * The part of a key store both databases share: `verify`, `activeCount` and `authRequired` answer from an
 * in-memory copy of the active keys (a query per request cost ~100 µs with SQLite, a round trip
 * with PostgreSQL). The database's change marker (`readVersion`) is read at most once per
 * `maxStalenessMs`, and the rows only when it moved. Writes through this instance drop the copy,
 * so they apply at once.
 */
export abstract class CachedKeyStore implements KeyStore {
  #active: ActiveKeys | undefined
  #refreshing: { done: Promise<ActiveKeys>; startedAt: number } | undefined
  /** Bumped by this instance's writes: a refresh that began before one must not install its copy. */
  #generation = 0
  #closed = false
  readonly #maxStalenessMs: number

  constructor(options: KeyStoreOptions) {
    this.#maxStalenessMs = options.maxStalenessMs ?? 100
  }

  /** A number that changes whenever any connection commits a key change. */
  protected abstract readVersion(): Promise<number>
  /** Every key, revoked ones included (few: they are made by hand). */
  protected abstract readKeys(): Promise<Array<Pick<KeyRow, 'id' | 'tenantId' | 'role' | 'hash' | 'revokedAt'>>>
  protected abstract closeDatabase(): Promise<void>
  abstract create(options: { tenantId: string; role?: KeyRole; name?: string }): Promise<{ key: string; info: ApiKeyInfo }>
  abstract list(options?: { tenantId?: string }): Promise<ApiKeyInfo[]>
  abstract revoke(id: string): Promise<boolean>
  abstract rows(): Promise<KeyRow[]>
  abstract putRows(rows: KeyRow[]): Promise<void>

  async verify(key: string): Promise<Principal | null> {
    const { byHash } = await this.#activeKeys()
    return byHash.get(hashKey(key)) ?? null
  }

  async activeCount(): Promise<number> {
    return (await this.#activeKeys()).byHash.size
  }

  async authRequired(): Promise<boolean> {
    return (await this.#activeKeys()).anyCreated
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#active = undefined
    await this.closeDatabase()
  }

  /** After a write through this instance: the next call reads the keys again. */
  protected changed(): void {
    this.#generation++
    this.#active = undefined
    this.#refreshing = undefined
  }

  #activeKeys(): ActiveKeys | Promise<ActiveKeys> {
    const now = performance.now()
    const active = this.#active
    if (active && now - active.checkedAt < this.#maxStalenessMs) return active
    // Concurrent calls share a check, but only one begun within the bound: a slow one (a busy
    // database) must not answer for calls that arrive long after it started.
    if (this.#refreshing && now - this.#refreshing.startedAt < this.#maxStalenessMs) return this.#refreshing.done
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
    const version = await this.readVersion()
    let active: ActiveKeys
    if (previous && previous.version === version) {
      active = { ...previous, checkedAt }
    } else {
      const rows = await this.readKeys()
      const byHash = new Map(rows.filter((r) => r.revokedAt === null).map((r) => [r.hash, { tenantId: r.tenantId, role: r.role, keyId: r.id }]))
      active = { byHash, anyCreated: rows.length > 0, version, checkedAt }
    }
    if (generation === this.#generation && !this.#closed) this.#active = active
    return active
  }
}

/**
 * A tenant a new key may name. One the engine refuses ('', '*', control characters) would make a
 * key that fails every call; one with spaces around it ('acme ', ' ') is another tenant than it
 * looks like. Checked only where tenants are named: a key made before for such a tenant still works.
 */
const newTenantSchema = tenantIdSchema.refine(
  (name) => name.trim() === name,
  'must not start or end with a space: it would name another tenant than it looks like',
)

/** Refuses a tenant a new key may not name (REQUEST_VALIDATION_FAILED, at `tenant`). */
export function checkNewTenant(tenantId: string): void {
  const tenant = newTenantSchema.safeParse(tenantId)
  if (!tenant.success)
    throw validationFailed(
      tenant.error.issues.map((issue) => ({ ...issue, path: ['tenant', ...issue.path] })),
      'key',
    )
}

/** A new key and its row; the key itself is returned once and never stored. */
export function newKey(options: { tenantId: string; role?: KeyRole; name?: string }): { key: string; row: KeyRow } {
  checkNewTenant(options.tenantId)
  const key = `am_${randomBytes(32).toString('base64url')}`
  const row: KeyRow = {
    id: `key_${randomBytes(8).toString('hex')}`,
    tenantId: options.tenantId,
    name: options.name ?? null,
    role: options.role ?? 'tenant',
    hash: hashKey(key),
    prefix: key.slice(0, 10),
    createdAt: Date.now(),
    revokedAt: null,
  }
  return { key, row }
}

export function toInfo(row: KeyRow): ApiKeyInfo {
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

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}
