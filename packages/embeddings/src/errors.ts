/** Stable, transport-agnostic codes for every failure @agentmem/embeddings reports. */
export const EmbeddingErrorCode = {
  InvalidOptions: 'EMBEDDINGS_INVALID_OPTIONS',
  InvalidInput: 'EMBEDDINGS_INVALID_INPUT',
  EmptyInput: 'EMBEDDINGS_EMPTY_INPUT',
  InputTooLong: 'EMBEDDINGS_INPUT_TOO_LONG',
  UnknownModel: 'EMBEDDINGS_UNKNOWN_MODEL',
  ModelNotFound: 'EMBEDDINGS_MODEL_NOT_FOUND',
  ModelLoadFailed: 'EMBEDDINGS_MODEL_LOAD_FAILED',
  DownloadFailed: 'EMBEDDINGS_DOWNLOAD_FAILED',
  ChecksumMismatch: 'EMBEDDINGS_CHECKSUM_MISMATCH',
  DimensionMismatch: 'EMBEDDINGS_DIMENSION_MISMATCH',
  QueueFull: 'EMBEDDINGS_QUEUE_FULL',
  Aborted: 'EMBEDDINGS_ABORTED',
  Closed: 'EMBEDDINGS_CLOSED',
  WorkerCrashed: 'EMBEDDINGS_WORKER_CRASHED',
  InferenceFailed: 'EMBEDDINGS_INFERENCE_FAILED',
} as const
export type EmbeddingErrorCode = (typeof EmbeddingErrorCode)[keyof typeof EmbeddingErrorCode]

const knownCodes = new Set<string>(Object.values(EmbeddingErrorCode))

export interface EmbeddingErrorOptions {
  cause?: unknown
  details?: Record<string, unknown>
}

/** The one error class of this package; `code` says what went wrong, `details` carries data. */
export class EmbeddingError extends Error {
  readonly code: EmbeddingErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: EmbeddingErrorCode, message: string, options: EmbeddingErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.name = 'EmbeddingError'
    this.code = code
    this.details = options.details
  }
}

export function isEmbeddingErrorCode(code: unknown): code is EmbeddingErrorCode {
  return typeof code === 'string' && knownCodes.has(code)
}

/** Recognises an EmbeddingError by shape, so duplicate installs of this package still match. */
export function isEmbeddingError(error: unknown): error is EmbeddingError {
  return error instanceof Error && error.name === 'EmbeddingError' && isEmbeddingErrorCode((error as { code?: unknown }).code)
}
