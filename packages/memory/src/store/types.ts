import type { FilterNode } from '../filters.js'
import type { ThreadRow } from '../search/context.js'
import type { HistoryEntry, Metadata } from '../types.js'

/**
 * The storage seams. The engine (memory.ts) talks only to these interfaces; LanceDB and SQLite live
 * behind them, so another vector store (LanceDB on object storage) or metadata store (PostgreSQL)
 * is a new implementation, not an engine change.
 */

/** One memory row as stored: scope columns, text, metadata and its vector. Times are epoch ms. */
export interface StoredMemory {
  id: string
  tenantId: string
  userId: string | null
  agentId: string | null
  runId: string | null
  role: string | null
  text: string
  /** Hash of tenant, scope and normalised text: the exact-duplicate key. */
  dedupKey: string
  metadata: Metadata
  createdAt: number
  updatedAt: number
  /** When a newer fact superseded this memory; null while it is current. */
  validTo: number | null
  vector: Float32Array
}

/** Which rows a read may see: always one tenant, optionally narrowed to a user, agent and/or run. */
export interface ScopeFilter {
  tenantId: string
  userId?: string | undefined
  agentId?: string | undefined
  runId?: string | undefined
  /** Only memories no newer fact superseded (searches and listings, unless asked otherwise). */
  currentOnly?: boolean | undefined
}

export interface ScoredMemory {
  memory: StoredMemory
  /** Vector search: cosine similarity. Keyword search: BM25. */
  score: number
  /** A keyword hit's cosine similarity, when the read path computed it beside the BM25 (the resident index's hybrid search). */
  similarity?: number | undefined
}

/** A row as a whole-scope read returns it: enough to rank it by keywords and to place it in its thread. */
export type ScopeRow = ThreadRow & Pick<StoredMemory, 'text'>

/** The net effect of one group commit. Applying it twice leaves the same state (journal replay). */
export interface StoreChange {
  inserts: StoredMemory[]
  updates: StoredMemory[]
  deletes: string[]
}

export interface ScopeCount {
  type: 'user' | 'agent' | 'run'
  id: string
  count: number
}

export interface VectorStore {
  readonly dimensions: number
  getByIds(tenantId: string, ids: readonly string[]): Promise<StoredMemory[]>
  /** The tenant of each of these ids that exists, whatever the tenant (ids are unique store-wide). */
  ownersOf(ids: readonly string[]): Promise<Map<string, string>>
  /**
   * Ids of live rows with these duplicate keys. `indexedOnly` reads only rows the dedup index
   * covers (no scan of rows written since the last index refresh; the writer tracks those).
   */
  findByDedupKeys(tenantId: string, keys: readonly string[], options?: { indexedOnly?: boolean }): Promise<Array<{ id: string; dedupKey: string }>>
  /** Rows the dedup index does not cover yet (written since the last index refresh). */
  unindexedRows(): Promise<number>
  /** Rows in id order after `afterId`; `limit` undefined means all. */
  list(scope: ScopeFilter, filter: FilterNode | undefined, afterId: string | undefined, limit: number | undefined): Promise<StoredMemory[]>
  vectorSearch(vector: Float32Array, scope: ScopeFilter, filter: FilterNode | undefined, k: number): Promise<ScoredMemory[]>
  /**
   * Ids and texts of rows matching the query's terms: the index's best `k` by the store's own
   * BM25, plus any rows it has not indexed yet (the caller ranks them, then reads the rows it keeps).
   */
  keywordMatches(query: string, scope: ScopeFilter, filter: FilterNode | undefined, k: number): Promise<Array<{ id: string; text: string }>>
  /** Where rows matching a scope and filter sit in their threads (search/context.ts): the rows of each given thread created within [from, to]. */
  threadRows(scope: ScopeFilter, filter: FilterNode | undefined, windows: ReadonlyArray<{ thread: ThreadRow; from: number; to: number }>): Promise<ThreadRow[]>
  /** Every row matching a scope and filter (at most `limit`): where it sits in its thread, and its text if asked. */
  scopeRows(scope: ScopeFilter, filter: FilterNode | undefined, limit: number, texts: true): Promise<ScopeRow[]>
  scopeRows(scope: ScopeFilter, filter: FilterNode | undefined, limit: number, texts: false): Promise<ThreadRow[]>
  /** Live rows matching a scope and filter. */
  count(scope: ScopeFilter, filter: FilterNode | undefined): Promise<number>
  /** How many rows each user / agent / run id of a tenant has. */
  scopeCounts(tenantId: string): Promise<ScopeCount[]>
  /** Applies a change. `replay` makes it idempotent against a partly applied earlier attempt. */
  apply(change: StoreChange, options?: { replay?: boolean }): Promise<void>
  /** Every row of every tenant in id order, in batches, from after `afterId` (re-embedding, migration). */
  scan(batchSize: number, afterId?: string): AsyncIterable<StoredMemory[]>
  /** The greatest id in the table (where a migration into it resumes). */
  lastId(): Promise<string | undefined>
  /** The texts of a tenant's rows, in batches (for keyword statistics). */
  scanTexts(tenantId: string): AsyncIterable<string[]>
  /** The duplicate keys of every row of every tenant, in batches (for the writer's KeyFilter). */
  scanDedupKeys(): AsyncIterable<string[]>
  /** Reads the newest version, with writes made by another process (reads otherwise keep to this process's own); returns its number. */
  refresh(): Promise<number>
  /** The number of the version this process reads (its own writes move it; see refresh). */
  version(): Promise<number>
  countRows(): Promise<number>
  /**
   * Compacts, refreshes indexes, builds the ANN index when due. `purge` leaves no deleted row's
   * bytes in any file: deleted rows are physically removed, text indexes rebuilt, old versions dropped now.
   */
  maintain(options: { purge: boolean; annIndexThreshold: number }): Promise<void>
  close(): void
}

