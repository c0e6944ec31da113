import type { Memory, MemoryItem, SearchResult } from '@agentmem/memory'
import { identifier, jsonObject } from '@agentmem/memory/identifiers'
import type { Context, Hono } from 'hono'
import { z } from 'zod'
import { ServerError, ServerErrorCode, validationFailed } from '../../errors.js'
import { type AppEnv, requestSignal } from '../context.js'
import { readFilters } from '../filters.js'
import { entityTypes, memoryIdParam, messageRoles, messagesError, scopeOf } from '../schemas.js'
import { memoryNotFound } from './memories.js'

/**
 * The routes the official `mem0ai` MemoryClient calls (hosted-platform API), so that
 * `new MemoryClient({ apiKey, host })` works against a self-hosted AgentMem. Shapes follow the
 * client's types; platform-only features answer 501 with a JSON error, never a silent no-op.
 */

const scopeFields = { user_id: identifier.optional(), agent_id: identifier.optional(), run_id: identifier.optional() }
/** AgentMem's `purge` on Mem0's delete routes: also erase the texts from history (the client passes unknown options through). */
const purgeFlag = z.enum(['true', 'false']).default('false')
const filters = jsonObject
const message = z.object({ role: z.enum(messageRoles), content: z.string() })

/**
 * Options the Mem0 client may send that change results and that AgentMem does not provide (yet):
 * any value but null, or only the values listed. They answer 501, never a 400 that reads like a client bug.
 */
const unsupported: Record<string, readonly unknown[] | 'any'> = {
  // The client sends these when made with organizationId / projectId: platform accounts.
  org_id: 'any',
  project_id: 'any',
  app_id: 'any',
  custom_categories: 'any',
  custom_instructions: 'any',
  agent_custom_instructions: 'any',
  expiration_date: 'any',
  structured_data_schema: 'any',
  categories: 'any',
  includes: 'any',
  excludes: 'any',
  reference_date: 'any',
  start_date: 'any',
  end_date: 'any',
  show_expired: [true],
  // AgentMem reads only current memories (a superseded one is history); nothing older to include.
  latest_only: [false],
}

const addBody = z.strictObject({
  messages: z.union([z.string(), z.array(message).min(1)], { error: (issue) => (issue.code === 'invalid_union' ? messagesError : undefined) }),
  ...scopeFields,
  metadata: jsonObject.optional(),
  infer: z.boolean().optional(),
  // The client's memoryType; `procedural_memory` is Mem0's own name for the procedural kind.
  memory_type: z.enum(['semantic', 'procedural', 'procedural_memory']).optional(),
  timestamp: z.number().optional(),
  async_mode: z.boolean().optional(),
  output_format: z.string().optional(),
  version: z.string().optional(),
  source: z.string().optional(),
})
/** What a Mem0 search hit holds (`toMem0`), which `fields` may pick from. */
const mem0Fields = [
  'id',
  'memory',
  'user_id',
  'agent_id',
  'run_id',
  'app_id',
  'metadata',
  'categories',
  'created_at',
  'updated_at',
  'score',
  'similarity',
  'rerank_score',
] as const
/** Fields of a platform memory that AgentMem does not keep: asking for one is 501; any other name is a 400. */
const platformOnlyFields = ['hash', 'memory_type', 'expiration_date', 'owner', 'immutable', 'structured_attributes', 'messages', 'event', 'data']
const searchBody = z.strictObject({
  query: z.string().min(1),
  filters: filters.optional(),
  metadata: jsonObject.optional(),
  // No schema maximum: the server's own (maxTopK) is checked in the route, and names the limit that applies.
  top_k: z.number().int().min(1).optional(),
  threshold: z.number().min(-1).max(1).optional(),
  rerank: z.boolean().optional(),
  keyword_search: z.boolean().optional(),
  latest_only: z.boolean().optional(),
  show_expired: z.boolean().optional(),
  fields: z.array(z.string().max(64)).max(64).optional(),
  output_format: z.string().optional(),
  version: z.string().optional(),
  source: z.string().optional(),
})
const listBody = z.strictObject({
  filters: filters.optional(),
  latest_only: z.boolean().optional(),
  show_expired: z.boolean().optional(),
})
const updateBody = z
  .strictObject({
    text: z.string().optional(),
    metadata: jsonObject.optional(),
    // The platform re-dates a memory; the engine keeps its own times.
    timestamp: z.unknown().optional(),
  })
  // A timestamp alone is the platform feature (501 in the route), not an empty update.
  .refine((b) => b.text !== undefined || b.metadata !== undefined || b.timestamp != null, 'give text, metadata or both')
