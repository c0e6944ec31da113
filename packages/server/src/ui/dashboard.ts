/** @module The web dashboard at /ui: server-rendered pages over the same tenant view of the store as the HTTP API. */
import type { Context } from 'hono'
import { Hono } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { csrf } from 'hono/csrf'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { apiNames, isCodedError, ServerError, ServerErrorCode, statusByCode } from '../errors.js'
import type { AppDeps, AppEnv } from '../http/context.js'
import { readFilters } from '../http/filters.js'
import { listPage, memoryNotFound } from '../http/routes/memories.js'
import { scopeOf, toHistoryJson, toJobJson, toMemoryJson, toSearchHitJson } from '../http/schemas.js'
import { diskUsage } from './disk-usage.js'
import { asShown, dashboardForms, parseFiltersText } from './forms.js'
import { csrfTokenMatches, type Session, SessionStore } from './sessions.js'
import { stylesheet } from './styles.js'
import { entitiesPage } from './views/entities.js'
import { type JobsInput, jobsPage } from './views/jobs.js'
import { confirmRevokePage, keyCreatedPage, keysPage } from './views/keys.js'
import { errorPage, type Html, type Viewer } from './views/layout.js'
import { loginPage } from './views/login.js'
import { confirmDeletePage, type ListInput, memoriesPage, memoryPage } from './views/memories.js'
import { type SearchInput, searchPage } from './views/search.js'
import { statsPage } from './views/stats.js'

type DashboardEnv = { Bindings: AppEnv['Bindings']; Variables: AppEnv['Variables'] & { session: Session } }
type DashboardContext = Context<DashboardEnv>

const cookieName = 'agentmem_session'
/** Sign-in, sign-out (which must work with a revoked key) and the stylesheet need no session. */
const publicPaths = new Set(['/ui/login', '/ui/logout', '/ui/assets/dashboard.css'])

/**
 * No script at all, styles from one same-origin file, forms that post only here, never framed.
 * Pages hold memories, so no caching and no Referer (list cursors and queries are in URLs).
 */
const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

/** Fixed texts for `?notice=` after a redirect: a URL never carries text the page would echo. */
const notices: Record<string, string> = {
  saved: 'Saved.',
  unchanged: 'Nothing changed.',
  deleted: 'Deleted. The history keeps the texts until the memory is purged.',
  purged: 'Purged: the texts are erased from history and disk.',
  revoked: 'Key revoked.',
}

export interface Dashboard {
  /** The routes, to mount at /ui. */
  app: Hono<DashboardEnv>
  /** Whether a path is the dashboard's (its errors are pages, its bodies are forms). */
  owns(path: string): boolean
  /** Dashboard paths served before authentication. */
  isPublic(path: string): boolean
  /** The credential a dashboard request acts with: its session's key, never a header the page sent. */
  authorization(c: Context): string | undefined
  /** A dashboard request's error as a page; a 401 sends the browser to sign in. */
  errorResponse(c: Context<AppEnv>, error: { status: number; code: string; message: string; requestId: string; headers: Record<string, string> }): Response
}

/**
 * The dashboard runs behind the app's own middleware: the auth middleware turns the session's key
 * into the principal and tenant view exactly as for an API request (no key on loopback before the
 * first key exists means tenant default), and rate limits, timeouts and the error mapping apply.
 * Handlers call the engine as the API routes do, with the API's schemas, filters and JSON mappers.
 */
