import type { Embedder } from '@agentmem/embeddings'
import type { Memory } from '@agentmem/memory'
import type { HttpBindings } from '@hono/node-server'
import type { Logger } from 'pino'
import type { ServerConfig } from '../config.js'
import type { KeyStore, Principal } from '../keys/key-store.js'
import type { RateLimit } from './rate-limit.js'

/** What the app is built from; the CLI wires real ones, tests may wire their own. */
export interface AppDeps {
  /** The store, opened for any tenant; requests get `memory.withTenant(key's tenant)`. */
  memory: Memory
  keys: KeyStore
  /** Per-key limits; default: in process, `config.rateLimitPerMinute` (none when 0). */
  limiter?: RateLimit
  config: ServerConfig
  logger: Logger
  /** For queue-depth metrics; default: `memory.embedder`. */
  embedder?: Embedder
  /** Set when shutdown begins: /ready turns 503 and new requests are refused. */
  lifecycle?: { shuttingDown: boolean }
}

export interface AppEnv {
  Bindings: Partial<HttpBindings>
  Variables: {
    requestId: string
    principal: Principal
    /** The store seen as the principal's tenant. */
    memory: Memory
  }
}

/**
 * Aborted when the client goes away or the request outlives its timeout: the 504 answers the
 * client, this stops the model work (query embedding, reranking) still queued for it.
 */
export function requestSignal(request: Request, timeoutMs: number): AbortSignal {
  return AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)])
}
