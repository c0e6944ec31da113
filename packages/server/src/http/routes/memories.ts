import { type Memory, MemoryError, MemoryErrorCode } from '@agentmem/memory'
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import type { ServerConfig } from '../../config.js'
import { ServerError, ServerErrorCode } from '../../errors.js'
import { type AppEnv, requestSignal } from '../context.js'
import { readFilters } from '../filters.js'
import {
  addResult,
  entityTypes,
  errorBody,
  historyItem,
  inferenceJob,
  jobListQuery,
  memoryIdParam,
  memoryItem,
  noQuery,
  requestSchemas,
  scopeOf,
  searchHit,
  toAddResponseJson,
  toHistoryJson,
  toJobJson,
  toMemoryJson,
  toSearchHitJson,
} from '../schemas.js'

const errors = Object.fromEntries(
  [
    [400, 'Invalid request (`REQUEST_VALIDATION_FAILED`, `MEMORY_*`)'],
    [401, 'Missing, invalid or revoked API key'],
    [413, 'Body larger than the limit'],
    [429, 'Rate limit exceeded; see Retry-After'],
  ].map(([status, description]) => [status, { description, content: { 'application/json': { schema: errorBody } } }]),
)
const notFound = { 404: { description: 'No such memory in this tenant', content: { 'application/json': { schema: errorBody } } } }
const json = <T extends z.ZodType>(schema: T, description: string) => ({ 200: { description, content: { 'application/json': { schema } } } })
const security = [{ bearer: [] }]