/** Opens vector tables by name, so that a re-embed can fill a new table before switching to it. */
export interface VectorStoreProvider {
  open(table: string, dimensions: number): Promise<VectorStore>
  drop(table: string): Promise<void>
  tableNames(): Promise<string[]>
}

/** What the store was built with. Opening it with another embedder is refused. */
export interface Manifest {
  schemaVersion: number
  embeddingModel: string
  dimensions: number
  vectorTable: string
}

export interface HistoryRecord {
  tenantId: string
  memoryId: string
  /** The memory's scope, so that a scope purge also reaches memories deleted before it. */
  userId: string | null
  agentId: string | null
  runId: string | null
  event: 'ADD' | 'UPDATE' | 'DELETE' | 'SUPERSEDE'
  previousText: string | null
  newText: string | null
  metadata: Metadata | null
  actor: string | null
  createdAt: number
}

/** History a purge erases the texts and metadata of: these memories, and every memory of these scopes. */
export interface HistoryPurge {
  memories: Array<{ tenantId: string; id: string }>
  scopes: ScopeFilter[]
}

/** A history row exactly as stored, its id and purged flag included (what a migration copies). */
export interface StoredHistoryRow extends Omit<HistoryRecord, 'metadata'> {
  id: number
  metadata: unknown
  purged: boolean
}

/** Row counts and last ids of the metadata tables a migration copies. */
export interface MetadataTableStats {
  historyRows: number
  /** 0 when there is no history. */
  lastHistoryId: number
  jobRows: number
  lastJobId: string | undefined
}

export interface PendingChange {
  seq: number
  change: StoreChange
}

export type InferenceJobStatus = 'queued' | 'pending' | 'done' | 'failed'

/** A durable inference job (see sqlite-schema.ts inferenceJobs); `input` and `result` are JSON. */
export interface InferenceJobRecord {
  id: string
  tenantId: string
  status: InferenceJobStatus
  input: unknown
  attempts: number
  nextAttemptAt: number
  rawMemoryIds: string[] | null
  result: unknown
  lastError: unknown
  createdAt: number
  updatedAt: number
}

export interface JobPage {
  status?: InferenceJobStatus | undefined
  beforeId?: string | undefined
  limit: number
}

export interface MetadataStore {
  getManifest(): Promise<Manifest | undefined>
  setManifest(manifest: Manifest): Promise<void>
  /**
   * Makes a change durable before it touches the vector store: the journal entry and its history
   * events commit in one transaction; the history texts `purge` names are erased in it too.
   * Returns the journal sequence number.
   */
  beginChange(change: StoreChange, events: HistoryRecord[], purge: HistoryPurge): Promise<number>
  /** Whether this tenant has history for the memory id (a deleted memory is still purgeable). */
  hasHistory(tenantId: string, memoryId: string): Promise<boolean>
  /**
   * Leaves no deleted bytes in any file: rewrites the database without free pages and empties the
   * write-ahead log, whose old frames would otherwise still hold purged texts.
   */
  compactErased(): Promise<void>
  /**
   * Marks journal entries up to `seq` applied to the vector store. Their deletion rides along with
   * the next beginChange (or close), saving a synced commit per write; replaying them is harmless.
   */
  markApplied(seq: number): void
  /** Journal entries that were committed but may not have reached the vector store (crash recovery). */
  pendingChanges(): Promise<PendingChange[]>
  /** One journal entry, if not pruned yet (pruned: it is in the vector store). Followers read a bulk group's rows here. */
  journalChange(seq: number): Promise<StoreChange | undefined>
  history(tenantId: string, memoryId: string): Promise<HistoryEntry[]>
  /** Erases a tenant's history (reset), inference jobs included. */
  deleteHistory(tenantId: string): Promise<void>
  createJob(job: InferenceJobRecord): Promise<void>
  updateJob(id: string, change: Partial<Omit<InferenceJobRecord, 'id' | 'tenantId' | 'createdAt'>>): Promise<void>
  getJob(tenantId: string, id: string): Promise<InferenceJobRecord | undefined>
  /** A tenant's jobs newest first (ids are uuidv7, so by creation), of one status if given, those before `beforeId` only. */
  listJobs(tenantId: string, page: JobPage): Promise<InferenceJobRecord[]>
  /** Queued or pending jobs whose next attempt is due by `now`, oldest first. */
  dueJobs(now: number, limit: number): Promise<InferenceJobRecord[]>
  /** When the next queued or pending job is due, if any. */
  nextDueAt(): Promise<number | undefined>
  /** History rows with ids above `afterId`, in id order (a migration's raw read). */
  historyRows(afterId: number, limit: number): Promise<StoredHistoryRow[]>
  /** Writes history rows with their own ids in one transaction; a row already there is overwritten. */
  putHistoryRows(rows: StoredHistoryRow[]): Promise<void>
  /** Inference jobs with ids above `afterId`, in id order. */
  jobRows(afterId: string, limit: number): Promise<InferenceJobRecord[]>
  /** Writes jobs as they are in one transaction; a job already there is overwritten. */
  putJobs(jobs: InferenceJobRecord[]): Promise<void>
  tableStats(): Promise<MetadataTableStats>
  close(): Promise<void>
}
