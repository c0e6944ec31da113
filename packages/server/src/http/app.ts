import { randomUUID } from 'node:crypto'
import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { timeout } from 'hono/timeout'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { isLoopback } from '../config.js'
import {
  apiDetails,
  apiNames,
  type ErrorCode,
  isCodedError,
  logFailure,
  publicMessage,
  retryAfterByCode,
  ServerError,
  ServerErrorCode,
  statusByCode,
  validationFailed,
} from '../errors.js'
import { withoutRedaction } from '../logger.js'
import { registerMcpRoute } from '../mcp/http.js'
import { createDashboard } from '../ui/dashboard.js'
import type { AppDeps, AppEnv } from './context.js'
import { createMetrics } from './metrics.js'
import { RateLimiter } from './rate-limit.js'
import { forwardPath, registerReplicaRoute } from './replica.js'
import { registerAdminRoutes } from './routes/admin.js'
import { registerDocsRoutes } from './routes/docs.js'
import { registerMem0Routes } from './routes/mem0.js'
import { registerMemoryRoutes } from './routes/memories.js'

/** Routes anyone may call: probes, the API's own description; replicas' forwarded writes carry their own secret. `/metrics` as configured. */
const publicPaths = new Set(['/health', '/ready', '/openapi.json', '/docs', '/favicon.ico', forwardPath])
/** Routes that take POST alone; other methods on them are 405 (see createApp). */
const postOnlyPaths = ['/v1/memories/search', '/v1/memories/batch', '/v3/memories/search/', '/v3/memories/add/', '/mcp']
/** A successful request slower than this is logged at info (with its route and time), others at debug. */
const slowRequestMs = 1_000

/**
 * Builds the HTTP app on already-open dependencies; it owns no process state, so tests can call
 * `app.request()` or serve it on a port. See `startServer` for the process around it.
 */