/** The native API: /v1/memories and friends, every call confined to the key's tenant. */
export function registerMemoryRoutes(app: OpenAPIHono<AppEnv>, config: ServerConfig): void {
  const s = requestSchemas(config)
  const actor = (c: { get(key: 'principal'): { keyId: string | null } }) => c.get('principal').keyId ?? undefined

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/memories',
      summary: 'Add memories from a text or from messages',
      description: [
        'Each message becomes a memory, but system messages and empty ones. The same text twice in one scope is stored once (event NONE).',
        'With `infer: true` the configured LLM extracts facts and reconciles them with the scope (ADD, UPDATE, SUPERSEDE, NONE) in one atomic write; `job` says how it went.',
        'If the LLM fails, the messages are stored as given (in `results`), `job.status` is `pending`, and extraction is retried in the background.',
      ].join(' '),
      security,
      request: { query: noQuery, body: { content: { 'application/json': { schema: s.addBody } }, required: true } },
      responses: {
        ...json(z.object({ results: z.array(addResult), job: inferenceJob.optional() }), 'One result per stored text or decided fact'),
        ...errors,
        501: { description: '`infer: true` without an LLM configured', content: { 'application/json': { schema: errorBody } } },
      },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const result = await c.get('memory').add(body.messages, {
        ...scopeOf(body),
        ...(body.metadata && { metadata: body.metadata }),
        actor: actor(c),
        infer: body.infer,
        async: body.async,
        memoryType: body.memory_type,
        ...(body.timestamp !== undefined && { timestamp: body.timestamp }),
        ...(body.instructions !== undefined && { instructions: body.instructions }),
      })
      return c.json(toAddResponseJson(result), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}',
      summary: 'The state of an inference job (from an add with infer)',
      security,
      request: { params: memoryIdParam, query: noQuery },
      responses: {
        ...json(inferenceJob, 'The job'),
        ...errors,
        404: { description: 'No such job in this tenant', content: { 'application/json': { schema: errorBody } } },
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param')
      const job = await c.get('memory').inferenceJob(id)
      if (!job) throw new MemoryError(MemoryErrorCode.NotFound, `Job ${id} not found`, { details: { id } })
      return c.json(toJobJson(job), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs',
      summary: "The tenant's inference jobs newest first, by status, with a cursor",
      security,
      request: { query: jobListQuery },
      responses: {
        ...json(z.object({ results: z.array(inferenceJob), next_cursor: z.string().nullable() }), 'One page; pass next_cursor back until it is null'),
        ...errors,
      },
    }),
    async (c) => {
      const page = await c.get('memory').inferenceJobs(c.req.valid('query'))
      return c.json({ results: page.results.map(toJobJson), next_cursor: page.nextCursor }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/memories/batch',
      summary: 'Add many items atomically (all stored or none)',
      security,
      request: { query: noQuery, body: { content: { 'application/json': { schema: s.batchBody } }, required: true } },
      responses: { ...json(z.object({ results: z.array(addResult.extend({ index: z.number() })) }), 'Results with the index of their item'), ...errors },
    }),
    async (c) => {
      const { items } = c.req.valid('json')
      const result = await c.get('memory').addBatch(
        items.map((item) => ({
          messages: item.messages,
          ...scopeOf(item),
          ...(item.metadata && { metadata: item.metadata }),
          actor: actor(c),
        })),
      )
      return c.json(result, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/memories/search',
      summary: 'Search a scope: hybrid (default), vector or keyword',
      security,
      request: { query: noQuery, body: { content: { 'application/json': { schema: s.searchBody } }, required: true } },
      responses: { ...json(z.object({ results: z.array(searchHit) }), 'Best first'), ...errors },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const { scope, filters } = readFilters(body.filters)
      const { results } = await c.get('memory').search(body.query, {
        ...scope,
        ...scopeOf(body),
        ...(filters && { filters }),
        topK: body.top_k,
        ...(body.threshold !== undefined && { threshold: body.threshold }),
        mode: body.mode,
        // Always asked for: `similarity`, what threshold compares, comes from it.
        explain: true,
        includeSuperseded: body.include_superseded,
        rerank: typeof body.rerank === 'boolean' ? body.rerank : { model: body.rerank.model, topN: body.rerank.top_n },
        // Only reranking is worth a timer per request: the offline model embeds a query in microseconds.
        ...(body.rerank !== false && { signal: requestSignal(c.req.raw, config.requestTimeoutMs) }),
      })
      return c.json({ results: results.map((hit) => toSearchHitJson(hit, body.explain)) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/memories',
      summary: 'List a scope in creation order, with a cursor',
      security,
      request: { query: s.listQuery },
      responses: {
        ...json(z.object({ results: z.array(memoryItem), next_cursor: z.string().nullable() }), 'One page; pass next_cursor back until it is null'),
        ...errors,
      },
    }),
    async (c) => {
      const query = c.req.valid('query')
      return c.json(await listPage(c.get('memory'), query, query.filters === undefined ? undefined : parseJsonParam(query.filters, 'filters')), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/memories/{id}',
      summary: 'Get one memory',
      security,
      request: { params: memoryIdParam, query: noQuery },
      responses: { ...json(memoryItem, 'The memory'), ...errors, ...notFound },
    }),
    async (c) => {
      const item = await c.get('memory').get(c.req.valid('param').id)
      if (!item) throw memoryNotFound(c.req.valid('param').id)
      return c.json(toMemoryJson(item), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/memories/{id}',
      summary: 'Change the text and/or metadata of a memory',
      security,
      request: { params: memoryIdParam, query: noQuery, body: { content: { 'application/json': { schema: s.updateBody } }, required: true } },
      responses: { ...json(memoryItem, 'The updated memory'), ...errors, ...notFound },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const item = await c.get('memory').update(c.req.valid('param').id, {
        ...(body.text !== undefined && { text: body.text }),
        ...(body.metadata !== undefined && { metadata: body.metadata }),
        actor: actor(c),
      })
      return c.json(toMemoryJson(item), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/memories/{id}',
      summary: 'Delete a memory; purge=true also erases its texts from history and disk, also after a plain delete',
      security,
      request: { params: memoryIdParam, query: s.deleteQuery },
      responses: { ...json(z.object({ deleted: z.literal(true), purged: z.boolean() }), 'Deleted'), ...errors, ...notFound },
    }),
    async (c) => {
      const purge = c.req.valid('query').purge === 'true'
      await c.get('memory').delete(c.req.valid('param').id, { purge, actor: actor(c) })
      // As MCP's delete_memory answers: whether the texts were erased too.
      return c.json({ deleted: true as const, purged: purge }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/memories',
      summary: 'Delete every memory of a user / agent / run; purge=true also erases their texts, those deleted earlier included',
      security,
      request: { query: s.deleteAllQuery },
      responses: { ...json(z.object({ deleted: z.number() }), 'How many were deleted'), ...errors },
    }),
    async (c) => {
      const query = c.req.valid('query')
      const result = await c.get('memory').deleteAll({ ...scopeOf(query), purge: query.purge === 'true', actor: actor(c) })
      return c.json(result, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/memories/{id}/history',
      summary: 'ADD / UPDATE / DELETE events of a memory, oldest first',
      security,
      request: { params: memoryIdParam, query: noQuery },
      responses: { ...json(z.object({ results: z.array(historyItem) }), 'Events'), ...errors, ...notFound },
    }),
    async (c) => {
      const { id } = c.req.valid('param')
      const events = await c.get('memory').history(id)
      // Every memory has its ADD event, deleted ones too: no events means no such memory here.
      if (events.length === 0) throw memoryNotFound(id)
      return c.json({ results: events.map(toHistoryJson) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/entities',
      summary: 'Users, agents and runs of this tenant with their memory counts',
      security,
      request: { query: s.entitiesQuery },
      responses: {
        ...json(z.object({ results: z.array(z.object({ type: z.enum(entityTypes), id: z.string(), count: z.number() })) }), 'Entities'),
        ...errors,
      },
    }),
    async (c) => {
      const { type } = c.req.valid('query')
      const entities = await c.get('memory').entities()
      return c.json({ results: type ? entities.filter((e) => e.type === type) : entities }, 200)
    },
  )
}

export function memoryNotFound(id: string): MemoryError {
  return new MemoryError(MemoryErrorCode.NotFound, `Memory ${id} not found`, { details: { id } })
}

function parseJsonParam(text: string, name: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {}
  throw new ServerError(ServerErrorCode.ValidationFailed, `${name} must be a JSON object`, {
    details: { issues: [{ path: name, message: 'not a JSON object' }] },
  })
}

/** One page of a scope's memories as `GET /v1/memories` answers it (the dashboard lists through it too). */
export async function listPage(
  memory: Memory,
  query: {
    user_id?: string | undefined
    agent_id?: string | undefined
    run_id?: string | undefined
    limit: number
    cursor?: string | undefined
    include_superseded?: string | undefined
  },
  rawFilters: Parameters<typeof readFilters>[0],
) {
  const { scope, filters } = readFilters(rawFilters)
  const page = await memory.getAll({
    ...scope,
    ...scopeOf(query),
    limit: query.limit,
    ...(query.cursor !== undefined && { cursor: query.cursor }),
    ...(filters && { filters }),
    includeSuperseded: query.include_superseded === 'true',
  })
  return { results: page.results.map(toMemoryJson), next_cursor: page.nextCursor }
}