export function createDashboard(deps: AppDeps): Dashboard {
  const { keys, config } = deps
  const sessions = new SessionStore()
  const forms = dashboardForms(config)
  const app = new Hono<DashboardEnv>()
  const checkOrigin = csrf()

  const sessionOf = (c: Context) => sessions.get(getCookie(c, cookieName))
  const startSession = (c: Context, key: string | null) => {
    const session = sessions.create(key)
    setCookie(c, cookieName, session.id, {
      path: '/ui',
      httpOnly: true,
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
    })
    return session
  }
  const viewer = (c: DashboardContext): Viewer => ({ principal: c.get('principal'), csrfToken: c.get('session').csrfToken })
  const actor = (c: DashboardContext) => c.get('principal').keyId ?? undefined
  const render = (c: DashboardContext, page: Html, status: 200 | 400 | 404 = 200) => c.html(page, status)
  const requireAdmin = (c: DashboardContext) => {
    if (c.get('principal').role !== 'admin') throw new ServerError(ServerErrorCode.Forbidden, 'Key management needs an admin key')
  }
  const form = async (c: Context): Promise<Record<string, unknown>> => {
    let body: Record<string, unknown>
    try {
      body = await c.req.parseBody({ all: true })
    } catch (cause) {
      // A malformed multipart body is the client's fault: 400, not the 500 of an unknown error.
      throw new ServerError(ServerErrorCode.ValidationFailed, 'The form body could not be read', { cause })
    }
    // As the API refuses a query parameter given twice: a form field given twice was read as its last value.
    const twice = Object.keys(body).find((name) => Array.isArray(body[name]))
    if (twice !== undefined)
      throw new ServerError(ServerErrorCode.ValidationFailed, `The form field ${twice} is given more than once`, { details: { field: twice } })
    return body
  }

  app.use(async (c, next) => {
    await next()
    for (const [name, value] of Object.entries(securityHeaders)) c.header(name, value)
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store')
  })

  // Every state-changing request: hono's Origin / Sec-Fetch-Site check, then (past sign-in) the
  // session's token. The origin check alone trusts every browser to send those headers and lets a
  // non-form content type through; the token does not depend on either.
  app.use(async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    try {
      await checkOrigin(c, async () => {})
    } catch (error) {
      if (error instanceof HTTPException && error.status === 403) throw new ServerError(ServerErrorCode.Forbidden, 'Cross-site form posts are refused')
      throw error
    }
    return next()
  })

  app.use(async (c, next) => {
    if (publicPaths.has(c.req.path)) return next()
    // Authenticated by now. With a key the session exists (its key authenticated the request);
    // without one (loopback, no keys yet) a keyless session is opened to carry the CSRF token.
    const session = sessionOf(c) ?? startSession(c, null)
    c.set('session', session)
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && !csrfTokenMatches(session, (await form(c))['_csrf'])) {
      throw new ServerError(ServerErrorCode.Forbidden, 'The form is stale or did not come from this dashboard: reload the page and try again')
    }
    return next()
  })

  app.get('/assets/dashboard.css', (c) => c.body(stylesheet, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=86400' }))

  app.get('/login', async (c) => {
    if (sessionOf(c)?.key) return c.redirect('/ui', 303)
    return c.html(loginPage({ noKeys: !(await keys.authRequired()) }))
  })
  app.post('/login', async (c) => {
    const { key } = forms.login(await form(c))
    if (!(await keys.verify(key))) return c.html(loginPage({ error: 'That key is invalid or revoked.', noKeys: false }), 401)
    // A new id at every sign-in, so an id planted before it (session fixation) is worth nothing.
    const previous = getCookie(c, cookieName)
    if (previous) sessions.delete(previous)
    startSession(c, key)
    return c.redirect('/ui', 303)
  })
  app.post('/logout', async (c) => {
    const session = sessionOf(c)
    if (session) {
      if (!csrfTokenMatches(session, (await form(c))['_csrf'])) throw new ServerError(ServerErrorCode.Forbidden, 'The sign-out form is stale: reload the page')
      sessions.delete(session.id)
    }
    deleteCookie(c, cookieName, { path: '/ui' })
    return c.redirect('/ui/login', 303)
  })

  app.get('/', (c) => c.redirect('/ui/entities', 303))

  app.get('/entities', async (c) => render(c, entitiesPage(viewer(c), await c.get('memory').entities())))

  app.get('/memories', async (c) => {
    const raw = c.req.query()
    const input: ListInput = raw
    // Nothing asked yet: the form alone (the engine refuses a list without a scope).
    if (!['user_id', 'agent_id', 'run_id', 'filters'].some((name) => raw[name])) return render(c, memoriesPage(viewer(c), { input }))
    try {
      const query = forms.list(raw)
      const page = await listPage(c.get('memory'), query, parseFiltersText(query.filters))
      return render(c, memoriesPage(viewer(c), { input: { ...input, limit: query.limit }, page }))
    } catch (error) {
      return render(c, memoriesPage(viewer(c), { input, error: clientErrorMessage(error) }), 400)
    }
  })

  app.get('/memories/:id', async (c) => {
    const { id } = forms.memoryId(c.req.param())
    const memory = c.get('memory')
    const [item, history] = await Promise.all([memory.get(id), memory.history(id)])
    // Every memory of this tenant has history, deleted ones too; none means not this tenant's.
    if (!item && history.length === 0) throw memoryNotFound(id)
    const notice = notices[c.req.query('notice') ?? '']
    return render(c, memoryPage(viewer(c), { id, memory: item && toMemoryJson(item), history: history.map(toHistoryJson), ...(notice && { notice }) }))
  })

  app.post('/memories/:id', async (c) => {
    const { id } = forms.memoryId(c.req.param())
    const edit = forms.update(await form(c))
    const memory = c.get('memory')
    const current = await memory.get(id)
    if (!current) throw memoryNotFound(id)
    // The form sends both fields; only what differs is an update (and a history event). The text
    // is compared as the page showed it (forms.ts `asShown`).
    const changes = {
      ...(edit.text !== undefined && edit.text !== asShown(current.memory) && { text: edit.text }),
      ...(edit.metadata !== undefined && JSON.stringify(edit.metadata) !== JSON.stringify(current.metadata) && { metadata: edit.metadata }),
    }
    if (Object.keys(changes).length === 0) return c.redirect(`/ui/memories/${id}?notice=unchanged`, 303)
    await memory.update(id, { ...changes, actor: actor(c) })
    return c.redirect(`/ui/memories/${id}?notice=saved`, 303)
  })

  app.get('/memories/:id/delete', async (c) => {
    const { id } = forms.memoryId(c.req.param())
    const { purge } = forms.confirmDelete(c.req.query())
    const memory = c.get('memory')
    const [item, history] = await Promise.all([memory.get(id), memory.history(id)])
    if (!item && history.length === 0) throw memoryNotFound(id)
    return render(c, confirmDeletePage(viewer(c), { id, text: item?.memory ?? null, purge: purge === 'true' }))
  })

  app.post('/memories/:id/delete', async (c) => {
    const { id } = forms.memoryId(c.req.param())
    const body = forms.delete(await form(c))
    const purge = (body.purge ?? forms.confirmDelete(c.req.query()).purge) === 'true'
    await c.get('memory').delete(id, { purge, actor: actor(c) })
    return c.redirect(`/ui/memories/${id}?notice=${purge ? 'purged' : 'deleted'}`, 303)
  })

  app.get('/search', async (c) => {
    const raw = c.req.query()
    const input: SearchInput = raw
    if (input.query === undefined) return render(c, searchPage(viewer(c), { input }))
    try {
      const body = forms.search(raw)
      const { scope, filters } = readFilters(body.filters)
      const { results } = await c.get('memory').search(body.query, {
        ...scope,
        ...scopeOf(body),
        ...(filters && { filters }),
        topK: body.top_k,
        mode: body.mode,
        explain: true,
        includeSuperseded: body.include_superseded,
      })
      return render(c, searchPage(viewer(c), { input, results: results.map((hit) => toSearchHitJson(hit, true)) }))
    } catch (error) {
      return render(c, searchPage(viewer(c), { input, error: clientErrorMessage(error) }), 400)
    }
  })

  app.get('/jobs', async (c) => {
    const memory = c.get('memory')
    // LLM totals are the whole server's, like the store stats: admin keys only.
    const base = { enabled: memory.inferenceEnabled, usage: c.get('principal').role === 'admin' ? memory.llmUsage : undefined }
    const raw = c.req.query()
    const input: JobsInput = raw
    try {
      const { id, ...query } = forms.jobs(raw)
      if (id !== undefined) {
        const job = await memory.inferenceJob(id)
        return render(c, jobsPage(viewer(c), { ...base, input, job: job && toJobJson(job) }))
      }
      const page = await memory.inferenceJobs(query)
      return render(c, jobsPage(viewer(c), { ...base, input, page: { results: page.results.map(toJobJson), next_cursor: page.nextCursor } }))
    } catch (error) {
      return render(c, jobsPage(viewer(c), { ...base, input, error: clientErrorMessage(error) }), 400)
    }
  })

  app.get('/stats', async (c) => {
    const memory = c.get('memory')
    const embedder = deps.embedder ?? memory.embedder
    const entities = { user: 0, agent: 0, run: 0 }
    for (const entity of await memory.entities()) entities[entity.type]++
    const isAdmin = c.get('principal').role === 'admin'
    const engine = isAdmin ? memory.stats() : undefined
    const store = engine && {
      memories: await memory.size(),
      diskBytes: await diskUsage(config.data),
      pendingWrites: engine.pendingWrites,
      resident: engine.resident,
    }
    return render(c, statsPage(viewer(c), { model: embedder.modelId, dimensions: embedder.dimensions, entities, ...(store && { store }) }))
  })

  app.get('/keys', async (c) => {
    requireAdmin(c)
    const notice = notices[c.req.query('notice') ?? '']
    return render(c, keysPage(viewer(c), { keys: await keys.list(), ...(notice && { notice }) }))
  })
  app.post('/keys', async (c) => {
    requireAdmin(c)
    const body = forms.createKey(await form(c))
    const created = await keys.create({ tenantId: body.tenant, role: body.role, ...(body.name !== undefined && { name: body.name }) })
    // Rendered, not redirected: the key exists in this response only (and pages are never cached).
    return render(c, keyCreatedPage(viewer(c), created))
  })
  app.get('/keys/:id/revoke', async (c) => {
    requireAdmin(c)
    const { id } = forms.keyId(c.req.param())
    const key = (await keys.list()).find((k) => k.id === id && k.revokedAt === null)
    if (!key) throw new ServerError(ServerErrorCode.RouteNotFound, `No active key ${id}`)
    return render(c, confirmRevokePage(viewer(c), key))
  })
  app.post('/keys/:id/revoke', async (c) => {
    requireAdmin(c)
    const { id } = forms.keyId(c.req.param())
    if (!(await keys.revoke(id))) throw new ServerError(ServerErrorCode.RouteNotFound, `No active key ${id}`)
    return c.redirect('/ui/keys?notice=revoked', 303)
  })

  return {
    app,
    owns: (path) => path === '/ui' || path.startsWith('/ui/'),
    isPublic: (path) => publicPaths.has(path),
    authorization: (c) => {
      const key = sessionOf(c)?.key
      return key ? `Bearer ${key}` : undefined
    },
    errorResponse(c, error) {
      if (error.status === 401) {
        const id = getCookie(c, cookieName)
        if (id) sessions.delete(id)
        return c.body(null, 303, { location: '/ui/login', 'cache-control': 'no-store', ...securityHeaders })
      }
      const principal = c.get('principal')
      const session = principal && sessionOf(c)
      const page = errorPage({ ...error, ...(principal && session && { viewer: { principal, csrfToken: session.csrfToken } }) })
      // c.body keeps the headers already set on the context (x-request-id).
      return c.body(page.toString(), error.status as ContentfulStatusCode, {
        ...error.headers,
        ...securityHeaders,
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
      })
    },
  }
}

/** A client error's message as the API would word it; anything else is not the form's fault and goes to the error page. */
function clientErrorMessage(error: unknown): string {
  if (isCodedError(error) && statusByCode[error.code] < 500) return error instanceof ServerError ? error.message : apiNames(error.message)
  throw error
}
