import type { HistoryEntry, InferenceJob, InferResult, MemoryItem, SearchResult } from '@agentmem/memory'
import { inferenceJobStatuses, maxListLimit, maxRerankCandidates, searchModes } from '@agentmem/memory'
import { identifier, jsonObject } from '@agentmem/memory/identifiers'
import { z } from '@hono/zod-openapi'
import type { ServerConfig } from '../config.js'

/** Request and response schemas of the native API: snake_case JSON, `{ results }` like Mem0's server. */

// The engine's own id rules (no control characters, never `*`), so a bad id is a validation
// failure here like an empty one, not the engine's MEMORY_INVALID_OPTIONS.
const scope = {
  user_id: identifier.optional(),
  agent_id: identifier.optional(),
  run_id: identifier.optional(),
}
// Taken as sent (a "__proto__" key too); the engine checks what is inside.
const metadata = jsonObject.meta({ example: { topic: 'home' } })
const filters = jsonObject.meta({
  description:
    'Mem0-style filters: `{ field: value }`, operators eq ne gt gte lt lte in nin contains icontains, AND / OR / NOT; fields user_id agent_id run_id role created_at updated_at or `metadata.<key>`.',
  example: { AND: [{ 'metadata.topic': 'home' }, { created_at: { gte: '2026-01-01T00:00:00Z' } }] },
})
export const messageRoles = ['user', 'assistant', 'system', 'tool'] as const
/** What an entity of a tenant is: the scope id it is named by. */
export const entityTypes = ['user', 'agent', 'run'] as const
export const message = z.strictObject({
  role: z.enum(messageRoles),
  content: z.string(),
  name: z.string().max(256).optional(),
})
/** zod's message for a failed union is "Invalid input"; this one says what would do. */
export const messagesError = `must be a string or an array of { role, content } with role one of ${messageRoles.join(', ')}`

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
    valid_to: z.string().nullable().openapi({ description: 'When a newer, contradicting fact superseded this memory; null while it is current.' }),
  })
  .openapi('Memory')

export const searchHit = memoryItem
  .extend({
    score: z.number().openapi({
      description:
        'What results are ordered by: in hybrid mode 0.7 · BM25 / best BM25 + 0.3 · similarity, plus `explain.feedback` and `explain.context` when set; in vector mode the similarity; in keyword mode BM25.',
    }),
    similarity: z.number().nullable().openapi({
      description: 'Cosine similarity of the query and the memory, -1 to 1; what `threshold` compares in vector and hybrid modes. Null in keyword mode.',
    }),
    rerank_score: z.number().optional().openapi({
      description: "With `rerank`: the reranker's relevance of the memory to the query, 0 to 1; results are then ordered by it.",
    }),
    explain: z
      .object({
        vector: z.object({ score: z.number(), rank: z.number().nullable() }),
        keyword: z.object({ score: z.number(), rank: z.number().nullable() }).nullable(),
        fused: z.number(),
        filler: z.literal(true).optional().openapi({
          description: 'The memory holds only filler words (an acknowledgement, a greeting): a positive `fused` is its score times `fillerWeight`.',
        }),
        feedback: z.number().optional().openapi({
          description:
            "Hybrid mode: the memory holds words of the best results that the query lacks (pseudo-relevance feedback); `fused` includes this: their BM25 over the best keyword match's, each word counting `feedbackWeight` of a query word, in the keyword share.",
        }),
        context: z.object({ from: z.string(), score: z.number() }).optional().openapi({
          description:
            'A memory next to this one in its conversation thread matched: `fused` includes `score`, `contextWeight` times the fused score of the memory `from` (half that when it comes before `from`). Ranks (vector, keyword) are null for a memory only context brought in.',
        }),
      })
      .optional(),
  })
  .openapi('SearchHit')

export const addResult = z
  .object({
    id: z.string(),
    memory: z.string(),
    event: z.enum(['ADD', 'UPDATE', 'DELETE', 'SUPERSEDE', 'NONE']),
    previous_memory: z.string().optional(),
  })
  .openapi('AddResult')

