import type { Embedder, Logger } from '@agentmem/embeddings'
import { uuidv7 } from 'uuidv7'
import { embed } from '../embed.js'
import { isMemoryError, MemoryError, MemoryErrorCode } from '../errors.js'
import { sortedKeys } from '../metadata.js'
import type { MemoryConfig } from '../options.js'
import type { InferenceJobRecord, MetadataStore, ScopeFilter, StoredMemory, VectorStore } from '../store/types.js'
import { dedupKey, storable } from '../text.js'
import type { AddResult, Metadata } from '../types.js'
import type { WriteOp, WriteResult, Writer } from '../writer.js'
import type { LlmClient, LlmUsage } from './llm-client.js'
import {
  type Decisions,
  decisionPrompt,
  decisionSchema,
  extractionPrompt,
  extractionSchema,
  type PromptMessage,
  procedurePrompt,
  procedureSchema,
} from './prompts.js'

/** What an inference job was asked to do; stored as the job's `input`. */
export interface InferInput {
  scope: ScopeFilter
  messages: PromptMessage[]
  metadata: Metadata
  actor: string | null
  /** Epoch ms the messages were said at: relative dates resolve against it. */
  timestamp: number
  instructions?: string | undefined
  memoryType: 'semantic' | 'procedural'
}

export type InferResult = AddResult & { previousMemory?: string }

/** A model decision that was not applied as given (out-of-range index, conflict, missing), and what was done instead. */
export interface RejectedDecision {
  fact: number
  reason: string
}

export interface InferenceJob {
  id: string
  /** queued: not tried yet; pending: failed, input stored raw, will retry; done; failed: gave up, input stays raw. */
  status: InferenceJobRecord['status']
  attempts: number
  facts?: number
  results?: InferResult[]
  rejected?: RejectedDecision[]
  error?: { code: string; message: string; details?: Record<string, unknown> }
  nextAttemptAt?: string
  createdAt: string
  updatedAt: string
}

interface Deps {
  llm: LlmClient
  embedder: () => Embedder
  vectors: () => VectorStore
  metadata: MetadataStore
  writer: Writer
  logger: Logger
  /** Resolves when every acknowledged write is readable. */
  settled: () => Promise<void>
  /** The store's `inference` options (documented in options.ts). */
  config: MemoryConfig['inference']
}

interface JobResult {
  facts: number
  results: InferResult[]
  rejected: RejectedDecision[]
}

const maxJobBackoffMs = 3_600_000

/**
 * What inference stores carries its provenance in metadata: the job of a raw input
 * (`inference_job`), a fact's job and messages (`source`), a procedure's kind (`memory_type`).
 * The caller's own metadata wins: a key it sets (`source` is a common one, Mem0 clients send it)
 * keeps its value, and that memory goes without this part of its provenance. The job overwrote it.
 */
function withProvenance(metadata: Metadata, provenance: Metadata): Metadata {
  return { ...provenance, ...metadata }
}

/**
 * Inference mode: extract facts with an LLM, reconcile them with what the scope already holds, and
 * apply the decisions as one atomic write. Every input is a durable job first, so an LLM failure
 * stores the input raw and a background queue retries it; nothing said is ever dropped.
 */
export class Inference {
  private readonly running = new Map<string, Promise<unknown>>()
  /** Per scope: retrieve, decide and apply run one job at a time, so two jobs never decide on stale memories. */
  private readonly scopeLocks = new Map<string, Promise<unknown>>()
  private timer: NodeJS.Timeout | undefined
  private timerAt = 0
  private stopped = false
  /** Aborts LLM calls in flight on stop: their jobs stay queued or pending and resume on the next open. */
  private readonly closing = new AbortController()

  constructor(private readonly deps: Deps) {}

  /** Records the job, then runs it now (or in the background with `background`). */
  async add(tenantId: string, input: InferInput, options: { background: boolean }): Promise<{ results: InferResult[]; job: InferenceJob }> {
    const now = Date.now()
    const record: InferenceJobRecord = {
      id: uuidv7(),
      tenantId,
      status: 'queued',
      input,
      attempts: 0,
      nextAttemptAt: now,
      rawMemoryIds: null,
      result: null,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    }
    if (options.background) {
      await this.deps.metadata.createJob(record)
      this.schedule(0)
      return { results: [], job: toJob(record) }
    }
    // A synchronous add is written once, when it is done or has failed: until it answers, the
    // caller holds the input (a crash before then is an unacknowledged add), which saves a synced
    // write per add.
    const done = this.attempt(record, false)
    this.running.set(record.id, done)
    try {
      const after = await done
      return { results: (after.result as JobResult | null)?.results ?? after.raw ?? [], job: toJob(after) }
    } finally {
      this.running.delete(record.id)
    }
  }

