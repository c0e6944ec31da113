import { fileURLToPath } from 'node:url'
import { openPostgresPool } from '@agentmem/memory'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import pg from 'pg'
import { ServerError, ServerErrorCode } from '../errors.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle/postgres', import.meta.url))

/**
 * drizzle's migrator skips every migration older than the newest one its table records, so two
 * packages sharing `drizzle.__drizzle_migrations` would skip each other's: the memory package
 * keeps the default name, the server uses its own.
 */
const migrationsTable = '__agentmem_server_migrations'

/**
 * Replicas starting together must not run the same migration at once (CREATE TABLE fails on all
 * but one), nor create drizzle's schema at once with the memory package's migrator: its name is
 * meant to be shared by every package migrating this database.
 */
const migrationLock = `SELECT pg_advisory_lock(hashtext('agentmem:migrations'))`

/**
 * A pool on the server's tables in `url` (the database `metadataUrl` names, shared with the memory
 * package's tables), migrated. Failures are `KEYS_UNAVAILABLE`; the URL (with its password) is
 * never part of a message.
 */
export async function openServerDatabase(url: string, max: number): Promise<pg.Pool> {
  await unavailable(async () => {
    // Its own connection, without the pool's query timeout: another replica may hold the lock for a while.
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
    client.on('error', () => {})
    await client.connect()
    try {
      await client.query(migrationLock)
      await migrate(drizzle({ client }), { migrationsFolder, migrationsTable })
    } finally {
      // Ending the session releases its lock, whatever state the migration left.
      await client.end().catch(() => {})
    }
  })
  // Bounded waits: a PostgreSQL that stops answering (a partition rather than a refused
  // connection) must turn into 503s within seconds, not hold every request's auth check.
  return openPostgresPool({ connectionString: url, max, connectionTimeoutMillis: 5_000, query_timeout: 5_000, keepAlive: true })
}

/**
 * Runs a query; any failure (PostgreSQL down or restarting, a dropped connection, a timeout)
 * becomes `KEYS_UNAVAILABLE`, a 503 with Retry-After. The pool reconnects by itself, so the next
 * call after PostgreSQL is back succeeds. The cause (never the URL) goes to the server log.
 */
export async function unavailable<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (cause) {
    if (cause instanceof ServerError) throw cause
    throw new ServerError(ServerErrorCode.KeysUnavailable, 'API keys and rate limits are unavailable: their database failed; retry shortly', {
      cause,
    })
  }
}
