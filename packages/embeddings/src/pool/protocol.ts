import type { ModelSpec } from '../models/model-spec.js'

/** What the main thread and a model worker (embedder or reranker) say to each other. */
export interface WorkerInit {
  folder: string
  spec: ModelSpec
  intraOpThreads: number
  /** Threads of a second session for solo runs (a lone text while the pool is idle); lane 0 only. */
  soloThreads?: number
  /** What the model does: embed texts (default) or score pairs (a cross-encoder). */
  task?: 'embed' | 'score'
}

export interface SerializedError {
  code?: string
  message: string
  details?: Record<string, unknown>
}

export type ToWorker =
  /** `solo`: run on the session with `soloThreads` (when this worker has one). */
  | { type: 'embed'; id: number; texts: string[]; solo: boolean }
  /** A cross-encoder's logits for (query, document) pairs. */
  | { type: 'score'; id: number; pairs: [string, string][]; solo: boolean }
  /** Release the session and exit. Never `terminate()` a worker inside ORT: it aborts the process. */
  | { type: 'close' }
  /** @internal Tests only: die on the next batch, as a crashing worker would. */
  | { type: 'crash-next' }

export type FromWorker =
  /** `soloThreads`: threads of the solo session this worker loaded, 0 for none. */
  | { type: 'ready'; soloThreads: number }
  | { type: 'failed'; error: SerializedError }
  /** Flat: `[inputs, dimensions]` vectors for `embed`, one logit per pair for `score`. */
  | { type: 'result'; id: number; output: Float32Array }
  | { type: 'error'; id: number; error: SerializedError }

export function serializeError(error: unknown): SerializedError {
  const e = error as { code?: unknown; message?: unknown; details?: unknown }
  return {
    code: typeof e?.code === 'string' ? e.code : undefined,
    message: typeof e?.message === 'string' ? e.message : String(error),
    details: typeof e?.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : undefined,
  }
}