  get usage(): LlmUsage {
    return this.deps.llm.usage
  }

  /** Starts the background queue (jobs left by an earlier process resume). */
  start(): void {
    this.schedule(0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.closing.abort(new MemoryError(MemoryErrorCode.Closed, 'The store closed during inference; the job resumes when it is opened again'))
    await Promise.allSettled(this.running.values())
  }

  /**
   * One attempt of a job; an LLM failure stores the input raw (once) and plans the next attempt.
   * `persisted`: the job row exists (background jobs); otherwise the outcome creates it.
   */
  private async attempt(record: InferenceJobRecord, persisted = true): Promise<InferenceJobRecord & { raw?: AddResult[] }> {
    const save = (change: Partial<InferenceJobRecord>) =>
      persisted ? this.deps.metadata.updateJob(record.id, change) : this.deps.metadata.createJob({ ...record, ...change, updatedAt: Date.now() })
    const attempts = record.attempts + 1
    try {
      const result = await this.run(record)
      const done = { ...record, status: 'done' as const, attempts, result, lastError: null, updatedAt: Date.now() }
      await save({ status: 'done', attempts, result, lastError: null })
      return done
    } catch (error) {
      // Closing: the job stays as it was and resumes on the next open.
      if (this.stopped) throw error
      if (!isMemoryError(error) || error.code !== MemoryErrorCode.InferenceFailed) {
        if (persisted) await this.deps.metadata.updateJob(record.id, { status: 'failed', attempts, lastError: describe(error) })
        throw error
      }
      let raw: AddResult[] | undefined
      let rawMemoryIds = record.rawMemoryIds
      if (!rawMemoryIds) {
        raw = await this.storeRaw(record)
        // Only what this job stored: a message already stored before (NONE, UPDATE) is another
        // memory, which the recovered job must not supersede with its raw input.
        rawMemoryIds = raw.filter((r) => r.event === 'ADD').map((r) => r.id)
      }
      const giveUp = attempts >= this.deps.config.maxAttempts
      const nextAttemptAt = Date.now() + Math.min(maxJobBackoffMs, this.deps.config.retryBaseMs * 2 ** (attempts - 1))
      const change = { status: giveUp ? ('failed' as const) : ('pending' as const), attempts, nextAttemptAt, rawMemoryIds, lastError: describe(error) }
      await save(change)
      this.deps.logger.warn('memory.inference_retry', { job: record.id, attempts, giveUp, error: error.message })
      if (!giveUp) this.schedule(nextAttemptAt - Date.now())
      return { ...record, ...change, updatedAt: Date.now(), ...(raw && { raw }) }
    }
  }

  /** The input as plain memories, marked with the job, while extraction is pending. */
  private async storeRaw(record: InferenceJobRecord): Promise<AddResult[]> {
    const input = record.input as InferInput
    const vectors = await embed(
      this.deps.embedder(),
      input.messages.map((m) => m.content),
    )
    const now = Date.now()
    const ops: WriteOp[] = input.messages.map((m, i) => ({
      kind: 'add',
      actor: input.actor,
      memory: memoryOf(input.scope, m.content, vectors[i] as Float32Array, withProvenance(input.metadata, { inference_job: record.id }), m.role, now),
    }))
    return (await this.deps.writer.submit(ops)) as AddResult[]
  }

  private async run(record: InferenceJobRecord): Promise<JobResult> {
    const input = record.input as InferInput
    const { llm } = this.deps
    if (input.memoryType === 'procedural') {
      const reply = await llm.json({ name: 'procedure', schema: procedureSchema, ...procedurePrompt(input.messages, input.instructions) }, this.closing.signal)
      const procedure = storable(reply.procedure)
      const [vector] = await embed(this.deps.embedder(), [procedure])
      const metadata = withProvenance(input.metadata, { memory_type: 'procedural', source: { job: record.id } })
      const op: WriteOp = { kind: 'add', actor: input.actor, memory: memoryOf(input.scope, procedure, vector as Float32Array, metadata, null, Date.now()) }
      return this.inScope(input.scope, async () => this.apply(record, { ops: [op], opFact: [0], nones: [], rejected: [], existing: [], facts: 1 }))
    }
    const date = new Date(input.timestamp).toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' })
    const extraction = await llm.json(
      { name: 'facts', schema: extractionSchema, ...extractionPrompt(input.messages, date, input.instructions) },
      this.closing.signal,
    )
    const facts = extraction.facts
      // What the stores cannot keep is replaced here, as for texts added as given, so the answer is what is stored.
      .map((f) => ({ text: storable(f.text).trim(), sources: f.sources.filter((s) => s < input.messages.length) }))
      .filter((f) => f.text.length > 0)
    const factVectors =
      facts.length > 0
        ? await embed(
            this.deps.embedder(),
            facts.map((f) => f.text),
          )
        : []
    return this.inScope(input.scope, async () => {
      const existing = await this.similar(input.scope, factVectors, record.rawMemoryIds ?? [])
      const decided =
        existing.length > 0
          ? await llm.json(
              {
                name: 'decisions',
                schema: decisionSchema,
                ...decisionPrompt(
                  facts.map((f) => f.text),
                  existing.map((m) => m.text),
                ),
              },
              this.closing.signal,
            )
          : { decisions: [] }
      const plan = checkDecisions(decided, facts.length, existing, existing.length === 0)
      // UPDATE texts other than the fact's own need their own vectors: one embedding call for all.
      const updateTexts = plan.steps.filter((s) => s.event === 'UPDATE' && s.text !== facts[s.fact]?.text).map((s) => s.text as string)
      const updateVectors = new Map<string, Float32Array>()
      if (updateTexts.length > 0)
        for (const [i, v] of (await embed(this.deps.embedder(), updateTexts)).entries()) updateVectors.set(updateTexts[i] as string, v)
      const now = Date.now()
      const addFact = (fact: number): WriteOp => {
        const f = facts[fact] as { text: string; sources: number[] }
        const metadata = withProvenance(input.metadata, { source: { job: record.id, messages: f.sources } })
        return { kind: 'add', actor: input.actor, memory: memoryOf(input.scope, f.text, factVectors[fact] as Float32Array, metadata, null, now) }
      }
      const planned: Planned = { ops: [], opFact: [], nones: [], rejected: plan.rejected, existing, facts: facts.length, addFact }
      const push = (op: WriteOp, fact: number) => {
        planned.ops.push(op)
        planned.opFact.push(fact)
      }
      for (const step of plan.steps) {
        const target = step.memory === null ? undefined : existing[step.memory]
        if (step.event === 'ADD' || !target) push(addFact(step.fact), step.fact)
        else if (step.event === 'NONE') planned.nones.push({ id: target.id, memory: target.text, event: 'NONE' })
        else if (step.event === 'UPDATE') {
          const text = step.text ?? (facts[step.fact] as { text: string }).text
          const vector = updateVectors.get(text) ?? (factVectors[step.fact] as Float32Array)
          push({ kind: 'update', tenantId: input.scope.tenantId, id: target.id, text: { text, vector }, actor: input.actor }, step.fact)
        } else {
          push({ kind: 'supersede', tenantId: input.scope.tenantId, id: target.id, actor: input.actor }, step.fact)
          push(addFact(step.fact), step.fact)
        }
      }
      return this.apply(record, planned)
    })
  }

  /**
   * Applies one job's ops as one write group, with the job's raw memories superseded in it. An
   * UPDATE whose memory vanished meanwhile (a direct delete) is retried as an ADD of its fact.
   */
  private async apply(record: InferenceJobRecord, plan: Planned): Promise<JobResult> {
    const input = record.input as InferInput
    const kept = await this.rawFacts(record, plan)
    const raw: WriteOp[] = (record.rawMemoryIds ?? [])
      .filter((id) => !kept.has(id))
      .map((id) => ({ kind: 'supersede', tenantId: input.scope.tenantId, id, actor: input.actor }))
    const ops = [...plan.ops, ...raw]
    const results: InferResult[] = [...plan.nones]
    const readds: WriteOp[] = []
    for (const [i, result] of (await this.deps.writer.submit(ops)).entries()) {
      const op = ops[i] as WriteOp
      if (!(result instanceof MemoryError)) results.push(toResult(op, result, plan.existing))
      else if (op.kind === 'update' && plan.addFact) {
        const fact = plan.opFact[i] as number
        readds.push(plan.addFact(fact))
        plan.rejected.push({ fact, reason: 'its memory was deleted meanwhile; added as new' })
      }
    }
    if (readds.length > 0) {
      for (const [i, result] of (await this.deps.writer.submit(readds)).entries()) {
        if (!(result instanceof MemoryError)) results.push(toResult(readds[i], result, plan.existing))
      }
    }
    if (plan.rejected.length > 0) this.deps.logger.warn('memory.inference_rejected', { job: record.id, rejected: plan.rejected })
    return { facts: plan.facts, results, rejected: plan.rejected }
  }

  /**
   * The job's raw memories that a fact it adds is the same text as: the add finds the raw memory
   * (the exact-duplicate check) and writes its provenance there, so that memory is the fact now.
   * Superseded with the other raw memories, it hid what the user said (a short message the model
   * copied as a fact, once the LLM recovered from an outage).
   */
  private async rawFacts(record: InferenceJobRecord, plan: Planned): Promise<Set<string>> {
    const factKeys = new Set(plan.ops.flatMap((op) => (op.kind === 'add' ? [op.memory.dedupKey] : [])))
    const rawIds = record.rawMemoryIds ?? []
    if (factKeys.size === 0 || rawIds.length === 0) return new Set()
    await this.deps.settled()
    const raw = await this.deps.vectors().getByIds((record.input as InferInput).scope.tenantId, rawIds)
    return new Set(raw.filter((memory) => factKeys.has(memory.dedupKey)).map((memory) => memory.id))
  }

  /** Current memories of the scope closest to any of the facts (the job's own raw memories excluded). */
  private async similar(scope: ScopeFilter, vectors: Float32Array[], exclude: string[]): Promise<StoredMemory[]> {
    await this.deps.settled()
    const skip = new Set(exclude)
    const best = new Map<string, { memory: StoredMemory; score: number }>()
    const store = this.deps.vectors()
    const found = await Promise.all(
      vectors.map((vector) => store.vectorSearch(vector, { ...scope, currentOnly: true }, undefined, this.deps.config.similarMemories)),
    )
    for (const hit of found.flat()) {
      if (skip.has(hit.memory.id)) continue
      const seen = best.get(hit.memory.id)
      if (!seen || seen.score < hit.score) best.set(hit.memory.id, hit)
    }
    return [...best.values()].sort((a, b) => b.score - a.score).map((h) => h.memory)
  }

  private inScope<T>(scope: ScopeFilter, task: () => Promise<T>): Promise<T> {
    const key = JSON.stringify([scope.tenantId, scope.userId ?? null, scope.agentId ?? null, scope.runId ?? null])
    const run = (this.scopeLocks.get(key) ?? Promise.resolve()).then(task)
    const tail = run.catch(() => undefined)
    this.scopeLocks.set(key, tail)
    void tail.then(() => {
      if (this.scopeLocks.get(key) === tail) this.scopeLocks.delete(key)
    })
    return run
  }

  /** Runs due jobs after `delayMs`; one timer at a time, never keeping the process alive. */
  private schedule(delayMs: number): void {
    const at = Date.now() + Math.max(0, delayMs)
    // An earlier timer stays: the drain it starts reschedules for whatever is due next.
    if (this.stopped || (this.timer && this.timerAt <= at)) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.drain()
    }, at - Date.now())
    this.timer.unref()
  }

  private async drain(): Promise<void> {
    if (this.stopped) return
    try {
      const due = (await this.deps.metadata.dueJobs(Date.now(), 16)).filter((j) => !this.running.has(j.id))
      await Promise.allSettled(
        due.map((record) => {
          const run = this.attempt(record).finally(() => this.running.delete(record.id))
          this.running.set(record.id, run)
          return run
        }),
      )
      const next = await this.deps.metadata.nextDueAt()
      if (next !== undefined) this.schedule(Math.max(next - Date.now(), due.length > 0 ? 0 : 1000))
    } catch (error) {
      if (this.stopped) return
      this.deps.logger.error('memory.inference_queue', { error: String(error) })
      this.schedule(this.deps.config.retryBaseMs)
    }
  }
}

