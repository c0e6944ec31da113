import type { ServerConfig } from '../config.js'
import { dataPaths } from '../data-paths.js'
import { type RateLimit, RateLimiter } from '../http/rate-limit.js'
import type { KeyRow } from './cached-key-store.js'
import { SqliteKeyStore } from './sqlite-key-store.js'

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
   * How old the in-memory copy of the keys may be before `verify`, `activeCount` and `authRequired` ask the
   * database whether another connection (the `agentmem keys` CLI, another replica) changed the keys.
   * This bounds how long a key revoked elsewhere keeps working: a call that starts more than this
   * long after the revocation committed refuses the key. Changes made through this instance apply
   * at once. 0 checks on every call. Default 100 ms.
   */
  maxStalenessMs?: number
}

/**
 * API keys. `verify` and `authRequired` run on every request, so they answer from an in-memory copy
 * of the active keys that is at most `maxStalenessMs` old (see CachedKeyStore). A store that cannot
 * reach its database rejects with `KEYS_UNAVAILABLE` (503) and recovers by itself.
 */
export interface KeyStore {
  /** Creates a key and returns it; this is the only time the key itself is available. */
  create(options: { tenantId: string; role?: KeyRole; name?: string }): Promise<{ key: string; info: ApiKeyInfo }>
  list(options?: { tenantId?: string }): Promise<ApiKeyInfo[]>
  /** Revokes a key; false if there is no such active key. */
  revoke(id: string): Promise<boolean>
  /** The principal of an active key, or null. Reflects other processes' changes within `maxStalenessMs`. */
  verify(key: string): Promise<Principal | null>
  /** Active keys. */
  activeCount(): Promise<number>
  /**
   * Whether requests need a key: once any key was created, revoked or not. Before the first, the
   * server serves loopback clients without one. Revoking every key never turns that back on: a
   * revocation locks the server down, it does not open it.
   */
  authRequired(): Promise<boolean>
  /** Every key row as stored, hashes and revoked ones included (`agentmem migrate`). */
  rows(): Promise<KeyRow[]>
  /** Writes key rows as they are, in one transaction; a row with the same id is overwritten. */
  putRows(rows: KeyRow[]): Promise<void>
  close(): Promise<void>
}

export const KeyStore = {
  /** The SQLite key store in `file`, the embedded default; `openKeyStore` picks by config. */
  open: (file: string, options: KeyStoreOptions = {}): Promise<KeyStore> => SqliteKeyStore.open(file, options),
}

/**
 * The one place a config picks where keys and rate limits live: PostgreSQL when `metadataUrl` is
 * set (shared by every replica), else the SQLite file in the data folder and the process's memory.
 * The PostgreSQL driver loads only then.
 */
export async function openKeyStore(config: Pick<ServerConfig, 'data' | 'metadataUrl'>, options: KeyStoreOptions = {}): Promise<KeyStore> {
  if (config.metadataUrl === undefined) return SqliteKeyStore.open(dataPaths(config.data).keys, options)
  const { PostgresKeyStore } = await import('./postgres-key-store.js')
  return PostgresKeyStore.open(config.metadataUrl, options)
}

/** The limiter for `rateLimitPerMinute` per key (none when 0); see openKeyStore. */
export async function openRateLimiter(
  config: Pick<ServerConfig, 'metadataUrl' | 'rateLimitPerMinute'>,
): Promise<(RateLimit & { close?(): Promise<void> }) | undefined> {
  if (config.rateLimitPerMinute <= 0) return undefined
  if (config.metadataUrl === undefined) return new RateLimiter(config.rateLimitPerMinute)
  const { PostgresRateLimiter } = await import('./postgres-rate-limiter.js')
  return PostgresRateLimiter.open(config.metadataUrl, config.rateLimitPerMinute)
}
