import { STATIC_MODEL_ID } from '@agentmem/embeddings'
import { keysCreateCommand, type ServerConfig } from '../config.js'
import { createLogger } from '../logger.js'
import { startServer } from '../serve.js'
import { redactUrl } from '../store-options.js'

/** Serves until SIGTERM/SIGINT, then shuts down gracefully within `shutdownTimeoutMs`. */
export async function serveCommand(config: ServerConfig): Promise<void> {
  const logger = createLogger(config.logLevel)
  const server = await startServer(config, { logger })
  const { keyCount, authRequired } = server
  const keysCommand = `pnpm ${keysCreateCommand(config)}`
  // One write, so a reader sees the whole banner at once.
  const banner = [
    `AgentMem listening on ${server.url}`,
    `  API docs:  ${server.url}/docs  (OpenAPI: ${server.url}/openapi.json)`,
    `  dashboard: ${server.url}/ui`,
    `  data:      ${config.data}   (memories stored without a key are in tenant default)`,
    ...(config.metadataUrl ? [`  metadata:  ${redactUrl(config.metadataUrl)}`] : []),
    ...(config.vectorsUrl ? [`  memories:  ${config.vectorsUrl}`] : []),
    server.model === STATIC_MODEL_ID
      ? `  model:     ${server.model} (offline default: strong on keywords, weak on meaning; --model all-MiniLM-L6-v2 switches to a transformer model, downloaded once)`
      : `  model:     ${server.model}`,
    !authRequired
      ? `  auth:      no API keys yet, so only clients on this machine are served, without a key, as tenant default.\n             Create one with: ${keysCommand}   (then send Authorization: Bearer <key>; --tenant default keeps what is stored so far)`
      : keyCount === 0
        ? `  auth:      every API key is revoked, so every request is refused until you create one: ${keysCommand}`
        : `  auth:      ${keyCount} API key(s); send Authorization: Bearer <key>. New keys: ${keysCommand}`,
  ]
  process.stderr.write(`${banner.join('\n')}\n`)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'server.signal')
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'server.shutdown_deadline')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    deadline.unref()
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'server.shutdown_failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
