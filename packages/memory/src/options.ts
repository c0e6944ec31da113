import type { Embedder, Logger, Reranker } from '@agentmem/embeddings'
import { z } from 'zod'
import { MemoryError, MemoryErrorCode } from './errors.js'
import { identifier, jsonObject, tenantIdSchema } from './identifiers.js'
import { LlmClient, llmOptionsSchema } from './inference/llm-client.js'
import { replicationOptionsSchema } from './replication.js'

/** Keys are checked with the rest of the metadata (metadata.ts `checkMetadata`), for one error code and a short message. */
export const metadataSchema = jsonObject

const scopeShape = {
  userId: identifier.optional(),
  agentId: identifier.optional(),
  runId: identifier.optional(),
}

export const messageSchema = z.strictObject({
  role: z.enum(['user', 'assistant', 'system', 'tool']),
  content: z.string(),
  name: z.string().max(256).optional(),
})
export type Message = z.infer<typeof messageSchema>

const plainAddShape = {
  ...scopeShape,
  metadata: metadataSchema.optional(),
  actor: identifier.optional(),
}

export const addOptionsSchema = z.strictObject({
  ...plainAddShape,
  /** Extract facts with the LLM and reconcile them with the scope's memories (needs `llm`). */
  infer: z.boolean().optional(),
  /** With infer: return once the input is durable; extraction runs in the background (see inferenceJob). */
  async: z.boolean().default(false),
  /** With infer: when the messages were said (ISO date-time or epoch ms); relative dates resolve against it. Default: now. */
  timestamp: z.union([z.iso.datetime({ offset: true }), z.number().int().min(0)]).optional(),
  /** With infer: extra instructions for the extraction prompt (added to the store's own). */
  instructions: z.string().max(4000).optional(),
  /** With infer: `procedural` summarises an agent's run into one procedure memory (needs agentId). */
  memoryType: z.enum(['semantic', 'procedural']).default('semantic'),
})
export type AddOptions = z.input<typeof addOptionsSchema>

export const addBatchItemSchema = z.strictObject({
  ...plainAddShape,
  /** Only false: inference is one `add` call at a time. */
  infer: z.literal(false).optional(),
  messages: z.union([z.string(), z.array(messageSchema).min(1)]),
})
export type AddBatchItem = z.input<typeof addBatchItemSchema>

export const searchModes = ['hybrid', 'vector', 'keyword'] as const
export type SearchMode = (typeof searchModes)[number]

export const maxTopK = 1000
/** Most first-stage candidates a reranker reads for one search (each is a model run over the pair). */
export const maxRerankCandidates = 200
/** First-stage candidates a reranker reads by default (at least `topK`). */
export const defaultRerankCandidates = 20
export const searchOptionsSchema = z.strictObject({
  ...scopeShape,
  filters: jsonObject.optional(),
  topK: z.number().int().min(1).max(maxTopK).default(10),
  threshold: z.number().min(-1).optional(),
  mode: z.enum(searchModes).default('hybrid'),
  explain: z.boolean().default(false),
  /** Also memories a newer fact superseded (they carry validTo). */
  includeSuperseded: z.boolean().default(false),
  /**
   * Reorder the first stage's best `topN` candidates (default 20, never fewer than topK) by the configured
   * reranker (open option `reranker`); `model`, if given, must name it. Results gain `rerankScore`.
   */
  rerank: z
    .union([
      z.boolean(),
      z.strictObject({
        model: z.string().min(1).optional(),
        topN: z.number().int().min(1).max(maxRerankCandidates).optional(),
      }),
    ])
    .default(false),
  /** Cancels the search's model work (the query's embedding, the reranking): it rejects with EMBEDDINGS_ABORTED. */
  signal: z.custom<AbortSignal>((s) => s instanceof AbortSignal, 'signal must be an AbortSignal').optional(),
})
export type SearchOptions = z.input<typeof searchOptionsSchema>

export const maxListLimit = 1000
export const listOptionsSchema = z.strictObject({
  ...scopeShape,
  filters: jsonObject.optional(),
  limit: z.number().int().min(1).max(maxListLimit).default(100),
  cursor: z.string().max(1024).optional(),
  /** Also memories a newer fact superseded (they carry validTo). */
  includeSuperseded: z.boolean().default(false),
})
export type ListOptions = z.input<typeof listOptionsSchema>

