import { createEmbedder, type Embedder, noopLogger, type Reranker } from '@agentmem/embeddings'
import { z } from 'zod'
import { Calls } from './calls.js'
import { decodeCursor, encodeCursor, fingerprint, queryFingerprint } from './cursor.js'
import { addOps, checkText, type Draft, itemError, messageTexts } from './drafts.js'
import { embed } from './embed.js'
import { type Engine, lead, loadManifest, newWriter, replicaEngine, schemaVersion } from './engine.js'
import { invalidInput, MemoryError, MemoryErrorCode } from './errors.js'
import { parseFilters } from './filters.js'
import { type InferenceJob, type InferResult, toJob } from './inference/inference.js'
import type { LlmUsage } from './inference/llm-client.js'
import { toItem, withScore } from './items.js'
import { checkMetadata } from './metadata.js'
import {
  type AddBatchItem,
  type AddOptions,
  addBatchItemSchema,
  addOptionsSchema,
  type CountOptions,
  countOptionsSchema,
  type DeleteOptions,
  deleteOptionsSchema,
  type ImportItem,
  importItemSchema,
  type JobListOptions,
  jobListOptionsSchema,
  type ListOptions,
  listOptionsSchema,
  type MemoryOpenOptions,
  type Message,
  memoryIdSchema,
  memoryOpenOptionsSchema,
  parseWith,
  type ScopeIds,
  type SearchOptions,
  scopeSchema,
  searchOptionsSchema,
  tenantIdSchema,
  type UpdateOptions,
  updateOptionsSchema,
} from './options.js'
import { type ForwardedAnswer, type ForwardedMethod, forwardedCallSchema, notLeading, Replication, scopeOfIds } from './replication.js'
import { loopTurn } from './search/loop-share.js'
import { rerankDepth, rerankHits } from './search/rerank.js'
import { ResidentCache, type ResidentCacheStats } from './search/resident-cache.js'
import type { ResidentScope } from './search/resident-scope.js'
import { SearchThread } from './search/search-thread.js'
import { type SearchHit, type SearchRequest, searchMemories } from './search/searcher.js'
import { openStores } from './store/open-stores.js'
import type { ScopeFilter, StoredMemory } from './store/types.js'
import { storable } from './text.js'
import type { AddResult, HistoryEntry, MemoryItem, ReembedProgress, SearchResult } from './types.js'
import type { WriteOp } from './writer.js'

/**
 * Long-term memory for agents: scoped add / search / list / update / delete / history.
 * Text, vectors and scope columns live in LanceDB; history, the manifest and the write journal
 * in SQLite. Every call is confined to this instance's tenant.
 */
export class Memory implements AsyncDisposable {
  /** The view a leader runs one forwarded call on (serveForwarded), which counts it already. */
  private forwarded = false

  private constructor(
    private readonly engine: Engine,
    readonly tenantId: string,
  ) {}

  static async open(options: MemoryOpenOptions): Promise<Memory> {
    const config = parseWith(memoryOpenOptionsSchema, options, 'Memory.open options')
    const logger = config.logger ?? noopLogger
    const stores = await openStores(config)
    const { metadata, provider } = stores
    const cleanup: Array<() => unknown> = [() => stores.close()]
    try {
      const replication =
        stores.cluster &&
        new Replication(
          stores.cluster,
          replicaEngine(() => engine),
          config.replication,
        )
      // Replicas lead through Replication (after open, once others can reach them); a process
      // opened without replication options leads at once or not at all.
      const leading = !replication || (!config.replication && (await replication.tryLead()))
      if (!leading && !config.replication) {
        throw new MemoryError(
          MemoryErrorCode.Locked,
          'This store is open in another process; one process at a time unless every process opens it with `replication` (see docs/architecture.md, "Replicas")',
        )
      }
      const embedder = config.embedder ?? (await createEmbedder({ logger }))
      if (!config.embedder) cleanup.push(() => embedder.close())
      // Replicas opening a new store together would race to create its table.
      const init = async () => {
        const manifest = await loadManifest(metadata, embedder)
        return provider.open(manifest.vectorTable, manifest.dimensions)
      }
      const vectors = await (stores.cluster ? stores.cluster.exclusively(init) : init())
      cleanup.push(() => vectors.close())
      const searchThread = config.resident.searchThread && config.resident.budgetBytes > 0 ? new SearchThread(logger) : undefined
      if (searchThread) cleanup.push(() => searchThread.close())
      const engine: Engine = {
        config,
        logger,
        embedder,
        ownsEmbedder: !config.embedder,
        provider,
        vectors,
        metadata,
        writer: newWriter(vectors, metadata, config, logger, replication),
        cache: new ResidentCache(
          {
            vectors: () => engine.vectors,
            // A follower's writer holds nothing: the leader's unapplied groups are the replication's.
            pending: () => [...engine.writer.pendingRows(), ...(replication?.commits.rows() ?? [])],
            exclusive: (task) => engine.writer.exclusive(() => (replication ? replication.serially(task) : task())),
            writer: replication ? undefined : { readAlone: (task) => engine.writer.readAlone(task), unapplied: () => engine.writer.unappliedImages() },
          },
          {
            budgetBytes: config.resident.budgetBytes,
            maxScopeRows: config.resident.maxScopeRows,
            logger,
            onChange: searchThread && ((change) => searchThread.tell(change)),
          },
        ),
        searchThread,
        searchesUnderWay: 0,
        inference: undefined,
        replication,
        closeStores: () => stores.close(),
        closed: false,
        calls: new Calls(),
      }
      engine.writer.attach(engine.cache)
      // Runs before the vectors close (cleanups run last first): lead's key scan reads them.
      cleanup.push(() => engine.writer.stopKeyScan())
      if (leading) await lead(engine)
      await replication?.start()
      return new Memory(engine, config.tenantId)
    } catch (error) {
      for (const close of cleanup.reverse()) await close()
      throw error
    }
  }