/** A job's write group before it is applied; `opFact[i]` is the fact behind `ops[i]`. */
interface Planned {
  ops: WriteOp[]
  opFact: number[]
  nones: InferResult[]
  rejected: RejectedDecision[]
  existing: StoredMemory[]
  facts: number
  addFact?: (fact: number) => WriteOp
}

interface Step {
  fact: number
  event: Decisions['decisions'][number]['event']
  memory: number | null
  text: string | null
}

/**
 * Checks the model's decisions: every fact gets exactly one step. An index out of range, a second
 * decision for a fact or for a memory, or a missing decision is rejected and reported; the fact is
 * then added as new, so a bad decision can never lose it or touch the wrong memory.
 */
export function checkDecisions(
  decided: Decisions,
  facts: number,
  existing: readonly unknown[],
  allNew: boolean,
): { steps: Step[]; rejected: RejectedDecision[] } {
  const steps = new Map<number, Step>()
  const rejected: RejectedDecision[] = []
  const claimed = new Set<number>()
  for (const d of decided.decisions) {
    if (d.fact < 0 || d.fact >= facts) {
      rejected.push({ fact: d.fact, reason: `fact ${d.fact} is not one of the ${facts} facts; ignored` })
      continue
    }
    if (steps.has(d.fact)) {
      rejected.push({ fact: d.fact, reason: 'a second decision for this fact; ignored' })
      continue
    }
    if (d.event === 'ADD') {
      steps.set(d.fact, { fact: d.fact, event: 'ADD', memory: null, text: null })
      continue
    }
    if (d.memory === null || d.memory < 0 || d.memory >= existing.length) {
      rejected.push({ fact: d.fact, reason: `${d.event} names memory ${d.memory}, not one of the ${existing.length} shown; added as new` })
      steps.set(d.fact, { fact: d.fact, event: 'ADD', memory: null, text: null })
      continue
    }
    if (d.event !== 'NONE' && claimed.has(d.memory)) {
      rejected.push({ fact: d.fact, reason: `memory ${d.memory} already has an UPDATE or DELETE in this job; added as new` })
      steps.set(d.fact, { fact: d.fact, event: 'ADD', memory: null, text: null })
      continue
    }
    if (d.event !== 'NONE') claimed.add(d.memory)
    steps.set(d.fact, { fact: d.fact, event: d.event, memory: d.memory, text: (d.text ? storable(d.text).trim() : '') || null })
  }
  for (let fact = 0; fact < facts; fact++) {
    if (steps.has(fact)) continue
    if (!allNew) rejected.push({ fact, reason: 'no decision for this fact; added as new' })
    steps.set(fact, { fact, event: 'ADD', memory: null, text: null })
  }
  return { steps: [...steps.values()].sort((a, b) => a.fact - b.fact), rejected }
}

