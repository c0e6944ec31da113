import type { EmbeddingErrorCode } from '@agentmem/embeddings'
import type { MemoryErrorCode } from '@agentmem/memory'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Logger } from 'pino'

/** Codes only the server reports. */
export const ServerErrorCode = {
  ValidationFailed: 'REQUEST_VALIDATION_FAILED',
  RouteNotFound: 'ROUTE_NOT_FOUND',
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  Unauthorized: 'UNAUTHORIZED',
  Forbidden: 'FORBIDDEN',
  RateLimited: 'RATE_LIMITED',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  HeadersTooLarge: 'REQUEST_HEADERS_TOO_LARGE',
  RequestTimeout: 'REQUEST_TIMEOUT',
  NotImplemented: 'NOT_IMPLEMENTED',
  ShuttingDown: 'SHUTTING_DOWN',
  KeysUnavailable: 'KEYS_UNAVAILABLE',
  Internal: 'INTERNAL',
  InvalidConfig: 'SERVER_INVALID_CONFIG',
} as const
export type ServerErrorCode = (typeof ServerErrorCode)[keyof typeof ServerErrorCode]

export type ErrorCode = ServerErrorCode | MemoryErrorCode | EmbeddingErrorCode

/** The one place codes become HTTP statuses; `satisfies` fails the build when a code is missing. */
export const statusByCode = {
  REQUEST_VALIDATION_FAILED: 400,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  REQUEST_HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 504,
  NOT_IMPLEMENTED: 501,
  SHUTTING_DOWN: 503,
  KEYS_UNAVAILABLE: 503,
  INTERNAL: 500,
  SERVER_INVALID_CONFIG: 500,
  MEMORY_INVALID_OPTIONS: 400,
  MEMORY_INVALID_INPUT: 400,
  MEMORY_SCOPE_REQUIRED: 400,
  MEMORY_INVALID_FILTER: 400,
  MEMORY_INVALID_CURSOR: 400,
  MEMORY_NOT_FOUND: 404,
  MEMORY_EMBEDDER_MISMATCH: 409,
  MEMORY_INFERENCE_NOT_CONFIGURED: 501,
  MEMORY_RERANKER_NOT_CONFIGURED: 501,
  MEMORY_INFERENCE_FAILED: 502,
  MEMORY_STORAGE_FAILED: 500,
  MEMORY_CLOSED: 503,
  MEMORY_LOCKED: 409,
  MEMORY_UNAVAILABLE: 503,
  EMBEDDINGS_INVALID_OPTIONS: 500,
  EMBEDDINGS_INVALID_INPUT: 400,
  EMBEDDINGS_EMPTY_INPUT: 400,
  EMBEDDINGS_INPUT_TOO_LONG: 413,
  EMBEDDINGS_UNKNOWN_MODEL: 500,
  EMBEDDINGS_MODEL_NOT_FOUND: 500,
  EMBEDDINGS_MODEL_LOAD_FAILED: 500,
  EMBEDDINGS_DOWNLOAD_FAILED: 502,
  EMBEDDINGS_CHECKSUM_MISMATCH: 502,
  EMBEDDINGS_DIMENSION_MISMATCH: 500,
  EMBEDDINGS_QUEUE_FULL: 503,
  EMBEDDINGS_ABORTED: 503,
  EMBEDDINGS_CLOSED: 503,
  EMBEDDINGS_WORKER_CRASHED: 500,
  EMBEDDINGS_INFERENCE_FAILED: 500,
} satisfies Record<ErrorCode, ContentfulStatusCode>

/** Seconds a client should wait before retrying, for statuses that mean "not now". */
export const retryAfterByCode: Partial<Record<ErrorCode, number>> = {
  EMBEDDINGS_QUEUE_FULL: 1,
  EMBEDDINGS_ABORTED: 1,
  SHUTTING_DOWN: 5,
  KEYS_UNAVAILABLE: 1,
  MEMORY_CLOSED: 5,
  MEMORY_UNAVAILABLE: 1,
}

/**
 * What a 5xx body says when the error comes from a library (storage, embeddings, LLM): its own
 * message can carry paths and internals, so it goes to the log under the request id instead.
 */
export function publicMessage(code: ErrorCode): string {
  if (code === 'MEMORY_INFERENCE_NOT_CONFIGURED') return 'infer: true needs an LLM, and this server has none configured'
  if (code === 'MEMORY_RERANKER_NOT_CONFIGURED')
    return 'rerank needs a reranker model, and this server has none (--reranker or --reranker-path) or another one than `model` names (details.configured)'
  const status = statusByCode[code]
  if (status === 501) return 'Not implemented by this server'
  if (status === 502) return 'An upstream service (LLM or model hub) failed; the request id identifies it in the server log'
  if (status === 503) return 'Temporarily unavailable; retry after Retry-After seconds'
  return 'Internal error; the request id identifies it in the server log'
}

