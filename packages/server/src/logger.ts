import type { Logger as PackageLogger } from '@agentmem/embeddings'
import pino, { type DestinationStream, type Logger } from 'pino'

/** Anything that could carry a key or token is replaced before a line is written. */
const redact = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'key',
  '*.key',
  'apiKey',
  '*.apiKey',
  'hubToken',
  '*.hubToken',
  'llmApiKey',
  '*.llmApiKey',
  'metadataUrl',
  '*.metadataUrl',
  's3SecretAccessKey',
  '*.s3SecretAccessKey',
  'storageOptions',
  '*.storageOptions',
  'token',
  '*.token',
]

/** The server's structured JSON logger (one line per event, on stdout unless told otherwise). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'agentmem' }, redact: { paths: redact, censor: '[redacted]' } }, destination)
}

/**
 * A child that skips redaction, for lines of a fixed shape with no key a redact path names and no
 * object values (the per-request access line): pino runs the wildcard paths over every top-level
 * value of every line, ~12 µs a line here, and on such a line they can change nothing.
 */
export function withoutRedaction(log: Logger): Logger {
  return log.child({}, { redact: [] })
}

/** The packages' `Logger` (event, fields) on top of pino (fields, message). */
export function packageLogger(log: Logger): PackageLogger {
  return {
    debug: (event, fields) => log.debug(fields ?? {}, event),
    info: (event, fields) => log.info(fields ?? {}, event),
    warn: (event, fields) => log.warn(fields ?? {}, event),
    error: (event, fields) => log.error(fields ?? {}, event),
  }
}
