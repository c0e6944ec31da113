import { ServerError, ServerErrorCode } from '../errors.js'
import type { KeyStore } from './key-store.js'

/**
 * Copies every API key row (hash, tenant, role, name, times, revocation) to another key store,
 * upserting by id, so a re-run after an interruption copies nothing twice. Checks that each
 * source key is in the target as stored; returns the row counts.
 */
export async function copyKeys(from: KeyStore, to: KeyStore): Promise<{ source: number; target: number }> {
  const rows = await from.rows()
  await to.putRows(rows)
  const copied = new Map((await to.rows()).map((row) => [row.id, row]))
  const missing = rows.filter((row) => JSON.stringify(row) !== JSON.stringify(copied.get(row.id)))
  if (missing.length > 0) {
    throw new ServerError(ServerErrorCode.Internal, `${missing.length} API keys differ in the target after the copy; run it again`)
  }
  return { source: rows.length, target: copied.size }
}