  /** The same store seen by another tenant; shares connections and the writer. */
  withTenant(tenantId: string): Memory {
    return new Memory(this.engine, parseWith(tenantIdSchema, tenantId, 'tenantId', MemoryErrorCode.InvalidInput))
  }

  get embedder(): Embedder {
    return this.engine.embedder
  }

  /** The cross-encoder `search(..., { rerank })` uses, if the Memory was opened with one. */
  get reranker(): Reranker | undefined {
    return this.engine.config.reranker
  }

  /** True when an LLM is configured, so `add(..., { infer: true })` works. */
  get inferenceEnabled(): boolean {
    return this.engine.inference !== undefined
  }

  /** Running totals of LLM calls, retries, failures and tokens (undefined without an LLM). */
  get llmUsage(): LlmUsage | undefined {
    return this.engine.inference?.usage
  }

  /**
   * Stores a text, or each message of a conversation, as memories. Exact duplicates within the
   * same scope are not stored twice: the existing memory answers, with event UPDATE when the add
   * brings metadata keys or values it lacked (merged into its metadata), NONE otherwise.
   *
   * With `infer: true` an LLM extracts facts and reconciles them with the scope's memories (ADD,
   * UPDATE, SUPERSEDE of a contradicted memory, NONE), applied as one write. `job` says how it
   * went: `done`; `pending` when the LLM failed (the input is stored raw, in `results`, and
   * retried in the background); `queued` with `async: true`. Follow it with `inferenceJob(id)`.
   */
  async add(input: string | Message[], options: AddOptions): Promise<{ results: InferResult[]; job?: InferenceJob }> {
    using _call = this.call()
    const remote = await this.onLeader('add', [input, options], () => [scopeOfIds(this.tenantId, options)])
    if (remote) return remote.result as { results: InferResult[]; job?: InferenceJob }
    const parsed = parseWith(addOptionsSchema, options, 'add options')
    if (parsed.infer) return await this.inferAdd(input, parsed)
    if (parsed.async || parsed.timestamp !== undefined || parsed.instructions !== undefined || parsed.memoryType !== 'semantic') {
      throw invalidInput('async, timestamp, instructions and memoryType apply only with infer: true')
    }
    const ops = await this.prepareAdds([{ ...parsed, infer: false, messages: input }])
    return { results: (await this.engine.writer.submit(ops)) as AddResult[] }
  }

  /**
   * An inference job of this tenant (from `add(..., { infer: true })`), or null. Jobs are read from
   * the metadata store, so they show on a replica that does not run them, and without an LLM.
   */
  async inferenceJob(id: string): Promise<InferenceJob | null> {
    using _call = this.call()
    const record = await this.engine.metadata.getJob(this.tenantId, parseId(id).toLowerCase())
    return record ? toJob(record) : null
  }

