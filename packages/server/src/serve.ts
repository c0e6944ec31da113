import { randomUUID } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { createEmbedder, createReranker } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import { serve } from '@hono/node-server'
import type { Logger } from 'pino'
import { isLoopback, keysCreateCommand, type ServerConfig } from './config.js'
import { dataPaths, type ServerInfo } from './data-paths.js'
import { ServerError, ServerErrorCode, statusByCode } from './errors.js'
import { type App, createApp } from './http/app.js'
import { forwardOverHttp } from './http/replica.js'
import { openKeyStore, openRateLimiter } from './keys/key-store.js'
import { createLogger, packageLogger } from './logger.js'
import { memoryOptions, storeLocation } from './store-options.js'

export interface RunningServer {
  url: string
  /** Active API keys at start. */
  keyCount: number
  /** Whether requests need a key (a key was ever created); if not, only loopback clients are served. */
  authRequired: boolean
  /** The embedding model's id. */
  model: string
  /** Stops accepting, finishes in-flight requests and queued writes, closes the store and the embedding pool. */
  close(): Promise<void>
}

export { dataPaths, type ServerInfo }

/**
 * Serves an app on a port. Requests Node's HTTP parser rejects before the app sees them (headers
 * over 16 KiB, malformed HTTP) get the same JSON error envelope as everything else.
 */
export function listen(app: App, options: { hostname: string; port: number }): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    // node-server's own clean-up destroys a socket whose body is still arriving 500 ms after the
    // answer; under load that reset the connection before clients read their 413 or 401.
    const server = serve({ fetch: app.fetch, autoCleanupIncoming: false, ...options }, () => resolve(server as Server)) as Server
    server.once('error', reject)
    server.on('request', (request: IncomingMessage, response: ServerResponse) => response.once('finish', () => discardUnreadBody(request)))
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || error.code === 'ECONNRESET') {
        socket.destroy()
        return
      }
      const code = error.code === 'HPE_HEADER_OVERFLOW' ? ServerErrorCode.HeadersTooLarge : ServerErrorCode.ValidationFailed
      const body = JSON.stringify({
        error: {
          code,
          message: code === ServerErrorCode.HeadersTooLarge ? 'The request line and headers exceed 16 KiB' : 'Malformed HTTP request',
          request_id: randomUUID(),
        },
      })
      socket.end(
        `HTTP/1.1 ${statusByCode[code]} ${STATUS_CODES[statusByCode[code]]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      )
    })
  })
}

/** Bytes of an unread body read and dropped after the answer; a client sending more is disconnected. */
const maxDiscardBytes = 64 * 1024 * 1024

/**
 * A request answered before its body was read (413, 401, 404...) still has body bytes on the wire.
 * Closing the socket over unread bytes sends a TCP reset, which can destroy the answer before the
 * client reads it; so the rest of the body is read and dropped, and the connection stays usable.
 * Node's idle and request timeouts still bound a client that stops sending.
 */
function discardUnreadBody(request: IncomingMessage): void {
  if (request.readableEnded || request.destroyed) return
  // The app's body stream, if it opened one, is abandoned once the answer is sent.
  request.removeAllListeners('data')
  let bytes = 0
  request.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > maxDiscardBytes) request.socket.destroy()
  })
  request.resume()
}

/** Opens the store and the key store under `config.data`, and serves the app on `config.host:port`. */
export async function startServer(config: ServerConfig, options: { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel)
  const paths = dataPaths(config.data)
  const keys = await openKeyStore(config)
  // Opened resources, closed in reverse order if a later step fails.
  const opened: Array<() => unknown> = [() => keys.close()]
  try {
    const limiter = await openRateLimiter(config)
    opened.push(() => limiter?.close?.())
    const keyCount = await keys.activeCount()
    const authRequired = await keys.authRequired()
    if (!authRequired && !isLoopback(config.host)) {
      throw new ServerError(
        ServerErrorCode.InvalidConfig,
        `Refusing to listen on ${config.host} without API keys: anyone who can reach it could read every memory. Create a key with \`${keysCreateCommand(config)}\`, or listen on 127.0.0.1.`,
      )
    }
    const embedder = await createEmbedder({
      logger: packageLogger(logger.child({ component: 'embeddings' })),
      ...(config.model !== undefined && { model: config.model }),
      ...(config.modelPath !== undefined && { modelPath: config.modelPath }),
      ...(config.embeddingWorkers !== undefined && { workers: config.embeddingWorkers }),
    })
    opened.push(() => embedder.close())
    const reranker =
      config.reranker !== undefined || config.rerankerPath !== undefined
        ? await createReranker({
            logger: packageLogger(logger.child({ component: 'reranker' })),
            ...(config.reranker !== undefined && { model: config.reranker }),
            ...(config.rerankerPath !== undefined && { modelPath: config.rerankerPath }),
            workers: config.rerankerWorkers ?? Math.min(2, availableParallelism()),
            // Stored memories may be as long as the server accepts: the reranker must not refuse them.
            maxTextLength: config.maxTextLength,
          })
        : undefined
    if (reranker) opened.push(() => reranker.close())
    const memory = await Memory.open({
      ...storeLocation(config),
      embedder,
      ...(reranker && { reranker }),
      logger: packageLogger(logger.child({ component: 'memory' })),
      ...memoryOptions(config),
      // On PostgreSQL several servers may share the store: one leads, the others forward writes to it.
      ...(config.metadataUrl && {
        replication: {
          forward: forwardOverHttp(config.requestTimeoutMs),
          checkEveryMs: config.replicaCheckMs,
        },
      }),
    })
    opened.push(() => memory.close())
    const lifecycle = { shuttingDown: false }
    const app = createApp({ memory, keys, ...(limiter && { limiter }), config, logger, embedder, lifecycle })
    const server = await listen(app, { hostname: config.host, port: config.port })
    const address = server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    const url = `http://${host}:${address.port}`
    // Only now can other replicas reach this one: it may lead from here on (never while opening).
    if (config.metadataUrl) await memory.advertise(config.advertiseUrl ?? url)
    logger.info(
      {
        url,
        docs: `${url}/docs`,
        keys: keyCount,
        data: config.data,
        llm: config.llmBaseUrl ? { url: config.llmBaseUrl, model: config.llmModel } : null,
        reranker: reranker?.modelId ?? null,
      },
      'server.listening',
    )
    // The key store no longer creates data/server/ when keys are in PostgreSQL.
    mkdirSync(dirname(paths.serverInfo), { recursive: true })
    writeFileSync(paths.serverInfo, JSON.stringify({ url, pid: process.pid } satisfies ServerInfo))

    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= (async () => {
        lifecycle.shuttingDown = true
        logger.info({}, 'server.shutting_down')
        rmSync(paths.serverInfo, { force: true })
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          // Idle keep-alive connections would hold close() open; busy ones finish their request first.
          server.closeIdleConnections()
        })
        await memory.close()
        await embedder.close()
        await reranker?.close()
        await limiter?.close?.()
        await keys.close()
        logger.info({}, 'server.stopped')
      })()
      return closing
    }
    return { url, keyCount, authRequired, model: embedder.modelId, close }
  } catch (error) {
    for (const close of opened.reverse()) await close()
    throw error
  }
}