function memoryOf(scope: ScopeFilter, text: string, vector: Float32Array, metadata: Metadata, role: string | null, now: number): StoredMemory {
  return {
    id: uuidv7(),
    tenantId: scope.tenantId,
    userId: scope.userId ?? null,
    agentId: scope.agentId ?? null,
    runId: scope.runId ?? null,
    role,
    text,
    dedupKey: dedupKey(scope, text),
    metadata: sortedKeys(metadata),
    createdAt: now,
    updatedAt: now,
    validTo: null,
    vector,
  }
}

function toResult(op: WriteOp | undefined, result: WriteResult, existing: StoredMemory[]): InferResult {
  if (op?.kind === 'update') {
    const memory = result as StoredMemory
    const previous = existing.find((m) => m.id === memory.id)
    // An UPDATE to the text the memory already has changed nothing: the writer recorded nothing, and so does the answer.
    if (previous?.text === memory.text) return { id: memory.id, memory: memory.text, event: 'NONE' }
    return { id: memory.id, memory: memory.text, event: 'UPDATE', ...(previous && { previousMemory: previous.text }) }
  }
  return result as AddResult
}

function describe(error: unknown): InferenceJob['error'] {
  if (isMemoryError(error)) return { code: error.code, message: error.message, ...(error.details && { details: error.details }) }
  return { code: 'UNKNOWN', message: String((error as Error)?.message ?? error) }
}

/** A job as the API shows it. */
export function toJob(record: InferenceJobRecord): InferenceJob {
  const result = record.result as JobResult | null
  return {
    id: record.id,
    status: record.status,
    attempts: record.attempts,
    ...(result && { facts: result.facts, results: result.results, rejected: result.rejected }),
    ...(record.lastError !== null && record.lastError !== undefined && { error: record.lastError as InferenceJob['error'] }),
    ...(record.status === 'pending' && { nextAttemptAt: new Date(record.nextAttemptAt).toISOString() }),
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  }
}
