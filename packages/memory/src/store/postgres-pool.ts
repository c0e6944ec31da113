import pg from 'pg'

/**
 * A pg pool that survives its connections dying under it (a PostgreSQL restart). pg-pool listens
 * to a connection's errors only while it is idle, so a client checked out between two queries
 * (inside a transaction, say) that hears PostgreSQL's "terminating connection" emits an error
 * event nobody listens to, and Node ends the process. Every client gets a listener for its whole
 * life instead: its next query reports the failure, and the pool drops it on release.
 */
export function openPostgresPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config)
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
  return pool
}