  /**
   * This tenant's inference jobs newest first, `limit` at a time, only those in `status` if given;
   * pass `nextCursor` back for the next page until it is null. By creation rather than last update,
   * so a job retried while someone pages does not move between pages (skipped or shown twice).
   */
  async inferenceJobs(options: JobListOptions = {}): Promise<{ results: InferenceJob[]; nextCursor: string | null }> {
    using _call = this.call()
    const opts = parseWith(jobListOptionsSchema, options, 'inferenceJobs options')
    const query = fingerprint(['inferenceJobs', this.tenantId, opts.status ?? null])
    const beforeId = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, query, 'inferenceJobs for this status')
    const page = await this.engine.metadata.listJobs(this.tenantId, { status: opts.status, beforeId, limit: opts.limit + 1 })
    const results = page.slice(0, opts.limit).map(toJob)
    const last = results.at(-1)
    return { results, nextCursor: page.length > opts.limit && last ? encodeCursor(last.id, query) : null }
  }

  /** Adds many items in one group commit: all stored, or none. Results carry the item `index`. */
  async addBatch(items: AddBatchItem[]): Promise<{ results: Array<AddResult & { index: number }> }> {
    using _call = this.call()
    const remote = await this.onLeader('addBatch', [items], () => items.map((item) => scopeOfIds(this.tenantId, item)))
    if (remote) return remote.result as { results: Array<AddResult & { index: number }> }
    const parsed = parseWith(z.array(addBatchItemSchema).min(1).max(this.engine.config.maxBatchItems), items, 'addBatch items')
    const ops = await this.prepareAdds(parsed, true)
    const indexes = ops.map((op) => (op as WriteOp & { index: number }).index)
    const results = (await this.engine.writer.submit(ops)) as AddResult[]
    return { results: results.map((r, i) => ({ ...r, index: indexes[i] as number })) }
  }

  async search(query: string, options: SearchOptions): Promise<{ results: SearchResult[] }> {
    // Counted before the loop's turn: a search made before close() finishes, as every call does.
    using _call = this.call()
    const turn = loopTurn()
    if (turn) await turn
    const opts = parseWith(searchOptionsSchema, options, 'search options')
    if (typeof query !== 'string' || query.trim().length === 0) throw invalidInput('query must be a non-empty string')
    if (query.length > this.engine.config.maxTextLength)
      throw invalidInput(`query is longer than ${this.engine.config.maxTextLength} UTF-16 code units (an emoji counts 2)`)
    const { engine } = this
    const depth = rerankDepth(opts.rerank, engine.config.reranker, opts.topK)
    const started = performance.now()
    const request: SearchRequest = {
      query,
      scope: { ...this.requireScope(opts, 'search'), currentOnly: !opts.includeSuperseded },
      filter: parseFilters(opts.filters),
      mode: opts.mode,
      topK: Math.max(opts.topK, depth),
      threshold: opts.threshold,
      fillerWeight: engine.config.fillerWeight,
      feedbackWeight: engine.config.feedbackWeight,
      contextWeight: engine.config.contextWeight,
      signal: opts.signal,
    }
    engine.searchesUnderWay++
    let hits: SearchHit[]
    try {
      hits =
        (engine.searchThread && (await this.searchOnThread(engine.searchThread, request))) ??
        (await searchMemories(
          {
            embedder: engine.embedder,
            vectors: engine.vectors,
            cache: engine.cache,
            settled: (scope) => this.settled(scope),
            loadsRatherThanWaits: (scope) => this.loadsRatherThanWaits(scope),
            healthy: () => engine.writer.healthy(),
          },
          request,
        ))
    } finally {
      engine.searchesUnderWay--
    }
    const ranked = engine.config.reranker && depth > 0 ? await rerankHits(engine.config.reranker, query, hits, opts.topK, opts.signal) : hits
    const results = ranked.map((h) => withScore(h.memory, h.score, opts.explain ? h.explain : undefined, h.rerankScore))
    engine.logger.debug('memory.search', { mode: opts.mode, k: opts.topK, results: results.length, ms: Math.round(performance.now() - started) })
    return { results }
  }

  /**
   * The search thread's hits (search/search-thread.ts), or undefined when this thread searches: a
   * search alone is fastest here, with no hand-over; with others under way, or this thread busy
   * (a loaded server), the thread takes what it can of those whose scope is resident and holds at
   * least `resident.searchThreadMinRows` memories (and, but for vector search, whose tenant's statistics are
   * counted: the thread's mirror holds them too). The query is embedded here, once: a search the
   * thread gives back keeps its vector.
   */
  private async searchOnThread(thread: SearchThread, request: SearchRequest): Promise<SearchHit[] | undefined> {
    const { engine } = this
    if (!thread.free || (engine.searchesUnderWay < 2 && !thread.mainBusy) || request.signal) return undefined
    const resident = engine.cache.resident(request.scope)
    if (
      !resident ||
      resident.rows.size < engine.config.resident.searchThreadMinRows ||
      (request.mode !== 'vector' && !engine.cache.countedStats(request.scope.tenantId))
    )
      return undefined
    engine.writer.healthy()
    if (request.mode !== 'keyword') request.vector = (await embed(engine.embedder, [request.query], { kind: 'query' }))[0] as Float32Array
    // Others may have taken its places meanwhile.
    if (!thread.free) return undefined
    const { signal: _none, ...search } = request
    const hits = await thread.search(search)
    if (hits) engine.cache.countHit()
    return hits
  }

  /**
   * What the engine holds and does: the resident index's memory use against its budget, its
   * hits, loads and evictions, writes acknowledged but not yet in the vector store, and whether
   * this process writes the store (`single`: it alone opens it; `leader` / `follower`: replicas),
   * and whether the writer's filter of the store's duplicate keys is filled (adds to a scope not
   * resident skip the store's duplicate lookup for a new text) or still being filled at open.
   */
  stats(): {
    resident: ResidentCacheStats
    pendingWrites: number
    role: 'single' | 'leader' | 'follower'
    keyFilter: 'ready' | 'scanning' | 'none'
    /** Searches the search thread answered, gave back (scope or statistics not held) or failed (`resident.searchThread`), and whether it runs. */
    searchThread: { state: 'running' | 'failed' | 'closed'; searches: number; declined: number; failed: number } | undefined
  } {
    this.checkOpen()
    const { replication } = this.engine
    const role = replication ? (replication.leading ? 'leader' : 'follower') : 'single'
    // A follower's are the leader's groups it heard of, not applied yet.
    const pendingWrites = this.engine.writer.pendingRows().length + (replication?.commits.rows().length ?? 0)
    const thread = this.engine.searchThread
    return {
      resident: this.engine.cache.usage(),
      pendingWrites,
      role,
      keyFilter: this.engine.writer.keyFilterState,
      searchThread: thread ? { state: thread.state, searches: thread.searches, declined: thread.declined, failed: thread.failed } : undefined,
    }
  }

  /**
   * Loads a scope of this tenant into the resident index now (an agent's session start), so that
   * its searches need no store read from the first one; resolves when it is resident, or at once
   * when the index is off or the scope is over `resident.maxScopeRows`.
   */
  async warm(scope: ScopeIds): Promise<void> {
    using _call = this.call()
    const ids = this.requireScope(parseWith(scopeSchema, scope, 'warm scope'), 'warm')
    await this.engine.cache.scope(ids, { wait: true })
  }

  /**
   * Forgets what this process holds in memory about a scope of this tenant (the whole tenant when
   * no id is given) and reads the store's newest version: the seam for writes made by another
   * process on the same store. The next search reloads the scope.
   */
  async invalidate(scope: ScopeIds = {}): Promise<void> {
    using _call = this.call()
    const ids = parseWith(scopeSchema, scope, 'invalidate scope')
    await this.engine.vectors.refresh()
    this.engine.cache.invalidate({ tenantId: this.tenantId, userId: ids.userId, agentId: ids.agentId, runId: ids.runId })
  }

  /** One memory of this tenant, or null. */
  async get(id: string): Promise<MemoryItem | null> {
    using _call = this.call()
    return await this.read(await this.storedId(id))
  }

  /**
   * The id a memory is stored under. UUIDs are case-insensitive and memories are stored under
   * lowercase ids, so an id given in uppercase finds its memory; one a store kept in uppercase
   * (an import before ids were lowercased) is found as given.
   */
  private async storedId(id: unknown): Promise<string> {
    const given = parseId(id)
    const lower = given.toLowerCase()
    if (given === lower) return lower
    const holds = async (memoryId: string) => (await this.read(memoryId)) !== null || (await this.engine.metadata.hasHistory(this.tenantId, memoryId))
    return (await holds(lower)) || !(await holds(given)) ? lower : given
  }

  private async read(memoryId: string): Promise<MemoryItem | null> {
    // A write not yet in LanceDB answers from the writer: no wait for the apply.
    this.engine.writer.healthy()
    let pending = this.engine.writer.pendingRow(memoryId)
    if (pending === undefined) pending = this.engine.replication?.commits.row(memoryId) // null (deleted) must not fall through
    if (pending !== undefined) return pending && pending.tenantId === this.tenantId ? toItem(pending) : null
    // A resident scope holding it has every acknowledged write laid over it: no store query.
    const resident = this.engine.cache.row(this.tenantId, memoryId)
    if (resident) return toItem(resident)
    const [memory] = await this.engine.vectors.getByIds(this.tenantId, [memoryId])
    return memory ? toItem(memory) : null
  }

  /** Lists a scope in creation order, `limit` at a time; pass `nextCursor` back for the next page until it is null. */
  async getAll(options: ListOptions): Promise<{ results: MemoryItem[]; nextCursor: string | null }> {
    using _call = this.call()
    const opts = parseWith(listOptionsSchema, options, 'getAll options')
    const scope = { ...this.requireScope(opts, 'getAll'), currentOnly: !opts.includeSuperseded }
    const filter = parseFilters(opts.filters)
    const query = queryFingerprint(scope, filter)
    const afterId = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, query, 'getAll for this scope and filter')
    // A resident scope holds every row with acknowledged writes laid over the store (as for search): no wait for their apply.
    const resident = await this.residentScope(scope)
    const page = resident
      ? resident.list({ filter, currentOnly: scope.currentOnly }, afterId, opts.limit + 1)
      : await this.readable(scope).then(() => this.engine.vectors.list(scope, filter, afterId, opts.limit + 1))
    const results = page.slice(0, opts.limit).map(toItem)
    const last = results.at(-1)
    return { results, nextCursor: page.length > opts.limit && last ? encodeCursor(last.id, query) : null }
  }

  /** How many memories a scope (and filter) holds. */
  async count(options: CountOptions): Promise<number> {
    using _call = this.call()
    const opts = parseWith(countOptionsSchema, options, 'count options')
    const scope = { ...this.requireScope(opts, 'count'), currentOnly: !opts.includeSuperseded }
    const filter = parseFilters(opts.filters)
    const resident = await this.residentScope(scope)
    if (resident) return resident.count({ filter, currentOnly: scope.currentOnly })
    await this.readable(scope)
    return await this.engine.vectors.count(scope, filter)
  }

  /**
   * The scope's index for a list or a count, when it is resident (once the writer is known
   * healthy). One that is not is loaded only where the store read could wait long
   * (`loadsRatherThanWaits`), as for a search: a list is one store query, cheaper than a load.
   */
  private async residentScope(scope: ScopeFilter): Promise<ResidentScope | undefined> {
    const { cache, writer } = this.engine
    const resident = cache.resident(scope) ?? (this.loadsRatherThanWaits(scope) ? await cache.scope(scope, { wait: true, admit: true }) : undefined)
    if (resident) writer.healthy()
    return resident
  }

  /** Whether a store read of the scope could wait long: writes queued behind a maintenance or a statistics scan, or a leader's groups not applied here yet. */
  private loadsRatherThanWaits(scope: ScopeFilter): boolean {
    return this.engine.writer.settlesLate || this.engine.replication?.commits.touches(scope) === true
  }

  /** Memories in the whole store, every tenant (for metrics). */
  async size(): Promise<number> {
    using _call = this.call()
    await this.readable()
    return await this.engine.vectors.countRows()
  }

  /**
   * Every user, agent and run id of this tenant with its number of memories: users, then agents,
   * then runs, each by id, so that pages of it (the Mem0 route's) hold still between calls.
   */
  async entities(): Promise<Array<{ type: 'user' | 'agent' | 'run'; id: string; count: number }>> {
    using _call = this.call()
    await this.readable()
    const order = { user: 0, agent: 1, run: 2 }
    return (await this.engine.vectors.scopeCounts(this.tenantId)).sort((a, b) => order[a.type] - order[b.type] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /** Every memory of this tenant in creation order, `batchSize` at a time; `after` resumes after that id. */
  async *exportAll(options: { after?: string; batchSize?: number } = {}): AsyncIterable<MemoryItem[]> {
    let afterId = options.after === undefined ? undefined : parseId(options.after)
    const batchSize = options.batchSize ?? 1000
    for (;;) {
      // Each batch is a call of its own: close() waits for the read under way, not for the reader.
      const batch = await this.exportBatch(afterId, batchSize)
      if (batch.length === 0) return
      yield batch.map(toItem)
      afterId = batch.at(-1)?.id
    }
  }

  private async exportBatch(afterId: string | undefined, batchSize: number): Promise<StoredMemory[]> {
    using _call = this.call()
    await this.readable()
    return await this.engine.vectors.list({ tenantId: this.tenantId }, undefined, afterId, batchSize)
  }

  /**
   * Adds exported memories keeping their ids and times, in one group commit. Idempotent: an id
   * already in this tenant is NONE; an item without an id is NONE where its scope holds its text.
   * Ids are unique across the store, so an id another tenant holds gets a new one, and such an
   * item is matched by its text too (how a re-run finds it; so two such items with one text in one
   * scope become one memory). `remapped` lists every item whose id is not the id it has now, with
   * its event (ADD: a new id, or the id in lowercase; NONE: its text was already stored under
   * another id). Given an `updatedAt` alone, it is the creation time too.
   */
  async import(items: ImportItem[]): Promise<{ results: AddResult[]; remapped: Array<{ from: string; to: string; event: AddResult['event'] }> }> {
    using _call = this.call()
    const remote = await this.onLeader('import', [items], () => items.map((item) => scopeOfIds(this.tenantId, item)))
    if (remote) return remote.result as Awaited<ReturnType<Memory['import']>>
    const parsed = parseWith(z.array(importItemSchema).min(1).max(this.engine.config.maxBatchItems), items, 'import items', MemoryErrorCode.InvalidInput)
    const drafts = parsed.map((item, index) => {
      const createdAt = item.createdAt ?? item.updatedAt
      try {
        return {
          index,
          scope: this.requireScope(item, 'import'),
          text: checkText(item.memory, this.engine.config.maxTextLength),
          role: item.role ?? null,
          metadata: checkMetadata(item.metadata ?? {}),
          actor: null,
          ...(item.id !== undefined && { id: item.id }),
          ...(createdAt !== undefined && { createdAt: Date.parse(createdAt) }),
          ...(item.updatedAt !== undefined && { updatedAt: Date.parse(item.updatedAt) }),
          ...(item.validTo && { validTo: Date.parse(item.validTo) }),
        }
      } catch (error) {
        // Named by its item, as a batch add names one, so a caller can find the line it read it from.
        throw itemError(error, index)
      }
    })
    const ops = (await addOps(this.engine.embedder, drafts)).map((op, i) => ({
      ...op,
      keepId: parsed[i]?.id === undefined ? ('byIdOrText' as const) : ('byId' as const),
    }))
    const results = (await this.engine.writer.submit(ops)) as AddResult[]
    // From the id as given: one in uppercase is stored in lowercase, and listed too.
    const remapped = results.flatMap(({ id, event }, i) => {
      const from = items[i]?.id
      return from !== undefined && from !== id ? [{ from, to: id, event }] : []
    })
    return { results, remapped }
  }

  async update(id: string, options: UpdateOptions): Promise<MemoryItem> {
    using _call = this.call()
    const remote = await this.onLeader('update', [id, options], (item) => [scopeOfIds(this.tenantId, item as MemoryItem)])
    if (remote) return remote.result as MemoryItem
    const memoryId = await this.storedId(id)
    const opts = parseWith(updateOptionsSchema, options, 'update options')
    const metadata = opts.metadata === undefined ? undefined : checkMetadata(opts.metadata)
    let text: { text: string; vector: Float32Array } | undefined
    if (opts.text !== undefined) {
      const clean = checkText(opts.text, this.engine.config.maxTextLength)
      const [vector] = await embed(this.engine.embedder, [clean])
      text = { text: clean, vector: vector as Float32Array }
    }
    const op: WriteOp = {
      kind: 'update',
      tenantId: this.tenantId,
      id: memoryId,
      actor: opts.actor ?? null,
      ...(text && { text }),
      ...(metadata && { metadata }),
    }
    const [result] = await this.engine.writer.submit([op])
    if (result instanceof MemoryError) throw result
    return toItem(result as StoredMemory)
  }

  /**
   * Deletes a memory; history keeps the audit trail. `purge` also erases its texts and metadata
   * from history, and works on a memory deleted or superseded earlier too; it returns once no file
   * of the store holds them any more.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    using _call = this.call()
    if (!(await this.writesHere())) {
      const memory = await this.read(await this.storedId(id))
      await this.onLeader('delete', [id, options], () => (memory ? [scopeOfIds(this.tenantId, memory)] : []))
      return
    }
    const opts = parseWith(deleteOptionsSchema, options, 'delete options')
    const [result] = await this.engine.writer.submit([
      { kind: 'delete', tenantId: this.tenantId, id: await this.storedId(id), purge: opts.purge, actor: opts.actor ?? null },
    ])
    if (result instanceof MemoryError) throw result
    if (opts.purge) await this.engine.writer.erase()
  }

  /**
   * Deletes every memory of a user / agent / run (at least one is required). `purge` also erases
   * the texts of every memory of that scope from history, those deleted earlier included.
   */
  async deleteAll(options: ScopeIds & DeleteOptions): Promise<{ deleted: number }> {
    using _call = this.call()
    const remote = await this.onLeader('deleteAll', [options], () => [scopeOfIds(this.tenantId, options)])
    if (remote) return remote.result as { deleted: number }
    const { purge, actor, ...scopeIds } = options ?? {}
    const opts = parseWith(deleteOptionsSchema, { purge, actor }, 'deleteAll options')
    const scope = this.requireScope(parseWith(scopeSchema, scopeIds, 'deleteAll scope'), 'deleteAll')
    const [result] = await this.engine.writer.submit([{ kind: 'deleteMatching', scope, purge: opts.purge, actor: opts.actor ?? null }])
    if (opts.purge) await this.engine.writer.erase()
    return result as { deleted: number }
  }

  async history(id: string): Promise<HistoryEntry[]> {
    using _call = this.call()
    return await this.engine.metadata.history(this.tenantId, await this.storedId(id))
  }

  /**
   * Erases every memory of this tenant and its history; answers how many memories it erased (null
   * when a leader of an earlier version did it, which answered nothing). Other tenants are untouched.
   */
  async reset(): Promise<{ deleted: number | null }> {
    using _call = this.call()
    const remote = await this.onLeader('reset', [], () => [{ tenantId: this.tenantId }])
    if (remote) return (remote.result as { deleted: number } | null) ?? { deleted: null }
    const [result] = await this.engine.writer.submit([{ kind: 'deleteMatching', scope: { tenantId: this.tenantId }, purge: true, actor: null }])
    await this.engine.writer.exclusive(() => this.engine.metadata.deleteHistory(this.tenantId))
    await this.engine.writer.erase()
    return result as { deleted: number }
  }

  /**
   * Moves every memory of every tenant to a new embedding model: fills a new table, then switches
   * the manifest to it in one step. Writes wait meanwhile; a crash before the switch leaves the old
   * table in use. The Memory keeps using `embedder` afterwards (and closes the old one if it owned it).
   */
  async reembed(embedder: Embedder, options: { onProgress?: (progress: ReembedProgress) => void; batchSize?: number } = {}): Promise<void> {
    using _call = this.call()
    if (!(await this.writesHere()))
      throw new MemoryError(MemoryErrorCode.Unavailable, 'Re-embedding runs on the replica that leads the store; stop the others first')
    const engine = this.engine
    const batchSize = options.batchSize ?? 512
    await engine.writer.exclusive(async () => {
      const total = await engine.vectors.countRows()
      const table = `memories_${Date.now().toString(36)}`
      const next = await engine.provider.open(table, embedder.dimensions)
      let done = 0
      try {
        options.onProgress?.({ done, total })
        for await (const batch of engine.vectors.scan(batchSize)) {
          const vectors = await embed(
            embedder,
            batch.map((m) => m.text),
          )
          await next.apply({ inserts: batch.map((m, i) => ({ ...m, vector: vectors[i] as Float32Array })), updates: [], deletes: [] })
          done += batch.length
          options.onProgress?.({ done, total })
        }
        if ((await next.countRows()) !== total) throw new MemoryError(MemoryErrorCode.StorageFailed, 'Re-embedding lost rows; the old table stays in use')
        await next.maintain({ purge: false, annIndexThreshold: engine.config.annIndexThreshold })
      } catch (error) {
        next.close()
        await engine.provider.drop(table)
        throw error
      }
      const old = engine.vectors
      await engine.metadata.setManifest({ schemaVersion, embeddingModel: embedder.modelId, dimensions: embedder.dimensions, vectorTable: table })
      engine.vectors = next
      engine.writer.replaceVectorStore(next)
      engine.cache.clear()
      await engine.writer.stopKeyScan()
      old.close()
      // The keys are the rows', not the vectors': a filled filter stays right; a scan cut short starts again.
      if (engine.writer.keyFilterState !== 'ready') engine.writer.learnStoredKeys()
      for (const name of await engine.provider.tableNames()) if (name !== table) await engine.provider.drop(name)
      if (engine.ownsEmbedder) await engine.embedder.close()
      engine.embedder = embedder
      engine.ownsEmbedder = false
      engine.logger.info('memory.reembedded', { model: embedder.modelId, dimensions: embedder.dimensions, rows: done })
    })
  }

  /** Compacts and refreshes indexes now (it also happens on its own every `maintenanceEveryRows` writes). */
  async optimize(): Promise<void> {
    using _call = this.call()
    if (await this.onLeader('optimize', [], () => [])) return
    await this.engine.writer.exclusive(() => this.engine.writer.maintain())
  }

  /**
   * Refuses new calls (MEMORY_CLOSED), lets the calls made before it finish and queued writes
   * land, then releases storage (and the embedder, if this Memory created it). LLM calls in flight
   * are aborted instead: an `infer` add waiting for one fails (MEMORY_CLOSED), and `async` jobs
   * resume at the next open.
   */
  async close(): Promise<void> {
    const engine = this.engine
    if (engine.closed) return
    engine.closed = true
    // No more checks, so no promotion while calls finish: the leader's notices still arrive.
    engine.replication?.stop()
    await engine.inference?.stop()
    // The writer and the stores are still open for them.
    await engine.calls.settled()
    await engine.searchThread?.close()
    await engine.writer.exclusive(async () => {
      engine.writer.stop()
      await engine.writer.stopKeyScan()
      engine.vectors.close()
      await engine.closeStores()
      if (engine.ownsEmbedder) await engine.embedder.close()
    })
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** Whether this process writes the store (false on a follower replica). */
  private async writesHere(): Promise<boolean> {
    return this.engine.replication ? this.engine.replication.settledRole() : true
  }

  /**
   * On a follower replica, runs the call on the leader and returns its result, once this process
   * reads what it wrote (`touched`: the scopes it changed, from the result). Undefined here on the leader.
   */
  private async onLeader(method: ForwardedMethod, args: unknown[], touched: (result: unknown) => ScopeFilter[]): Promise<{ result: unknown } | undefined> {
    const replication = this.engine.replication
    if (!replication || (await replication.settledRole())) return undefined
    return { result: await replication.forward({ tenantId: this.tenantId, method, args }, touched) }
  }

  /**
   * Runs a call a follower forwarded (the server's internal route, authenticated with
   * `replicationSecret`), as the tenant it names. Its result may name rows of groups other than
   * its own (a duplicate it found was perhaps written a moment ago through another replica), so
   * the answer says which groups the follower must show. Answers at once when followers were told
   * them (committed notices: the follower waits for them, not for a LanceDB write that may queue
   * behind a maintenance); otherwise once everything is applied.
   */
  async serveForwarded(call: unknown): Promise<ForwardedAnswer> {
    using _call = this.call()
    const { tenantId, method, args } = parseWith(forwardedCallSchema, call, 'forwarded call', MemoryErrorCode.InvalidInput)
    if (!(await this.writesHere())) throw notLeading()
    const memory = this.withTenant(tenantId)
    // Counted here already: a close() that began meanwhile lets it finish, as any call made before it.
    memory.forwarded = true
    const { writer } = this.engine
    const before = writer.lastCommittedSeq
    const result = (await (memory[method] as (...a: unknown[]) => Promise<unknown>).apply(memory, args)) ?? null
    const seq = writer.lastCommittedSeq
    const oldestPending = writer.oldestPendingSeq
    const wroteNothing = seq === before
    // It wrote nothing and everything is in the store: the follower re-reads it.
    if (wroteNothing && oldestPending === undefined) return { result, applied: true }
    // What the result may name that the store may not hold yet: the call's own groups, or, when
    // it wrote nothing (a duplicate found), every unapplied group.
    const since = wroteNothing ? (oldestPending as number) - 1 : before
    if (await this.engine.replication?.toldSince(since)) return { result, since, seq, applied: false }
    await writer.settled()
    return { result, seq, applied: true }
  }

  /** The secret a forwarded call must carry (undefined unless the store is on PostgreSQL). */
  get replicationSecret(): string | undefined {
    return this.engine.replication?.secret
  }

  /** Where other replicas reach this process (its server's URL, known once it listens). */
  async advertise(address: string): Promise<void> {
    this.checkOpen()
    await this.engine.replication?.advertise(address)
  }

  /** Reads see every acknowledged write: they wait for its LanceDB apply if it is still running. */
  private async readable(scope: ScopeFilter = { tenantId: this.tenantId }): Promise<void> {
    await this.settled(scope)
  }

  /**
   * Resolves once the store holds every acknowledged write of `scope`: this process's own (it
   * leads), or those the leader journaled and told this follower of (replica-notice.ts).
   */
  private async settled(scope: ScopeFilter): Promise<void> {
    await this.engine.writer.settled()
    await this.engine.replication?.commits.caughtUp(scope)
  }

  private checkOpen(): void {
    if (this.engine.closed) throw new MemoryError(MemoryErrorCode.Closed, 'This Memory is closed')
  }

  /**
   * A public call: refused once close() began, and close() waits for it to return (calls.ts). A
   * counted method returns `await`ed results: `return promise` would end its count (the `using`
   * block) before the promise settles.
   */
  private call(): Disposable {
    if (!this.forwarded) this.checkOpen()
    return this.engine.calls.enter()
  }

  private requireScope(ids: ScopeIds, operation: string): ScopeFilter {
    if (ids.userId === undefined && ids.agentId === undefined && ids.runId === undefined) {
      throw new MemoryError(MemoryErrorCode.ScopeRequired, `${operation} needs at least one of userId, agentId or runId`)
    }
    return { tenantId: this.tenantId, userId: ids.userId, agentId: ids.agentId, runId: ids.runId }
  }

  private async inferAdd(input: string | Message[], options: z.output<typeof addOptionsSchema>): Promise<{ results: InferResult[]; job: InferenceJob }> {
    const inference = this.engine.inference
    if (!inference) {
      throw new MemoryError(
        MemoryErrorCode.InferenceNotConfigured,
        'infer: true needs an LLM, and none is configured; pass infer: false to store the text as given',
      )
    }
    const scope = this.requireScope(options, 'add')
    if (options.memoryType === 'procedural' && options.agentId === undefined) throw invalidInput("memoryType 'procedural' needs an agentId")
    const messages = messageTexts(input, 'user', this.engine.config.maxTextLength).map((m) => ({ role: m.role as string, content: m.text }))
    // Kept in the job's input (PostgreSQL jsonb): made storable as the messages are.
    const instructions = storable([this.engine.config.inference.instructions, options.instructions].filter(Boolean).join('\n')) || undefined
    const timestamp = options.timestamp === undefined ? Date.now() : typeof options.timestamp === 'number' ? options.timestamp : Date.parse(options.timestamp)
    return inference.add(
      this.tenantId,
      {
        scope,
        messages,
        metadata: checkMetadata(options.metadata ?? {}),
        actor: options.actor ?? null,
        timestamp,
        instructions,
        memoryType: options.memoryType,
      },
      { background: options.async },
    )
  }

  /**
   * Validates every item, embeds all texts in one call, and builds the add ops. Nothing is written
   * here. `batch`: an item's error names the item (`items[i]: ...`, `details.index`), so a caller can find it.
   */
  private async prepareAdds(items: Array<z.output<typeof addBatchItemSchema>>, batch = false): Promise<Array<WriteOp & { index: number }>> {
    const drafts: Draft[] = []
    items.forEach((item, index) => {
      try {
        const scope = this.requireScope(item, 'add')
        const metadata = checkMetadata(item.metadata ?? {})
        for (const message of messageTexts(item.messages, null, this.engine.config.maxTextLength)) {
          drafts.push({ index, scope, text: message.text, role: message.role, metadata, actor: item.actor ?? null })
        }
      } catch (error) {
        throw batch ? itemError(error, index) : error
      }
    })
    if (drafts.length > this.engine.config.maxBatchItems) throw invalidInput(`more than ${this.engine.config.maxBatchItems} texts in one call`)
    return addOps(this.engine.embedder, drafts)
  }
}

function parseId(id: unknown): string {
  return parseWith(memoryIdSchema, id, 'memory id', MemoryErrorCode.InvalidInput)
}
