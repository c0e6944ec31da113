import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import pino from 'pino'
import type { ServerConfig } from '../config.js'
import { createLogger } from '../logger.js'
import { answerInvalidParams, answerUnreadable } from '../mcp/protocol-errors.js'
import { createMcpServer, type DefaultScope } from '../mcp/tools.js'
import { serverVersion } from '../version.js'
import { withMemory } from './data-commands.js'
import type { ServerTarget } from './server-client.js'

/** stdout carries the protocol: every log line goes to stderr. */
const stderrLogger = (config: ServerConfig) => createLogger(config.logLevel, pino.destination(2))

/** Serves the memory tools over stdio on the store itself, as `tenant`, until the client closes stdin. */
export async function mcpOnStore(config: ServerConfig, tenant: string, defaults: DefaultScope): Promise<void> {
  await withMemory(config, tenant, async (memory) => {
    const server = createMcpServer({ memory, defaults, logger: stderrLogger(config), version: serverVersion })
    const transport = new StdioServerTransport()
    const closed = new Promise<void>((resolve) => {
      transport.onclose = resolve
      process.stdin.once('end', resolve)
    })
    await server.connect(transport)
    answerUnreadable(transport)
    answerInvalidParams(transport)
    const answered = trackRequests(transport)
    await closed
    // A client that sends its last calls and closes stdin at once (a script, a desktop client
    // quitting) has them run to the end: closing the store under them lost the writes.
    await answered(config.shutdownTimeoutMs)
    await server.close()
  })
}

/**
 * Relays stdio to a running server's /mcp: a local MCP client reaches a shared server (and its
 * tenant, through the key) without opening the store. Messages pass through unchanged.
 */
export async function mcpOverHttp(config: ServerConfig, target: ServerTarget, defaults: DefaultScope): Promise<void> {
  const url = new URL(`${target.url.replace(/\/+$/, '')}/mcp`)
  for (const [name, value] of Object.entries(defaults)) if (value !== undefined) url.searchParams.set(name, value)
  const remote = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: target.key === undefined ? {} : { authorization: `Bearer ${target.key}` } },
  })
  const local = new StdioServerTransport()
  const logger = stderrLogger(config)
  relay(local, remote, (message, error) => {
    logger.error({ err: error, url: url.origin }, 'mcp.relay_failed')
    // A request the server refused or never got still gets its answer, as a JSON-RPC error.
    if ('id' in message && 'method' in message) {
      const hint = /\b401\b|UNAUTHORIZED/.test(String(error)) ? ' (pass --key or set AGENTMEM_API_KEY)' : ''
      void local.send({ jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `${url.origin}/mcp: ${(error as Error).message}${hint}` } })
    }
  })
  const closed = new Promise<void>((resolve) => {
    local.onclose = resolve
    process.stdin.once('end', resolve)
  })
  answerUnreadable(local)
  const answered = trackRequests(local)
  await remote.start()
  await local.start()
  await closed
  await answered(config.shutdownTimeoutMs)
  await remote.close()
}

/**
 * Tracks the requests `transport` has received and not yet answered (or the client cancelled:
 * those get no answer); the function returned waits until none is left, or `timeoutMs`. Wraps
 * what the protocol layer (or the relay) set on it.
 */
function trackRequests(transport: Transport): (timeoutMs: number) => Promise<void> {
  const open = new Set<string | number>()
  let drained: (() => void) | undefined
  const settle = (id: unknown) => {
    if (open.delete(id as string | number) && open.size === 0) drained?.()
  }
  const receive = transport.onmessage
  transport.onmessage = (message, extra) => {
    if ('method' in message && 'id' in message) open.add(message.id)
    else if ('method' in message && message.method === 'notifications/cancelled') settle(message.params?.['requestId'])
    receive?.(message, extra)
  }
  const send = transport.send.bind(transport)
  transport.send = async (message, options) => {
    try {
      await send(message, options)
    } finally {
      // A response (or error) answers its request; requests and notifications of our own do not.
      if ('id' in message && !('method' in message)) settle(message.id)
    }
  }
  return async (timeoutMs) => {
    if (open.size === 0) return
    await new Promise<void>((resolve) => {
      drained = resolve
      setTimeout(resolve, timeoutMs).unref()
    })
  }
}

function relay(local: Transport, remote: Transport, onSendFailed: (message: JSONRPCMessage, error: unknown) => void): void {
  local.onmessage = (message) => {
    remote.send(message).catch((error: unknown) => onSendFailed(message, error))
  }
  remote.onmessage = (message) => {
    void local.send(message)
  }
}