const batchUpdateBody = z.strictObject({
  memories: z
    .array(z.strictObject({ memory_id: z.uuid(), text: z.string() }))
    .min(1)
    .max(1000),
})
const batchDeleteBody = z.strictObject({
  memories: z
    .array(z.strictObject({ memory_id: z.uuid() }))
    .min(1)
    .max(1000),
})

export function registerMem0Routes(
  app: Hono<AppEnv>,
  limits: { maxTopK: number; mem0InferDefault: 'auto' | 'true' | 'false'; requestTimeoutMs: number },
): void {
  const memory = (c: Context<AppEnv>) => c.get('memory')
  const actor = (c: Context<AppEnv>) => c.get('principal').keyId ?? undefined

  app.get('/v1/ping/', (c) => c.json({ status: 'ok', message: 'AgentMem', org_id: null, project_id: null, user_email: null }))

  app.post('/v3/memories/add/', async (c) => {
    const body = await parseBody(c, addBody, 'add request')
    // Mem0's clients expect inference unless they say infer: false.
    const infer = body.infer ?? (limits.mem0InferDefault === 'auto' ? memory(c).inferenceEnabled : limits.mem0InferDefault === 'true')
    // A timestamp dates inferred facts; without inference it would be dropped and the memory dated now.
    if (body.timestamp !== undefined && !infer) {
      const why = body.infer === false ? 'this request sets infer: false' : 'this server does not infer unless asked (no LLM, or mem0InferDefault)'
      throw new ServerError(ServerErrorCode.ValidationFailed, `timestamp applies only with inference, and ${why}`, {
        details: { issues: [{ path: 'timestamp', message: 'applies only with infer: true' }] },
      })
    }
    const result = await memory(c).add(body.messages, {
      ...scopeOf(body),
      ...(body.metadata && { metadata: body.metadata }),
      actor: actor(c),
      // Procedural needs inference (and an agent): the engine says so when it is off.
      ...(body.memory_type !== undefined && body.memory_type !== 'semantic' && { memoryType: 'procedural' as const }),
      // Mem0 timestamps are Unix seconds. async_mode is honoured only when asked for: results come back otherwise.
      ...(infer && { infer, async: body.async_mode === true, ...(body.timestamp !== undefined && { timestamp: Math.round(body.timestamp * 1000) }) }),
    })
    if (result.job?.status === 'queued')
      return c.json([{ message: 'Memory processing has been queued for background execution', status: 'PENDING', event_id: result.job.id }])
    const mem0Event = { NONE: 'NOOP', SUPERSEDE: 'DELETE' } as Record<string, string>
    return c.json(
      result.results.map((r) => ({
        id: r.id,
        memory: r.memory,
        data: { memory: r.memory },
        event: mem0Event[r.event] ?? r.event,
        ...(result.job && { job_id: result.job.id, status: result.job.status.toUpperCase() }),
      })),
    )
  })

  app.post('/v3/memories/search/', async (c) => {
    const body = await parseBody(c, searchBody, 'search request')
    const topK = body.top_k ?? 10
    if (topK > limits.maxTopK) throw tooLarge('top_k', limits.maxTopK)
    const { scope, filters } = readFilters(body.filters)
    const combined = combineFilters(filters, body.metadata)
    const { results } = await memory(c).search(body.query, {
      ...scope,
      ...(combined && { filters: combined }),
      topK,
      ...(body.threshold !== undefined && { threshold: body.threshold }),
      // For `similarity`, what threshold compares.
      explain: true,
      rerank: body.rerank ?? false,
      ...(body.rerank && { signal: requestSignal(c.req.raw, limits.requestTimeoutMs) }),
    })
    const hits = results.map(toMem0)
    // `fields` picks what each hit holds (none named: all); a Mem0 field AgentMem does not return is 501, not silently left out.
    const fields = body.fields?.length ? body.fields : undefined
    const lacking = fields?.filter((field) => !(mem0Fields as readonly string[]).includes(field)) ?? []
    const unknown = lacking.filter((field) => !platformOnlyFields.includes(field))
    if (unknown.length)
      throw validationFailed([{ path: ['fields'], message: `no hit field ${unknown.join(', ')}; fields are ${mem0Fields.join(', ')}` }], 'search request')
    if (lacking.length) throw platformFeature(`fields: ${lacking.join(', ')}`)
    return c.json({ results: fields ? hits.map((hit) => Object.fromEntries(Object.entries(hit).filter(([key]) => fields.includes(key)))) : hits })
  })

  app.post('/v3/memories/', async (c) => {
    const body = await parseBody(c, listBody, 'list request')
    const query = z
      .strictObject({ page: z.coerce.number().int().min(1).max(100_000).default(1), page_size: z.coerce.number().int().min(1).max(1000).default(100) })
      .safeParse(c.req.query())
    if (!query.success) throw validationFailed(query.error.issues, 'query')
    const { page, page_size: pageSize } = query.data
    const { scope, filters } = readFilters(body.filters)
    const options = { ...scope, ...(filters && { filters }) }
    // The engine pages by cursor; page N is reached by walking N - 1 cursors (cheap: keyset reads).
    // Pages first, then the count: a request without a scope is refused as a list, not as a count.
    let cursor: string | undefined
    let results: MemoryItem[] = []
    for (let p = 1; p <= page; p++) {
      const next = await memory(c).getAll({ ...options, limit: pageSize, ...(cursor !== undefined && { cursor }) })
      results = p === page ? next.results : []
      if (next.nextCursor === null) {
        if (p < page) results = []
        break
      }
      cursor = next.nextCursor
    }
    const count = await memory(c).count(options)
    return c.json({
      count,
      next: page * pageSize < count ? pageUrl(c.req.url, page + 1, pageSize) : null,
      previous: page > 1 ? pageUrl(c.req.url, page - 1, pageSize) : null,
      results: results.map(toMem0),
    })
  })

  app.get('/v1/memories/:id/', async (c) => {
    const id = memoryIdOf(c)
    const item = await memory(c).get(id)
    if (!item) throw memoryNotFound(id)
    return c.json(toMem0(item))
  })

  app.put('/v1/memories/:id/', async (c) => {
    const body = await parseBody(c, updateBody, 'update request')
    if (body.timestamp != null) throw platformFeature('timestamp on update')
    const item = await memory(c).update(memoryIdOf(c), {
      ...(body.text !== undefined && { text: body.text }),
      ...(body.metadata !== undefined && { metadata: body.metadata }),
      actor: actor(c),
    })
    return c.json(toMem0(item))
  })

  app.delete('/v1/memories/:id/', async (c) => {
    // delete_linked (the platform's superseded chain) has nothing to act on here: nothing is linked.
    // purge is ours: client.delete(id, { purge: true }) sends it.
    const query = z.strictObject({ delete_linked: z.enum(['true', 'false']).optional(), purge: purgeFlag }).safeParse(c.req.query())
    if (!query.success) throw validationFailed(query.error.issues, 'query')
    await memory(c).delete(memoryIdOf(c), { purge: query.data.purge === 'true', actor: actor(c) })
    return c.json({ message: 'Memory deleted successfully!' })
  })

  app.delete('/v1/memories/', async (c) => {
    const query = z.strictObject({ ...scopeFields, app_id: identifier.optional(), purge: purgeFlag }).safeParse(c.req.query())
    if (!query.success) throw validationFailed(query.error.issues, 'query')
    if (query.data.app_id !== undefined) throw platformFeature('app_id')
    const { deleted } = await memory(c).deleteAll({ ...scopeOf(query.data), purge: query.data.purge === 'true', actor: actor(c) })
    return c.json({ message: `Memories deleted successfully! (${deleted})` })
  })

  app.get('/v1/memories/:id/history/', async (c) => {
    const memoryId = memoryIdOf(c)
    const [events, current] = await Promise.all([memory(c).history(memoryId), memory(c).get(memoryId)])
    if (events.length === 0) throw memoryNotFound(memoryId)
    return c.json(
      events.map((e) => ({
        id: String(e.id),
        memory_id: e.memoryId,
        input: [],
        old_memory: e.previousMemory,
        new_memory: e.newMemory,
        user_id: current?.userId ?? null,
        categories: [],
        event: e.event,
        metadata: e.metadata,
        created_at: e.createdAt,
        updated_at: e.createdAt,
      })),
    )
  })

  app.get('/v1/entities/', async (c) => {
    // The client's users({ page, pageSize }) pages; users() alone gets every entity (deleteUsers()
    // deletes what it lists). AgentMem adds a filter by type.
    const query = z
      .strictObject({
        page: z.coerce.number().int().min(1).max(100_000).optional(),
        page_size: z.coerce.number().int().min(1).max(1000).optional(),
        type: z.enum(entityTypes).optional(),
      })
      .safeParse(c.req.query())
    if (!query.success) throw validationFailed(query.error.issues, 'query')
    const { type } = query.data
    const entities = (await memory(c).entities()).filter((e) => type === undefined || e.type === type)
    const paged = query.data.page !== undefined || query.data.page_size !== undefined
    const page = query.data.page ?? 1
    const pageSize = paged ? (query.data.page_size ?? 100) : Math.max(1, entities.length)
    return c.json({
      count: entities.length,
      next: page * pageSize < entities.length ? pageUrl(c.req.url, page + 1, pageSize) : null,
      previous: page > 1 ? pageUrl(c.req.url, page - 1, pageSize) : null,
      results: entities
        .slice((page - 1) * pageSize, page * pageSize)
        .map((e) => ({ id: e.id, name: e.id, type: e.type, total_memories: e.count, owner: null, created_at: null, updated_at: null })),
    })
  })

  const deleteEntity = async (c: Context<AppEnv>) => {
    const type = c.req.param('type')
    const parsedName = identifier.safeParse(c.req.param('name'))
    if (!parsedName.success)
      throw validationFailed(
        parsedName.error.issues.map((issue) => ({ ...issue, path: ['name'] })),
        'entity',
      )
    const name = parsedName.data
    const scope = type === 'user' ? { userId: name } : type === 'agent' ? { agentId: name } : type === 'run' ? { runId: name } : undefined
    if (!scope) throw type === 'app' ? platformFeature('app entities') : new ServerError(ServerErrorCode.ValidationFailed, `unknown entity type ${type}`)
    const query = z.strictObject({ purge: purgeFlag }).safeParse(c.req.query())
    if (!query.success) throw validationFailed(query.error.issues, 'query')
    const { deleted } = await memory(c).deleteAll({ ...scope, purge: query.data.purge === 'true', actor: actor(c) })
    return c.json({ message: `Entity deleted successfully. (${deleted} memories)` })
  }
  app.delete('/v2/entities/:type/:name/', deleteEntity)
  app.delete('/v1/entities/:type/:name/', deleteEntity)

  app.put('/v1/batch/', async (c) => {
    const body = await parseBody(c, batchUpdateBody, 'batch update')
    await requireAll(memory(c), body.memories)
    for (const m of body.memories) await memory(c).update(m.memory_id, { text: m.text, actor: actor(c) })
    return c.json({ message: `Successfully updated ${body.memories.length} memories` })
  })

  app.delete('/v1/batch/', async (c) => {
    const body = await parseBody(c, batchDeleteBody, 'batch delete')
    await requireAll(memory(c), body.memories)
    for (const m of body.memories) await memory(c).delete(m.memory_id, { actor: actor(c) })
    return c.json({ message: `Successfully deleted ${body.memories.length} memories` })
  })

  for (const path of ['/api/v1/*', '/v1/feedback/*', '/v1/exports/*', '/v1/event/*', '/v1/webhooks/*', '/v2/profiles/*', '/v2/entities/user/:name/profile/']) {
    app.all(path, (c) => {
      throw platformFeature(new URL(c.req.url).pathname)
    })
  }
}

