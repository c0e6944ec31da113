import type { HistoryEntry, MemoryItem, SearchResult } from '@agentmem/memory'
import { searchModes } from '@agentmem/memory'
import { z } from '@hono/zod-openapi'
import type { ServerConfig } from '../config.js'

/** Request and response schemas of the native API: snake_case JSON, `{ results }` like Mem0's server. */

const identifier = z.string().min(1).max(256)
const scope = {
  user_id: identifier.optional(),
  agent_id: identifier.optional(),
  run_id: identifier.optional(),
}
const metadata = z.record(z.string(), z.unknown()).openapi({ example: { topic: 'home' } })
const filters = z.record(z.string(), z.unknown()).openapi({
  description:
    'Mem0-style filters: `{ field: value }`, operators eq ne gt gte lt lte in nin contains icontains, AND / OR / NOT; fields user_id agent_id run_id role created_at updated_at or `metadata.<key>`.',
  example: { AND: [{ 'metadata.topic': 'home' }, { created_at: { gte: '2026-01-01T00:00:00Z' } }] },
})
export const message = z.strictObject({
  role: z.enum(['user', 'assistant', 'system', 'tool']),
  content: z.string(),
  name: z.string().max(256).optional(),
})

export const memoryIdParam = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const memoryItem = z
  .object({
    id: z.string(),
    memory: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    user_id: z.string().nullable(),
    agent_id: z.string().nullable(),
    run_id: z.string().nullable(),
    role: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Memory')

export const searchHit = memoryItem
  .extend({
    score: z.number(),
    explain: z
      .object({
        vector: z.object({ score: z.number(), rank: z.number().nullable() }),
        keyword: z.object({ score: z.number(), rank: z.number() }).nullable(),
        fused: z.number(),
      })
      .optional(),
  })
  .openapi('SearchHit')

export const addResult = z.object({ id: z.string(), memory: z.string(), event: z.enum(['ADD', 'UPDATE', 'DELETE', 'NONE']) }).openapi('AddResult')

export const historyItem = z
  .object({
    id: z.number(),
    memory_id: z.string(),
    event: z.enum(['ADD', 'UPDATE', 'DELETE']),
    previous_memory: z.string().nullable(),
    new_memory: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    actor: z.string().nullable(),
    purged: z.boolean(),
    created_at: z.string(),
  })
  .openapi('HistoryEvent')

export const errorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'MEMORY_NOT_FOUND' }),
      message: z.string(),
      request_id: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error')

/** Schemas whose limits come from the config. */
export function requestSchemas(config: ServerConfig) {
  const text = z.string().max(config.maxTextLength)
  const addBody = z
    .strictObject({
      messages: z.union([
        text,
        z
          .array(message.extend({ content: text }))
          .min(1)
          .max(config.maxBatchItems),
      ]),
      ...scope,
      metadata: metadata.optional(),
      infer: z.boolean().optional(),
    })
    .openapi('AddRequest')
  return {
    addBody,
    batchBody: z.strictObject({ items: z.array(addBody).min(1).max(config.maxBatchItems) }).openapi('BatchAddRequest'),
    searchBody: z
      .strictObject({
        query: text.min(1),
        ...scope,
        filters: filters.optional(),
        top_k: z.number().int().min(1).max(config.maxTopK).default(10),
        threshold: z.number().min(-1).max(1).optional(),
        mode: z.enum(searchModes).default('hybrid'),
        explain: z.boolean().default(false),
      })
      .openapi('SearchRequest'),
    listQuery: z.strictObject({
      ...scope,
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      cursor: z.string().max(1024).optional(),
      filters: z.string().max(16_384).optional().openapi({ description: 'Filters as JSON text.' }),
    }),
    updateBody: z
      .strictObject({ text: text.optional(), metadata: metadata.optional() })
      .refine((b) => b.text !== undefined || b.metadata !== undefined, 'give text, metadata or both')
      .openapi('UpdateRequest'),
    deleteQuery: z.strictObject({ purge: z.enum(['true', 'false']).default('false') }),
    deleteAllQuery: z.strictObject({ ...scope, purge: z.enum(['true', 'false']).default('false') }),
  }
}

export function toMemoryJson(item: MemoryItem): z.infer<typeof memoryItem> {
  return {
    id: item.id,
    memory: item.memory,
    metadata: item.metadata,
    user_id: item.userId,
    agent_id: item.agentId,
    run_id: item.runId,
    role: item.role,
    created_at: item.createdAt,
    updated_at: item.updatedAt,
  }
}

export function toSearchHitJson(hit: SearchResult): z.infer<typeof searchHit> {
  return { ...toMemoryJson(hit), score: hit.score, ...(hit.explain && { explain: hit.explain }) }
}

export function toHistoryJson(entry: HistoryEntry): z.infer<typeof historyItem> {
  return {
    id: entry.id,
    memory_id: entry.memoryId,
    event: entry.event,
    previous_memory: entry.previousMemory,
    new_memory: entry.newMemory,
    metadata: entry.metadata,
    actor: entry.actor,
    purged: entry.purged,
    created_at: entry.createdAt,
  }
}

/** Scope ids from snake_case fields to the engine's camelCase options. */
export function scopeOf(body: { user_id?: string | undefined; agent_id?: string | undefined; run_id?: string | undefined }) {
  return {
    ...(body.user_id !== undefined && { userId: body.user_id }),
    ...(body.agent_id !== undefined && { agentId: body.agent_id }),
    ...(body.run_id !== undefined && { runId: body.run_id }),
  }
}
