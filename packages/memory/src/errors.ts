/** Stable, transport-agnostic codes for every failure @agentmem/memory reports. */
export const MemoryErrorCode = {
  InvalidOptions: 'MEMORY_INVALID_OPTIONS',
  InvalidInput: 'MEMORY_INVALID_INPUT',
  ScopeRequired: 'MEMORY_SCOPE_REQUIRED',
  InvalidFilter: 'MEMORY_INVALID_FILTER',
  InvalidCursor: 'MEMORY_INVALID_CURSOR',
  NotFound: 'MEMORY_NOT_FOUND',
  EmbedderMismatch: 'MEMORY_EMBEDDER_MISMATCH',
  InferenceNotConfigured: 'MEMORY_INFERENCE_NOT_CONFIGURED',
  InferenceFailed: 'MEMORY_INFERENCE_FAILED',
  /** `rerank` asked of a Memory opened without that reranker. */
  RerankerNotConfigured: 'MEMORY_RERANKER_NOT_CONFIGURED',
  StorageFailed: 'MEMORY_STORAGE_FAILED',
  Closed: 'MEMORY_CLOSED',
  Locked: 'MEMORY_LOCKED',
  /** A shared service (PostgreSQL, the leader replica) is unreachable for now: retry later; nothing was half-applied. */
  Unavailable: 'MEMORY_UNAVAILABLE',
} as const
export type MemoryErrorCode = (typeof MemoryErrorCode)[keyof typeof MemoryErrorCode]

const knownCodes = new Set<string>(Object.values(MemoryErrorCode))

/** The one error class of this package; `code` says what went wrong, `details` carries data. */
export class MemoryError extends Error {
  readonly code: MemoryErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: MemoryErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause })
    this.name = 'MemoryError'
    this.code = code
    this.details = options.details
  }
}

export function isMemoryErrorCode(code: unknown): code is MemoryErrorCode {
  return typeof code === 'string' && knownCodes.has(code)
}

/** Recognises a MemoryError by shape, so duplicate installs of this package still match. */
export function isMemoryError(error: unknown): error is MemoryError {
  return error instanceof Error && error.name === 'MemoryError' && isMemoryErrorCode((error as { code?: unknown }).code)
}

/** Wraps a storage driver's failure; typed errors pass through untouched. */
export function storageFailed(operation: string, cause: unknown): MemoryError {
  if (isMemoryError(cause)) return cause
  return new MemoryError(MemoryErrorCode.StorageFailed, `Storage failed during ${operation}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
    details: { operation },
  })
}

export function invalidInput(message: string): MemoryError {
  return new MemoryError(MemoryErrorCode.InvalidInput, message)
}

export function storeUnavailable(message: string, cause?: unknown): MemoryError {
  return new MemoryError(MemoryErrorCode.Unavailable, message, { cause })
}
