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
  'token',
  '*.token',
]

/** The server's structured JSON logger (one line per event, on stdout unless told otherwise). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'agentmem' }, redact: { paths: redact, censor: '[redacted]' } }, destination)
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
