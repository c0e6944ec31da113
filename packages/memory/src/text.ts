import { createHash } from 'node:crypto'
import type { ScopeFilter } from './store/types.js'

/**
 * A string as the stores can keep it: a lone surrogate (half of a UTF-16 pair, not UTF-8) and NUL
 * (PostgreSQL's text and jsonb refuse it; SQLite's functions cut a text there, so history kept
 * only what came before it) each become U+FFFD, so what is answered is what is stored.
 */
export function storable(text: string): string {
  const wellFormed = text.toWellFormed()
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\ufffd') : wellFormed
}

/** Case, Unicode form and whitespace do not make a memory different. */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').trim().replace(/\s+/gu, ' ').toLowerCase()
}

/** The exact-duplicate key: same tenant, same user/agent/run and same normalised text. */
export function dedupKey(scope: ScopeFilter, text: string): string {
  const parts = [scope.tenantId, scope.userId ?? '', scope.agentId ?? '', scope.runId ?? '', normaliseText(text)]
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)
}
