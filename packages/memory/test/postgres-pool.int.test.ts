import { type PostgresService, startPostgres } from '@agentmem/test-services'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { MemoryErrorCode } from '../src/errors.js'
import { postgresFailed } from '../src/store/postgres-metadata-store.js'
import { openPostgresPool } from '../src/store/postgres-pool.js'

let postgres: PostgresService
beforeAll(async () => {
  postgres = await startPostgres()
})
afterAll(async () => {
  await postgres?.stop()
})

it('a connection killed while checked out between queries fails its next query as unavailable, and the pool carries on; the process does not end', async () => {
  const pool = openPostgresPool({ connectionString: await postgres.createDatabase(`pool_${process.pid}`), max: 2 })
  try {
    const held = await pool.connect()
    try {
      expect(held.listenerCount('error')).toBeGreaterThan(0)
      await held.query('BEGIN')
      const { rows } = await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
      // What a PostgreSQL restart sends every session: "terminating connection due to administrator command".
      // Unheard, that error event would end this test process (pg-pool listens only to idle clients).
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid])
      await expect.poll(() => (held as unknown as { _queryable: boolean })._queryable, { timeout: 5_000 }).toBe(false)
      await expect(held.query('SELECT 1')).rejects.toThrow()
      // Through drizzle (which wraps pg's error as the cause of its own), it is a typed 503, not a 500.
      const failed = await drizzle({ client: held })
        .execute(sql`SELECT 1`)
        .catch((e: unknown) => e)
      expect(String((failed as Error).message)).toMatch(/^Failed query/)
      expect(postgresFailed('a read', failed).code).toBe(MemoryErrorCode.Unavailable)
    } finally {
      held.release()
    }
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  } finally {
    await pool.end()
  }
})
