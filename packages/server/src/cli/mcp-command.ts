import { resolve } from 'node:path'
import { isMemoryError, type Memory, MemoryError, MemoryErrorCode } from '@agentmem/memory'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import pino from 'pino'
import { type ServerConfig, shellPath } from '../config.js'
import { createLogger } from '../logger.js'
import { answerInvalidParams, answerUnreadable } from '../mcp/protocol-errors.js'
import { createMcpServer, type DefaultScope } from '../mcp/tools.js'
import { serverVersion } from '../version.js'
import { withMemory } from './data-commands.js'
import type { ServerTarget } from './server-client.js'

/** stdout carries the protocol: every log line goes to stderr. */
const stderrLogger = (config: ServerConfig) => createLogger(config.logLevel, pino.destination(2))

/**
 * Serves the memory tools over stdio on the store itself, as `tenant`, until the client closes
 * stdin. While another process holds the store (a second desktop client started its own
 * `agentmem mcp` on the same folder), the client still attaches: each tool call says why it
 * cannot run and how to share the store, and the first call after the other process lets go
 * opens it.
 */
export async function mcpOnStore(config: ServerConfig, tenant: string, defaults: DefaultScope): Promise<void> {
  const store = storeWhenFree(config, tenant)
  try {
    await store.get()
  } catch (error) {
    if (!isMemoryError(error) || error.code !== MemoryErrorCode.Locked) throw error
    process.stderr.write(`agentmem: ${error.message}\n`)
  }
  try {
    const server = createMcpServer({ memory: store.get, defaults, logger: stderrLogger(config), version: serverVersion })
    const transport = new StdioServerTransport()
    const closed = new Promise<void>((resolve) => {
      transport.onclose = resolve
      process.stdin.once('end', resolve)
    })
    await server.connect(transport)
    answerUnreadable(transport, failTooLarge)
    answerInvalidParams(transport)
    const answered = trackRequests(transport)
    await closed
    // A client that sends its last calls and closes stdin at once (a script, a desktop client
    // quitting) has them run to the end: closing the store under them lost the writes.
    await answered(config.shutdownTimeoutMs)
    await server.close()
  } finally {
    await store.close()
  }
}

/**
 * The store, opened at the first `get` and kept until `close`. An open the lock refused is tried
 * again at the next `get`, and refused with what to do about it.
 */
function storeWhenFree(config: ServerConfig, tenant: string): { get(): Promise<Memory>; close(): Promise<void> } {
  let opening: Promise<Memory> | undefined
  let held: Promise<unknown> | undefined
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  return {
    get: () => {
      opening ??= new Promise<Memory>((resolve, reject) => {
        let opened = false
        held = withMemory(
          config,
          tenant,
          (memory) => {
            opened = true
            resolve(memory)
            return released
          },
          { infer: true },
        ).catch((error: unknown) => {
          if (opened) throw error
          opening = undefined
          reject(isMemoryError(error) && error.code === MemoryErrorCode.Locked ? lockedForMcp(error, config.data) : error)
        })
      })
      return opening
    },
    close: async () => {
      release()
      await held
    },
  }
}

function lockedForMcp(error: MemoryError, data: string): MemoryError {
  const owner = error.details?.['pid']
  return new MemoryError(
    MemoryErrorCode.Locked,
    `The store in ${resolve(data)} is open in ${owner === undefined ? 'another process' : `process ${owner}`} (another \`agentmem mcp\`, a command or a server): one process at a time. ` +
      `To share it between MCP clients, quit them, run \`agentmem serve --data ${shellPath(data)}\`, then start them again: each \`agentmem mcp\` on that folder relays to the server. ` +
      'The next call tries again.',
    error.details ? { details: error.details } : {},
  )
}

/** The SDK closed stdio over a message too large: the client should hear why, and the process fail. */
function failTooLarge(message: string): void {
  process.stderr.write(`agentmem: ${message}\n`)
  process.exitCode = 1
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
    const failure = relayFailure(error, url.origin)
    // A state to fix (a key, a server to start), not a fault of this process: one line, no stack.
    logger.warn({ url: url.origin, code: failure.code, message: failure.message }, 'mcp.relay_failed')
    if (!('id' in message && 'method' in message)) return
    // A request the server refused or never got still gets its answer: a tool call as a tool
    // error in the API's envelope, as the server's own tool errors; anything else as JSON-RPC's.
    void local.send(
      message.method === 'tools/call'
        ? { jsonrpc: '2.0', id: message.id, result: { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: failure }) }] } }
        : { jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `${failure.code}: ${failure.message}` } },
    )
  })
  const closed = new Promise<void>((resolve) => {
    local.onclose = resolve
    process.stdin.once('end', resolve)
  })
  answerUnreadable(local, failTooLarge)
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

/**
 * Why the relay could not pass a message on, in the API's error envelope: the server's own answer
 * when it sent one (a 401 says which flag gives the key), else `SERVER_UNREACHABLE`.
 */
function relayFailure(error: unknown, origin: string): { code: string; message: string } {
  if (error instanceof StreamableHTTPError && error.code !== undefined && error.code > 0) {
    let answered: { code: string; message: string } | undefined
    try {
      const envelope = JSON.parse(error.message.slice(error.message.indexOf('{'))) as { error?: { code?: unknown; message?: unknown } }
      if (typeof envelope.error?.code === 'string' && typeof envelope.error.message === 'string')
        answered = { code: envelope.error.code, message: envelope.error.message }
    } catch {}
    answered ??= { code: 'SERVER_UNREACHABLE', message: `${origin}/mcp answered HTTP ${error.code}` }
    return error.code === 401 ? { ...answered, message: `${answered.message} (pass --key or set AGENTMEM_API_KEY)` } : answered
  }
  const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message
  return {
    code: 'SERVER_UNREACHABLE',
    message: `the server at ${origin} does not answer (${cause}): start it again (\`agentmem serve\`) and restart this MCP client, or run \`agentmem mcp\` with no server to open the store itself`,
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