/**
 * Batch calls check every id first, so a missing one fails the call before anything changes. An id
 * given twice is refused too: the second delete found nothing and failed the call after the first
 * had deleted it.
 */
async function requireAll(memory: Memory, items: Array<{ memory_id: string }>): Promise<void> {
  // By the id each one is stored under: the same id in another case is the same memory.
  const seen = new Set<string>()
  for (const [i, item] of items.entries()) {
    const found = await memory.get(item.memory_id)
    if (!found) throw memoryNotFound(item.memory_id)
    if (seen.has(found.id)) {
      throw new ServerError(ServerErrorCode.ValidationFailed, `memory_id ${item.memory_id} is given more than once`, {
        details: { issues: [{ path: `memories.${i}.memory_id`, message: 'given more than once' }] },
      })
    }
    seen.add(found.id)
  }
}

async function parseBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S, what: string): Promise<z.output<S>> {
  let raw: unknown
  try {
    raw = await c.req.json()
  } catch {
    throw new ServerError(ServerErrorCode.ValidationFailed, `Invalid ${what}: the body is not JSON`, {
      details: { issues: [{ path: '', message: 'not JSON' }] },
    })
  }
  // Own fields only: an array body's `includes` is Array.prototype's, not a platform option.
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const body = raw as Record<string, unknown>
    const used = Object.entries(unsupported)
      .filter(([key, values]) => Object.hasOwn(body, key) && body[key] != null && (values === 'any' || values.includes(body[key])))
      .map(([key, values]) => (values === 'any' ? key : `${key}: ${JSON.stringify(body[key])}`))
    if (used.length > 0) throw platformFeature(used.join(', '))
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw validationFailed(parsed.error.issues, what)
  return parsed.data
}