export function createApp(deps: AppDeps) {
  const { config, keys, memory, logger } = deps
  const lifecycle = deps.lifecycle ?? { shuttingDown: false }
  const metrics = createMetrics(memory, deps.embedder ?? memory.embedder)
  const limiter = deps.limiter ?? (config.rateLimitPerMinute > 0 ? new RateLimiter(config.rateLimitPerMinute) : undefined)
  const dashboard = createDashboard(deps)
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationFailed(result.error.issues, `request ${result.target === 'json' ? 'body' : result.target}`)
    },
  })

  app.onError((error, c) => errorResponse(error, c))
  app.notFound((c) => {
    // A path that exists under other methods is a 405 naming them (PUT /v1/memories/{id} read as "no route").
    const { method, path } = c.req
    // A trailing slash added or left out is the usual slip: native paths have none, Mem0's v1 paths one.
    const twin = path.endsWith('/') ? path.slice(0, -1) : `${path}/`
    const hint = twin !== '' && allowedMethods(twin).includes(method) ? ` (${method} ${twin} is a route)` : ''
    const allow = allowedMethods(path)
    if (allow.length === 0) return errorResponse(new ServerError(ServerErrorCode.RouteNotFound, `No route ${method} ${path}${hint}`), c)
    const methods = allow.join(', ')
    return errorResponse(
      new ServerError(ServerErrorCode.MethodNotAllowed, `${method} ${path} does not exist: this path takes ${methods}${hint}`, {
        headers: { allow: methods },
      }),
      c,
    )
  })

  // Fixed fields, none secret: the same line as through `logger`, without redaction's cost.
  const accessLog = withoutRedaction(logger)

  app.use(async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 128) || randomUUID()
    c.set('requestId', requestId)
    c.header('x-request-id', requestId)
    const started = performance.now()
    await next()
    // While shutting down, keep-alive clients are told to reconnect elsewhere, or their
    // connections would never go idle and the server could not close.
    if (lifecycle.shuttingDown) c.header('connection', 'close')
    const ms = performance.now() - started
    // The route pattern, never the raw path: ids in paths would explode the label set.
    const route = c.req.routePath === '/*' ? 'unmatched' : c.req.routePath
    metrics.requestSeconds.observe({ method: c.req.method, route, status: String(c.res.status) }, ms / 1000)
    // Successes at debug: a line per request cost ~35 µs of formatting and writing, about a quarter
    // of a cheap request, and the latency histogram already counts them. Refusals and failures
    // (4xx, 5xx) stay at info, and so do slow successes, which say where to look;
    // AGENTMEM_LOG_LEVEL=debug logs every request.
    accessLog[c.res.status >= 400 || ms >= slowRequestMs ? 'info' : 'debug'](
      { requestId, method: c.req.method, route, status: c.res.status, ms: Math.round(ms) },
      'http.request',
    )
  })

  app.get('/health', (c) => c.json({ status: 'ok' }))
  app.get('/ready', async (c) => {
    if (lifecycle.shuttingDown) return c.json({ status: 'shutting_down' }, 503)
    try {
      await memory.size()
      return c.json({ status: 'ready' })
    } catch {
      return c.json({ status: 'unavailable' }, 503)
    }
  })
  registerDocsRoutes(app)
  // Browsers ask for it on every dashboard page; without this, each logged a 401 in the console.
  app.get('/favicon.ico', (c) => c.body(null, 204))

  const metricsArePublic = config.metricsAccess === 'public'
  app.use(async (c, next) => {
    if (publicPaths.has(c.req.path) || c.req.path.startsWith('/docs/') || dashboard.isPublic(c.req.path)) return next()
    if (metricsArePublic && c.req.path === '/metrics') return next()
    if (lifecycle.shuttingDown) throw new ServerError(ServerErrorCode.ShuttingDown, 'The server is shutting down', { headers: { 'retry-after': '5' } })
    // The dashboard authenticates with its session's key, exactly as a client sending that key would.
    const principal = await authenticate(c, dashboard.owns(c.req.path) ? dashboard.authorization(c) : c.req.header('authorization'))
    c.set('principal', principal)
    c.set('memory', memory.withTenant(principal.tenantId))
    if (limiter) {
      const verdict = await limiter.take(principal.keyId ?? `addr:${remoteAddress(c)}`)
      if (!verdict.ok) {
        throw new ServerError(ServerErrorCode.RateLimited, `More than ${config.rateLimitPerMinute} requests a minute`, {
          headers: { 'retry-after': String(verdict.retryAfterSeconds) },
          details: { limit_per_minute: config.rateLimitPerMinute },
        })
      }
    }
    return next()
  })
  const tooLarge = () => {
    throw new ServerError(ServerErrorCode.PayloadTooLarge, `The body is larger than ${config.bodyLimitBytes} bytes`, {
      details: { limit_bytes: config.bodyLimitBytes },
    })
  }
  const limitStreamedBody = bodyLimit({ maxSize: config.bodyLimitBytes, onError: tooLarge })
  app.use(async (c, next) => {
    // hono's bodyLimit reads `c.req.raw.body` first, and on node-server that builds a whole fetch
    // Request (abort signal, web stream) for every request, then reads the body through it. What it
    // decides is kept without that: GET and HEAD have no body (fetch refuses one), and a
    // Content-Length without Transfer-Encoding is what it compares. Chunked bodies take its path.
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const length = c.req.header('content-length')
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return limitStreamedBody(c, next)
    if (Number.parseInt(length, 10) > config.bodyLimitBytes) tooLarge()
    return next()
  })
  app.use(async (c, next) => {
    // Every body this API reads is JSON; a form or text body would otherwise fail as "invalid JSON".
    // The dashboard's are forms, and it refuses anything without its form token.
    if (dashboard.owns(c.req.path)) return next()
    const type = c.req.header('content-type')
    const length = c.req.header('content-length')
    const method = c.req.method
    // Over HTTP/1.1 a request has a body only with Content-Length or Transfer-Encoding; node-server
    // gives every other request a body stream, empty or not (a DELETE without one). In process
    // (`app.request`), the Request says.
    const hasBody =
      method === 'GET' || method === 'HEAD'
        ? false
        : length !== undefined
          ? length !== '0'
          : c.req.header('transfer-encoding') !== undefined || (c.env?.incoming === undefined && c.req.raw.body !== null)
    // A compressed body would read as malformed JSON: say what is not supported.
    const encoding = c.req.header('content-encoding')
    if (hasBody && encoding !== undefined && !['', 'identity'].includes(encoding.trim().toLowerCase())) {
      throw new ServerError(
        ServerErrorCode.UnsupportedMediaType,
        `Compressed bodies are not supported: send the JSON without Content-Encoding (got ${encoding.slice(0, 50)})`,
      )
    }
    // A body without a Content-Type too: the native routes' validators would call it invalid, and
    // the Mem0 routes would take it, where docs/http-api.md says 415 for both.
    if (hasBody && (type === undefined || !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type))) {
      const sent = type === undefined ? 'none was sent' : `not ${type.slice(0, 100)}`
      throw new ServerError(ServerErrorCode.UnsupportedMediaType, `Bodies are JSON: send Content-Type: application/json, ${sent}`)
    }
    // JSON is UTF-8 (RFC 8259). Bytes sent as another charset were decoded as UTF-8 anyway, and
    // each one that is not UTF-8 was stored as U+FFFD: the text changed without a word.
    const charset = hasBody ? /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type ?? '')?.[1] : undefined
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      throw new ServerError(ServerErrorCode.UnsupportedMediaType, `JSON bodies are UTF-8: send charset=utf-8 or none, not ${charset.slice(0, 50)}`)
    }
    return next()
  })
  app.use(async (c, next) => {
    // A query parameter given twice is refused rather than one of its values used (or read as NaN).
    // Only a URL with an '&' can repeat one; the dashboard's forms are its own.
    if (c.req.url.includes('&') && !dashboard.owns(c.req.path)) {
      const repeated = Object.entries(c.req.queries()).find(([, values]) => values.length > 1)?.[0]
      if (repeated !== undefined) throw validationFailed([{ path: [repeated], message: 'given more than once' }], 'query')
    }
    return next()
  })
  app.use(timeout(config.requestTimeoutMs, () => new HTTPException(504)))

  // POST-only routes say so. Without these, GET /v1/memories/search would reach GET
  // /v1/memories/{id} and read as a bad id; and /mcp is stateless, so it has no event stream to
  // open (GET) and no session to end (DELETE), where the MCP spec's answer is this 405.
  for (const path of postOnlyPaths) {
    app.on(['GET', 'PUT', 'PATCH', 'DELETE'], path, (c) => {
      throw new ServerError(ServerErrorCode.MethodNotAllowed, `${c.req.method} ${path} does not exist: use POST ${path} with a JSON body`, {
        headers: { allow: 'POST' },
      })
    })
  }

  app.get('/metrics', async (c) => {
    // The whole server's totals: another tenant's traffic shows in them.
    if (!metricsArePublic && c.get('principal').role !== 'admin') {
      throw new ServerError(ServerErrorCode.Forbidden, '/metrics needs an admin key (or metricsAccess: public)')
    }
    return c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType })
  })
  registerMemoryRoutes(app, config)
  registerAdminRoutes(app, keys)
  registerMem0Routes(app, config)
  registerMcpRoute(app, logger)
  registerReplicaRoute(app, memory)
  app.route('/ui', dashboard.app)

  /** Each route's method and path pattern (`:id` one segment, `*` the rest), read from the app once every route is registered. */
  let routeTable: Array<{ method: string; pattern: RegExp }> | undefined
  function allowedMethods(path: string): string[] {
    // Their other methods are routes that answer 405, and GET /v1/memories/{id} would match 'search'.
    if (postOnlyPaths.includes(path)) return ['POST']
    routeTable ??= app.routes
      .filter((route) => route.method !== 'ALL')
      .map((route) => ({
        method: route.method,
        pattern: new RegExp(
          `^${route.path
            .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
            .replace(/:[^/]+/g, '[^/]+')
            .replace(/\*/g, '.*')}$`,
        ),
      }))
    const methods = new Set(routeTable.filter((route) => route.pattern.test(path)).map((route) => route.method))
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods]
  }

  /** `Bearer <key>` (native) or `Token <key>` (Mem0 clients). Until the first key is created, loopback clients act as the default tenant's admin. */
  async function authenticate(c: Context<AppEnv>, header: string | undefined) {
    const challenge = { 'www-authenticate': 'Bearer' }
    if (header !== undefined) {
      const match = /^(?:bearer|token)\s+(\S+)$/i.exec(header.trim())
      if (!match?.[1]) {
        throw new ServerError(ServerErrorCode.Unauthorized, 'The Authorization header must be Bearer <key> (or Token <key>, as Mem0 clients send)', {
          headers: challenge,
        })
      }
      const principal = await keys.verify(match[1])
      if (!principal) throw new ServerError(ServerErrorCode.Unauthorized, 'The API key is invalid or revoked', { headers: challenge })
      return principal
    }
    if (await keys.authRequired())
      throw new ServerError(ServerErrorCode.Unauthorized, 'An API key is required: Authorization: Bearer <key>', { headers: challenge })
    if (!isLoopback(remoteAddress(c))) {
      throw new ServerError(ServerErrorCode.Unauthorized, 'No API keys exist yet, so only this machine is served; create one with `agentmem keys create`', {
        headers: challenge,
      })
    }
    return { tenantId: 'default', role: 'admin' as const, keyId: null }
  }

  function errorResponse(error: unknown, c: Context<AppEnv>): Response {
    const requestId = c.get('requestId') ?? 'unknown'
    let code: ErrorCode
    let message: string
    let details: Record<string, unknown> | undefined
    let headers: Record<string, string> = {}
    if (isCodedError(error)) {
      code = error.code
      headers = error.headers ?? {}
      if (error instanceof ServerError) {
        message = error.message
        details = error.details
      } else if (statusByCode[code] < 500) {
        message = apiNames(error.message)
        details = apiDetails(error.details)
      } else {
        // A library's 5xx message can carry paths and internals: it goes to the log only.
        message = publicMessage(code)
        // A 501 names what the client asked for and this server lacks (e.g. which reranker it has instead): no internals.
        if (statusByCode[code] === 501) details = error.details
      }
    } else if (error instanceof HTTPException && error.status < 500 && error.status !== 413) {
      // hono's own 4xx, e.g. malformed JSON in a validated body.
      code = ServerErrorCode.ValidationFailed
      message = error.message || 'Invalid request'
    } else if (error instanceof HTTPException && error.status === 413) {
      code = ServerErrorCode.PayloadTooLarge
      message = 'The body is too large'
    } else if (error instanceof HTTPException && error.status === 504) {
      code = ServerErrorCode.RequestTimeout
      message = `The request took longer than ${config.requestTimeoutMs} ms`
    } else {
      code = ServerErrorCode.Internal
      message = publicMessage(code)
    }
    const status: ContentfulStatusCode = statusByCode[code]
    // Built only for a response it logs, not per request: a child logger costs ~2% of a search's CPU.
    const log = () => logger.child({ requestId })
    logFailure(log, 'http', error, code, status === 504 ? { timeoutMs: config.requestTimeoutMs } : {})
    const retryAfter = retryAfterByCode[code]
    if (retryAfter !== undefined && !headers['retry-after']) headers['retry-after'] = String(retryAfter)
    if (dashboard.owns(c.req.path)) return dashboard.errorResponse(c, { status, code, message, requestId, headers })
    return c.json({ error: { code, message, request_id: requestId, ...(details && { details }) } }, status, headers)
  }

  return app
}

function remoteAddress(c: Context<AppEnv>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? 'unknown'
}

export type App = ReturnType<typeof createApp>