/** The engine's option names, as the HTTP API spells them. */
const apiNameOf: Record<string, string> = {
  userId: 'user_id',
  agentId: 'agent_id',
  runId: 'run_id',
  topK: 'top_k',
  memoryType: 'memory_type',
  includeSuperseded: 'include_superseded',
  getAll: 'list',
  deleteAll: 'delete all',
  addBatch: 'batch add',
}

/** Replaces each of `names`' keys found as a word, outside quotes (quoted text is the client's own and stays). */
function renamer(names: Record<string, string>): (message: string) => string {
  const word = new RegExp(`(?<!['"\\w])(${Object.keys(names).join('|')})(?!['"\\w])`, 'g')
  return (message) => message.replace(word, (name) => names[name] ?? name)
}

/** A library's client-error message in the HTTP API's words (`user_id`, not `userId`). */
export const apiNames = renamer(apiNameOf)

const optionFlags = { userId: '--user', agentId: '--agent', runId: '--run', topK: '--top-k' }
const optionAndFieldFlags = renamer({ ...optionFlags, user_id: '--user', agent_id: '--agent', run_id: '--run', top_k: '--top-k' })
const optionFlagsOnly = renamer(optionFlags)

/**
 * A client-error message of the engine or a server in the CLI's words, its flags (`--user`), not
 * option or field names (`userId`, `user_id`). A filter's message names fields of the filter
 * JSON, which stay; only the engine's own option names change there.
 */
export function flagNames(message: string, code: string): string {
  return code === 'MEMORY_INVALID_FILTER' ? optionFlagsOnly(message) : optionAndFieldFlags(message)
}

/** A library's client-error details in the HTTP API's words: each validation issue's `path` (`1.user_id`). */
export function apiDetails(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const issues = details?.['issues']
  if (!Array.isArray(issues)) return details
  return { ...details, issues: issues.map((issue) => (typeof issue?.path === 'string' ? { ...issue, path: apiNames(issue.path) } : issue)) }
}

export class ServerError extends Error {
  readonly code: ServerErrorCode
  readonly details: Record<string, unknown> | undefined
  /** Extra response headers (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string>

  constructor(code: ServerErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(message, { cause: options.cause })
    this.name = 'ServerError'
    this.code = code
    this.details = options.details
    this.headers = options.headers ?? {}
  }
}

/** Any package's typed error, recognised by shape (duplicate installs break instanceof). */
export function isCodedError(error: unknown): error is Error & { code: ErrorCode; details?: Record<string, unknown>; headers?: Record<string, string> } {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && Object.hasOwn(statusByCode, error.code)
}

/** Lists each invalid field as `{ path, message }`, like the memory package's own errors. */
export function validationFailed(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, where: string): ServerError {
  const list = issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }))
  const summary = list.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')
  return new ServerError(ServerErrorCode.ValidationFailed, `Invalid ${where}: ${summary}`, { details: { issues: list } })
}

/**
 * Logs a failed request (HTTP) or tool call (MCP) alike: a 503 is a condition the client retries
 * through (a leader changing, PostgreSQL restarting) and a 504 a request that outlived its timeout,
 * warnings without a stack; a 501 is a feature the client asked for and this server lacks, a
 * warning; any other 5xx is a fault, an error with its stack. Client errors (4xx) are not logged.
 * `log` builds the logger only when there is something to log.
 */
export function logFailure(log: () => Logger, surface: 'http' | 'mcp', error: unknown, code: ErrorCode, context: Record<string, unknown> = {}): void {
  const status = statusByCode[code]
  if (status === 503) log().warn({ ...context, code, error: error instanceof Error ? errorChain(error) : String(error) }, `${surface}.unavailable`)
  else if (status === 504) log().warn({ ...context, code }, `${surface}.timeout`)
  else if (status === 501) log().warn({ ...context, code }, `${surface}.not_implemented`)
  else if (status >= 500) log().error({ ...context, err: error, code }, surface === 'http' ? 'http.error' : 'mcp.tool_failed')
}

/** An error's message and its causes' messages, for a one-line log. */
function errorChain(error: Error): string {
  const messages: string[] = []
  for (let e: unknown = error; e instanceof Error && messages.length < 5; e = e.cause) messages.push(e.message)
  return messages.join(': ')
}
