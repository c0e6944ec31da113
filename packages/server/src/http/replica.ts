import { timingSafeEqual } from 'node:crypto'
import { type Forward, isMemoryErrorCode, type Memory, MemoryError, MemoryErrorCode } from '@agentmem/memory'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { type ErrorCode, ServerError, ServerErrorCode, statusByCode } from '../errors.js'
import type { AppEnv } from './context.js'

/** Followers forward writes here; the API-key middleware does not apply, the store's replica secret does. */
export const forwardPath = '/internal/v1/forward'
const secretHeader = 'x-agentmem-replica-secret'

/**
 * The leader's side of replication: runs a write a follower forwarded (Memory.serveForwarded) as
 * the tenant the follower authenticated. Only processes that can read the store's PostgreSQL know
 * the secret; without one (an embedded store) the route does not exist.
 */
export function registerReplicaRoute(app: OpenAPIHono<AppEnv>, memory: Memory): void {
  app.post(forwardPath, async (c) => {
    const secret = memory.replicationSecret
    const given = c.req.header(secretHeader)
    if (secret === undefined) throw new ServerError(ServerErrorCode.RouteNotFound, `No route POST ${forwardPath}`)
    if (given === undefined || !sameSecret(given, secret)) throw new ServerError(ServerErrorCode.Unauthorized, 'Not a replica of this store')
    const call = await c.req.json().catch(() => {
      throw new ServerError(ServerErrorCode.ValidationFailed, 'The forwarded call is not JSON')
    })
    // The answer's envelope ({ result, seq, applied }) goes to the follower as it is.
    return c.json(await memory.serveForwarded(call))
  })
}

function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(secret)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** An error the leader answered with that is not the memory package's (embeddings, server): kept with its code, so it maps to the same status here. */
class ForwardedError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> | undefined,
  ) {
    super(message)
    this.name = 'ForwardedError'
  }
}

/**
 * The follower's side: sends a call to the leader over HTTP. The leader's typed errors come back
 * as the same codes (so a client sees what it would have seen on the leader); an unreachable or
 * failing leader is MEMORY_UNAVAILABLE (503, retry).
 */
export function forwardOverHttp(timeoutMs: number): Forward {
  return async (address, secret, call) => {
    let response: Response
    try {
      response = await fetch(new URL(forwardPath, address), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [secretHeader]: secret },
        body: JSON.stringify(call),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (cause) {
      throw new MemoryError(MemoryErrorCode.Unavailable, 'The replica that leads the store is unreachable; retry shortly', { cause })
    }
    const body = (await response.json().catch(() => undefined)) as
      | { result?: unknown; error?: { code?: unknown; message?: unknown; details?: unknown } }
      | undefined
    if (response.ok && body && 'result' in body) return body
    const { code, message, details } = body?.error ?? {}
    const text = typeof message === 'string' ? message : 'The leader replica refused the write'
    const extra = typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : undefined
    if (isMemoryErrorCode(code)) throw new MemoryError(code, text, { details: extra })
    if (typeof code === 'string' && Object.hasOwn(statusByCode, code) && statusByCode[code as ErrorCode] < 500)
      throw new ForwardedError(code as ErrorCode, text, extra)
    throw new MemoryError(MemoryErrorCode.Unavailable, `The replica that leads the store could not take the write (${response.status}); retry shortly`)
  }
}
