import { createHash } from 'node:crypto'
import type { ScopeFilter } from './store/types.js'

/** Case, Unicode form and whitespace do not make a memory different. */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').trim().replace(/\s+/gu, ' ').toLowerCase()
}

/** The exact-duplicate key: same tenant, same user/agent/run and same normalised text. */
export function dedupKey(scope: ScopeFilter, text: string): string {
  const parts = [scope.tenantId, scope.userId ?? '', scope.agentId ?? '', scope.runId ?? '', normaliseText(text)]
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)
}