export const inferenceJob = z
  .object({
    id: z.string(),
    status: z.enum(inferenceJobStatuses).openapi({
      description:
        'queued: not tried yet; pending: the LLM failed, the input is stored raw and retried; done; failed: retries exhausted, the input stays stored raw.',
    }),
    attempts: z.number(),
    facts: z.number().optional(),
    results: z.array(addResult).optional(),
    rejected: z.array(z.object({ fact: z.number(), reason: z.string() })).optional(),
    error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }).optional(),
    next_attempt_at: z.string().optional(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('InferenceJob')

/**
 * The query of a route that takes none: a parameter there is a mistake (a typo, or an option of
 * another route) that would otherwise be ignored without a word.
 */
export const noQuery = z.strictObject({})

/** `GET /v1/jobs`: a tenant's inference jobs, newest first. */
export const jobListQuery = z.strictObject({
  status: z.enum(inferenceJobStatuses).optional().openapi({ description: 'Only jobs in this state.' }),
  limit: z.coerce.number().int().min(1).max(maxListLimit).default(100),
  cursor: z.string().max(1024).optional(),
})

export const historyItem = z
  .object({
    id: z.number().openapi({ description: "The event's place in its memory's history: 1 for the first." }),
    memory_id: z.string(),
    event: z.enum(['ADD', 'UPDATE', 'DELETE', 'SUPERSEDE']),
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
  const addBody = z.strictObject({
    messages: z.union(
      [
        text,
        z
          .array(message.extend({ content: text }))
          .min(1)
          .max(config.maxBatchItems),
      ],
      { error: (issue) => (issue.code === 'invalid_union' ? messagesError : undefined) },
    ),
    ...scope,
    metadata: metadata.optional(),
  })
  const includeSuperseded = z.boolean().default(false).openapi({ description: 'Also memories a newer fact superseded (they carry valid_to).' })
  return {
    addBody: addBody
      .extend({
        infer: z.boolean().default(false).openapi({ description: 'Extract facts with the configured LLM and reconcile them with the scope.' }),
        async: z.boolean().default(false).openapi({ description: 'With infer: answer once the input is durable; follow GET /v1/jobs/{id}.' }),
        timestamp: z.iso
          .datetime({ offset: true })
          .optional()
          .openapi({ description: 'With infer: when the messages were said; relative dates resolve against it.' }),
        instructions: z.string().max(4000).optional().openapi({ description: 'With infer: extra extraction instructions.' }),
        memory_type: z
          .enum(['semantic', 'procedural'])
          .default('semantic')
          .openapi({ description: "With infer: 'procedural' summarises an agent run (needs agent_id)." }),
      })
      .openapi('AddRequest'),
    batchBody: z
      .strictObject({
        items: z
          .array(addBody.extend({ infer: z.literal(false).optional() }))
          .min(1)
          .max(config.maxBatchItems),
      })
      .openapi('BatchAddRequest'),
    searchBody: z
      .strictObject({
        query: text.min(1),
        ...scope,
        filters: filters.optional(),
        top_k: z.number().int().min(1).max(config.maxTopK).default(10),
        threshold: z.number().min(-1).optional().openapi({
          description: 'Minimum `similarity` of a result in vector and hybrid modes (-1 to 1); minimum `score` (BM25, which can exceed 1) in keyword mode.',
        }),
        mode: z.enum(searchModes).default('hybrid'),
        explain: z.boolean().default(false),
        include_superseded: includeSuperseded,
        rerank: z
          .union([
            z.boolean(),
            z.strictObject({
              model: z.string().min(1).optional(),
              top_n: z.number().int().min(1).max(maxRerankCandidates).optional(),
            }),
          ])
          .default(false)
          .openapi({
            description:
              "Reorder the best `top_n` candidates (default max(top_k, 20)) by the server's cross-encoder (`--reranker`); `model`, if given, must name it. Results gain `rerank_score`. Without a reranker: 501.",
          }),
      })
      // A similarity is at most 1; a BM25 score is not, so keyword mode takes any threshold.
      .refine((body) => body.mode === 'keyword' || body.threshold === undefined || body.threshold <= 1, {
        path: ['threshold'],
        message: 'a similarity is at most 1 (vector and hybrid modes); only keyword mode, which compares BM25 scores, takes more',
      })
      .openapi('SearchRequest'),
    entitiesQuery: z.strictObject({
      type: z.enum(entityTypes).optional().openapi({ description: 'Only entities of this type.' }),
    }),
    listQuery: z.strictObject({
      ...scope,
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      cursor: z.string().max(1024).optional(),
      filters: z.string().max(16_384).optional().openapi({ description: 'Filters as JSON text.' }),
      include_superseded: z.enum(['true', 'false']).default('false'),
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
    valid_to: item.validTo,
  }
}

function toAddResultJson(result: InferResult): z.infer<typeof addResult> {
  return { id: result.id, memory: result.memory, event: result.event, ...(result.previousMemory !== undefined && { previous_memory: result.previousMemory }) }
}

/** What an add answers: one result per stored text or decided fact, and the inference job if there was one. */
export function toAddResponseJson(response: { results: InferResult[]; job?: InferenceJob | undefined }) {
  return { results: response.results.map(toAddResultJson), ...(response.job && { job: toJobJson(response.job) }) }
}

export function toJobJson(job: InferenceJob): z.infer<typeof inferenceJob> {
  return {
    id: job.id,
    status: job.status,
    attempts: job.attempts,
    ...(job.facts !== undefined && { facts: job.facts }),
    ...(job.results && { results: job.results.map(toAddResultJson) }),
    ...(job.rejected && { rejected: job.rejected }),
    ...(job.error && { error: job.error }),
    ...(job.nextAttemptAt && { next_attempt_at: job.nextAttemptAt }),
    created_at: job.createdAt,
    updated_at: job.updatedAt,
  }
}

/** `similarity` comes from the hit's explain, so search with `explain: true`; `explain` says whether to show the rest of it. */
export function toSearchHitJson(hit: SearchResult, explain = false): z.infer<typeof searchHit> {
  const similarity = hit.explain?.vector.score
  // Object.assign rather than `{ ...toMemoryJson(hit), score }`: V8 took ~5 µs a hit for that spread, 0.1 µs for this.
  return Object.assign(
    toMemoryJson(hit),
    {
      score: hit.score,
      ...(hit.rerankScore !== undefined && { rerank_score: hit.rerankScore }),
      // NaN in keyword mode: no embedding is compared there.
      similarity: similarity === undefined || Number.isNaN(similarity) ? null : similarity,
    },
    explain && hit.explain ? { explain: hit.explain } : {},
  )
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