export const countOptionsSchema = z.strictObject({
  ...scopeShape,
  filters: jsonObject.optional(),
  includeSuperseded: z.boolean().default(false),
})
export type CountOptions = z.input<typeof countOptionsSchema>

export const inferenceJobStatuses = ['queued', 'pending', 'done', 'failed'] as const
export const jobListOptionsSchema = z.strictObject({
  /** Only jobs in this state. */
  status: z.enum(inferenceJobStatuses).optional(),
  limit: z.number().int().min(1).max(maxListLimit).default(100),
  cursor: z.string().max(1024).optional(),
})
export type JobListOptions = z.input<typeof jobListOptionsSchema>

/** A memory as `exportAll` yields it; `id` and times are kept on import when given. */
export const importItemSchema = z
  .strictObject({
    ...scopeShape,
    id: z
      .uuid()
      .transform((id) => id.toLowerCase())
      .optional(),
    memory: z.string(),
    metadata: metadataSchema.optional(),
    role: z.enum(['user', 'assistant', 'tool']).nullable().optional(),
    createdAt: z.iso.datetime({ offset: true }).optional(),
    updatedAt: z.iso.datetime({ offset: true }).optional(),
    /** Set on superseded memories: they stay superseded. */
    validTo: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  // Times out of order were stored as given: a memory updated, or superseded, before it was made.
  .refine((item) => !item.createdAt || !item.updatedAt || Date.parse(item.updatedAt) >= Date.parse(item.createdAt), {
    path: ['updatedAt'],
    message: 'must not be before the creation time',
  })
  // Given an updatedAt alone, it is the creation time too (Memory.import).
  .refine((item) => !item.validTo || !(item.createdAt ?? item.updatedAt) || Date.parse(item.validTo) >= Date.parse(item.createdAt ?? item.updatedAt ?? ''), {
    path: ['validTo'],
    message: 'must not be before the creation time',
  })
export type ImportItem = z.input<typeof importItemSchema>

export const scopeSchema = z.strictObject(scopeShape)
export type ScopeIds = z.infer<typeof scopeSchema>

export const updateOptionsSchema = z
  .strictObject({ text: z.string().optional(), metadata: metadataSchema.optional(), actor: identifier.optional() })
  .refine((o) => o.text !== undefined || o.metadata !== undefined, 'give text, metadata or both')
export type UpdateOptions = z.input<typeof updateOptionsSchema>

export const deleteOptionsSchema = z.strictObject({ purge: z.boolean().default(false), actor: identifier.optional() })
export type DeleteOptions = z.input<typeof deleteOptionsSchema>

/** A memory id as given; lookups resolve its case (`Memory.storedId`). */
export const memoryIdSchema = z.uuid()
export { tenantIdSchema }

export const memoryOpenOptionsSchema = z.strictObject({
  /** Folder holding the LanceDB tables and the SQLite file; created if missing. */
  path: z.string().min(1),
  /** `postgres://user:password@host:port/database`: metadata (history, journal, jobs) in PostgreSQL instead of `path`. */
  metadataUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /** Where memories live instead of `path/vectors`: `s3://bucket/prefix` or another LanceDB URI. */
  vectorsUrl: z.string().min(1).optional(),
  /** LanceDB storage options for `vectorsUrl`: endpoint, region, aws_access_key_id, allow_http, … (AWS_* variables are read too). */
  storageOptions: z.record(z.string(), z.string()).optional(),
  /**
   * With `metadataUrl`: several processes (replicas) may open the store; one leads and writes, the
   * others forward writes to it through `forward` and follow its changes. Without it, a second
   * process is refused (MEMORY_LOCKED).
   */
  replication: replicationOptionsSchema.optional(),
  /** Embedder to use. Default: the offline default model, owned (and closed) by this Memory. */
  embedder: z.custom<Embedder>((e) => typeof e === 'object' && e !== null && typeof (e as Embedder).embed === 'function').optional(),
  /** Cross-encoder for `search(..., { rerank: true })` (createReranker). The caller owns it: close it after the Memory. */
  reranker: z.custom<Reranker>((r) => typeof r === 'object' && r !== null && typeof (r as Reranker).score === 'function').optional(),
  /** Tenant of every call made through this instance. */
  tenantId: tenantIdSchema.default('default'),
  logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
  /** Longest memory text accepted, in characters. */
  maxTextLength: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Most items (texts or messages) in one add or addBatch call. */
  maxBatchItems: z.number().int().min(1).max(1_000_000).default(10_000),
  /**
   * In hybrid search, the factor on the score of a memory made only of filler words
   * (acknowledgements, greetings, thanks: "Noted!", "Got it, thanks!"): it ranks below facts that
   * match as well, and still ranks where nothing else matches. A memory with any other word is
   * never touched. 1 turns the prior off.
   */
  fillerWeight: z.number().min(0).max(1).default(0.5),
  /**
   * In hybrid search, pseudo-relevance feedback: the words of the best 3 hits that the query lacks
   * join it, each counting at most this fraction of a query word, and re-score the candidates
   * (search/feedback.ts). It re-orders what was found and never searches again. 0 turns it off.
   */
  feedbackWeight: z.number().min(0).max(1).default(0.3),
  /**
   * In hybrid search, the share of a hit's score lent to the memory just after it in its
   * conversation thread (same user, agent and run, written within 30 minutes), half that to the
   * one before: an answer is often the message after the one that matches the question. 0 turns
   * it off: a store of unrelated facts written together (one batch is one thread) ranks better
   * without it.
   */
  contextWeight: z.number().min(0).max(1).default(0.3),
  /** Rows at which an ANN index is built; below it search is exact. */
  annIndexThreshold: z.number().int().min(256).default(100_000),
  /** Rows written between two compactions / index refreshes. */
  maintenanceEveryRows: z.number().int().min(1).default(5_000),
  /** Write commits (each one a LanceDB fragment) between two compactions. */
  maintenanceEveryCommits: z.number().int().min(1).default(32),
  /**
   * The scope-resident index: searched scopes are held in memory (vectors, keyword index) and kept
   * current by the writer. `budgetBytes` bounds its heap (an estimate; 0 turns it off, and every
   * search reads the store); a scope with more than `maxScopeRows` memories is never loaded whole.
   * `searchThread` also searches resident scopes on a worker thread holding a copy of them (twice
   * the memory), while this thread searches too: concurrent searches use a second core. Scopes of
   * fewer than `searchThreadMinRows` memories stay on this thread: handing a search over costs it
   * ~60-80 µs (embedding, posting, taking the answer), about what a search of 100 memories costs
   * in all, so the thread made those slower (docs/benchmarks/search.findings.md).
   */
  resident: z
    .strictObject({
      budgetBytes: z
        .number()
        .int()
        .min(0)
        .default(256 * 1024 * 1024),
      maxScopeRows: z.number().int().min(1).max(1_000_000).default(10_000),
      searchThread: z.boolean().default(false),
      searchThreadMinRows: z.number().int().min(1).default(250),
    })
    .prefault({}),
  /** The LLM for `add(..., { infer: true })`: any OpenAI-compatible endpoint, or a client to share. */
  llm: z.union([z.instanceof(LlmClient), llmOptionsSchema]).optional(),
  inference: z
    .strictObject({
      /** Added to every extraction prompt (a per-add `instructions` comes after it). */
      instructions: z.string().max(4000).optional(),
      /** Existing memories retrieved per new fact for the decision call. */
      similarMemories: z.number().int().min(1).max(50).default(5),
      /** Attempts per job before it is marked failed (its input stays stored raw). */
      maxAttempts: z.number().int().min(1).max(100).default(8),
      /** Background retry backoff: doubles per attempt, capped at an hour. */
      retryBaseMs: z.number().int().min(0).default(5_000),
    })
    .prefault({}),
})
export type MemoryOpenOptions = z.input<typeof memoryOpenOptionsSchema>
export type MemoryConfig = z.output<typeof memoryOpenOptionsSchema>

/** Parses with a schema; failures become MEMORY_INVALID_OPTIONS (or `code`) listing each offending field. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string, code: MemoryErrorCode = MemoryErrorCode.InvalidOptions): z.output<S> {
  const result = schema.safeParse(input ?? {})
  if (result.success) return result.data
  const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')
  throw new MemoryError(code, `Invalid ${what}: ${summary}`, { cause: result.error, details: { issues } })
}