/** The memory id in the path, checked as the native routes check theirs (it was the engine's MEMORY_INVALID_INPUT). */
function memoryIdOf(c: Context<AppEnv>): string {
  const parsed = memoryIdParam.safeParse({ id: c.req.param('id') })
  if (!parsed.success) throw validationFailed(parsed.error.issues, 'request param')
  return parsed.data.id
}

function platformFeature(what: string): ServerError {
  return new ServerError(ServerErrorCode.NotImplemented, `${what}: a Mem0 platform feature that AgentMem does not provide self-hosted`, {
    details: { feature: what },
  })
}

function tooLarge(field: string, limit: number): ServerError {
  return new ServerError(ServerErrorCode.ValidationFailed, `${field} is larger than this server's limit of ${limit}`, {
    details: { issues: [{ path: field, message: `at most ${limit}` }] },
  })
}

function combineFilters(filters: Record<string, unknown> | undefined, metadata: Record<string, unknown> | undefined) {
  if (!metadata || Object.keys(metadata).length === 0) return filters
  return filters ? { AND: [filters, { metadata }] } : { metadata }
}

/** This request's URL at another page, as Mem0's paged answers link `next` and `previous`. */
function pageUrl(url: string, page: number, pageSize: number): string {
  const u = new URL(url)
  u.searchParams.set('page', String(page))
  u.searchParams.set('page_size', String(pageSize))
  return u.toString()
}

function toMem0(item: MemoryItem | SearchResult) {
  return {
    id: item.id,
    memory: item.memory,
    user_id: item.userId,
    agent_id: item.agentId,
    run_id: item.runId,
    app_id: null,
    metadata: item.metadata,
    categories: [],
    created_at: item.createdAt,
    updated_at: item.updatedAt,
    ...('score' in item && { score: item.score, similarity: item.explain?.vector.score ?? null }),
    // Mem0's own rerankers add this beside score, which keeps the first stage's.
    ...('rerankScore' in item && { rerank_score: item.rerankScore }),
  }
}
