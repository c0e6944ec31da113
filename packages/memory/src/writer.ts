import { isDeepStrictEqual } from 'node:util'
import type { Logger } from '@agentmem/embeddings'
import { uuidv7 } from 'uuidv7'
import { MemoryError, MemoryErrorCode, storageFailed } from './errors.js'
import { sortedKeys } from './metadata.js'
import { inScope } from './search/filter-match.js'
import { type ResidentCache, type RowImage, scopeKey } from './search/resident-cache.js'
import { KeyFilter } from './store/key-filter.js'
import type { HistoryPurge, HistoryRecord, MetadataStore, ScopeFilter, StoreChange, StoredMemory, VectorStore } from './store/types.js'
import { dedupKey } from './text.js'
import type { AddResult } from './types.js'

/** A write as the engine hands it to the writer; vectors are computed before (embedding is the slow part). */
export type WriteOp =
  /**
   * `keepId` (import): a memory already here is left as it is (NONE); an id taken by another
   * tenant gets a fresh one. `byId`: only a row with the memory's id is it (an export's lines are
   * distinct memories, even two that say the same), or, when another tenant holds the id, a row
   * with its text in its scope; `byIdOrText` (a line without an id): a row with its text too.
   */
  | { kind: 'add'; memory: StoredMemory; actor: string | null; keepId?: 'byId' | 'byIdOrText' }
  | {
      kind: 'update'
      tenantId: string
      id: string
      text?: { text: string; vector: Float32Array }
      metadata?: Record<string, unknown>
      actor: string | null
    }
  /** `purge` also erases the history texts; it works on a memory deleted or superseded earlier too. */
  | { kind: 'delete'; tenantId: string; id: string; purge: boolean; actor: string | null }
  /** A newer fact contradicts this memory: it stays (history, `includeSuperseded`) with validTo set. */
  | { kind: 'supersede'; tenantId: string; id: string; actor: string | null }
  | { kind: 'deleteMatching'; scope: ScopeFilter; purge: boolean; actor: string | null }

export type WriteResult = AddResult | StoredMemory | { deleted: number } | undefined

interface Pending {
  ops: WriteOp[]
  resolve: (results: Array<WriteResult | MemoryError>) => void
  reject: (error: unknown) => void
}

/** A journaled, acknowledged group whose vector-store write has not finished yet. */
interface PendingApply {
  seq: number
  /** Commit number (this process's count), which `settled` waits for. */
  number: number
  change: StoreChange
  /** The group's final row images (null: deleted), which reads of the writer lay over the store's. */
  rows: Map<string, StoredMemory | null>
  /** Scope keys (scopeKey) of every row the group changed, before and after. */
  scopes: Set<string>
  images: Map<string, RowImage>
}

/**
 * What one vector-store write (or maintenance) changed, as replicas following this writer hear
 * it: the version it moved the store from and to (undefined if unread), the scopes it touched,
 * and each row's image before and after (empty for maintenance, which changes no row).
 */
export interface AppliedChange {
  from: number | undefined
  to: number | undefined
  /** The journal sequence of the last group this write applied (none for a maintenance). */
  seq?: number
  scopes: Set<string>
  images: Map<string, RowImage>
}

/**
 * A small group (single adds, one after another) may start loading its scope into the resident
 * index for later duplicate checks, when that scope was written recently too: a bulk load over
 * many scopes, or adds that each go to another user, do not load scopes nobody searches.
 */
const scopeLoadsPerSmallGroup = 2
const smallGroupOps = 16
const recentScopesKept = 1024

export interface WriterOptions {
  maintenanceEveryRows: number
  maintenanceEveryCommits: number
  annIndexThreshold: number
  logger: Logger
  /** Told after each vector-store write (and maintenance) what it changed: replicas following this writer lay it over what they hold. */
  onApplied?: ((change: AppliedChange) => void) | undefined
  /** Told of each group once it is journaled, before it is acknowledged (its LanceDB write comes later). */
  onCommitted?: ((seq: number, images: ReadonlyMap<string, RowImage>) => void) | undefined
  /** Told when a maintenance begins: until its onApplied, the store's versions move with no row changed. */
  onMaintenanceStart?: (() => void) | undefined
}

/**
 * Share of the writer's time routine maintenance may take. Measured: a compaction with index refresh
 * takes 0.2 s at 5k rows and 1.2 s at 225k (it grows with the table), so a fixed every-5,000-rows
 * trigger made bulk loads quadratic; after a maintenance of D ms the next waits (D / budget - D) ms.
 */
const maintenanceBudget = 0.1

/**
 * A store with no write for at least this long gets a due maintenance at once, budget or not:
 * the budget protects a stream of writes, and a quiet store has none, while the rows a bulk load
 * left unindexed and scattered slow every store read until it runs (first searches right after
 * a 100,000-row load measured 2.3x those after a maintenance, and the budget held it back for up
 * to 9x the last one). Quiet means longer than the writes' own pauses: four times the longest
 * gap between the last 16 group commits, or twice the last maintenance if that is shorter. So a
 * loader whose writes come seconds apart (a slow embedding model between addBatch calls), or
 * callers whose writes come in clumps, do not run every due maintenance in their gaps (the
 * budget governs: a bulk load stays linear), while writes that came back to back and stopped get
 * theirs after this long. Scaling with the last maintenance alone made a 100,000-row load wait
 * ~7 s for it, its first searches 2.2x slower than after it; with the writes' pace, 1.0-1.27x
 * (probes of the search suite's bulk phase).
 */
const quietMaintenanceMs = 500

/**
 * How long the applier lets acknowledged groups gather before writing them to LanceDB, unless a
 * store read or an exclusive task waits for them (then at once) or enough rows are pending. Each
 * LanceDB write is a new version and fragment costing 10-15 ms of CPU on 2 cores whatever its
 * size: written one by one, single adds spent most of the machine on them (~120 adds/s).
 * Resident searches and get() never wait for it; the journal is the durability point.
 */
const applyLingerMs = 100
const applyAtOnceRows = 2_000
/** Pending rows past which every group waits for the store (back-pressure): ~25x what 32 concurrent adders journal in one linger. */
const pendingRowsCap = 8_000

/** Ops per group commit; one submission (an addBatch) is never split. */
const maxGroupOps = 20_000

/**
 * The one ordered writer of a store. LanceDB upserts race (concurrent mergeInserts on the same key
 * duplicate rows), so every write goes through here, in order. Whatever queued while the previous
 * group was committing becomes the next group: one journal transaction, one LanceDB write per kind
 * (group commit), then maintenance when enough rows changed.
 *
 * Two lanes: groups are journaled (and acknowledged) on the chain; the vector store is written
 * on the store lane: merged applies, routine maintenance, exclusive tasks. So a maintenance
 * (seconds on object storage) does not hold small groups (single adds, updates, deletes): they
 * wait in the pending list. Groups that need the store current (back-pressure after a bulk
 * submission or past `pendingRowsCap`, scope-wide deletes, imports keeping ids, purges) still
 * wait for it, holding the chain.
 */
export class Writer {
  private queue: Pending[] = []
  /** Every write group and exclusive task runs on this chain, one at a time. */
  private chain: Promise<unknown> = Promise.resolve()
  /** Every vector-store write (applies, maintenance, exclusive tasks) runs on this lane, one at a time. */
  private storeLane: Promise<unknown> = Promise.resolve()
  private drainScheduled = false
  private rowsSinceMaintenance = 0
  private commitsSinceMaintenance = 0
  /** performance.now() before which routine maintenance waits (see maintenanceBudget). */
  private maintenanceNotBefore = 0
  /** Timer of a maintenance the budget postponed, and when it fires (performance.now()). */
  private deferred: NodeJS.Timeout | undefined
  private deferredAt = 0
  /** performance.now() of the last write submitted or committed, and how long the last maintenance took (see quietMaintenanceMs). */
  private lastWriteAt = 0
  private lastMaintenanceMs = 0
  /** performance.now() of the last group commit, and the gaps before the last few (see quietMaintenanceMs). */
  private lastCommitAt = 0
  private readonly commitGaps: number[] = []
  private stopped = false
  private failure: MemoryError | undefined
  /**
   * Duplicate keys of rows this writer wrote since the last index refresh (key -> ids). Duplicate
   * lookups read the index only (fast) plus this map, instead of scanning the unindexed rows. The
   * store lock makes this writer the only one, open refreshes the index if anything is unindexed,
   * and a maintenance keeps the entries of rows it did not index (see maintain), so the map covers
   * every unindexed row. Entries may be stale (the row was deleted or its text changed); lookups
   * check the row itself. A key may name several rows (an update can give a row another's text):
   * when one is deleted, another still answers.
   */
  private readonly unindexed = new Map<string, string[]>()
  /** False after a takeover with rows another process left unindexed: duplicate lookups scan them too until maintenance. */
  private indexCoversAll = true
  /**
   * Every duplicate key the store may hold (see `learnStoredKeys`): an add whose key it has never
   * seen needs no duplicate lookup. Undefined until the first scan of the store ends.
   */
  private storedKeys: KeyFilter | undefined
  /** The filter a scan is filling, which commits meanwhile also feed. */
  private learningKeys: KeyFilter | undefined
  /** Scans started: a scan whose number is not the latest stops and installs nothing. */
  private keyScans = 0
  private keyScan: Promise<void> = Promise.resolve()
  /** Scopes (duplicate-key prefix: tenant, user, agent, run) of recent adds, oldest first. */
  private readonly recentScopes = new Set<string>()
  /** An erase queued but not started yet, which a purge committed now can join. */
  private pendingErase: Promise<void> | undefined
  /**
   * Groups journaled and acknowledged but not yet in the vector store, oldest first. One applier
   * writes them, every group that queued while it wrote as one merged write, so single writes
   * arriving one after another never wait for each other's LanceDB write.
   */
  private pending: PendingApply[] = []
  private applier: Promise<void> | undefined
  private committedCount = 0
  private committedSeq = 0
  private appliedCount = 0
  private waiters: Array<{ number: number; resolve: () => void; reject: (error: unknown) => void }> = []
  /** Ends the applier's linger early (a read or an exclusive task waits). */
  private flushNow: (() => void) | undefined
  private pendingRowCount = 0
  /** The resident index, told of every commit before it is acknowledged; it also answers duplicate checks. */
  private cache: ResidentCache | undefined
  /** A maintenance is running on the store lane. */
  private maintaining = false
  /** Tasks of readAlone running on the store lane. */
  private laneReads = 0

  constructor(
    private vectors: VectorStore,
    private readonly metadata: MetadataStore,
    private readonly options: WriterOptions,
  ) {}

  /** Commits `ops` atomically (in one group); resolves with one result or typed error per op. */
  submit(ops: WriteOp[]): Promise<Array<WriteResult | MemoryError>> {
    if (this.failure) return Promise.reject(this.failure)
    this.lastWriteAt = performance.now()
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject })
      if (!this.drainScheduled) {
        this.drainScheduled = true
        this.scheduleGroup()
      }
    })
  }

  /**
   * Resolves once every write acknowledged so far is in the vector store (store reads need it;
   * resident reads do not); rejects if one could not be applied (it is journaled: reopening the
   * store replays it).
   */
  settled(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const number = this.committedCount
    if (this.appliedCount >= number) return Promise.resolve()
    this.flushNow?.()
    return new Promise((resolve, reject) => this.waiters.push({ number, resolve, reject }))
  }

  /**
   * Runs `task` alone, after every write queued before it, with every acknowledged write in the
   * vector store and no other store write under way (maintenance, re-embedding, statistics
   * scans, close).
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    // A maintenance under way would hold the chain, so every commit, for its whole length:
    // wait for the store lane to be free before taking the chain.
    return this.storeLane.then(() =>
      this.serially(async () => {
        await this.drain()
        return this.onStoreLane(task)
      }),
    )
  }

  /**
   * Whether `settled()` could wait long: writes are pending behind a maintenance or a readAlone
   * task (seconds on object storage; a statistics scan of 1M texts takes ~13 s). A search then
   * loads its scope, which lays them over the store, instead.
   */
  get settlesLate(): boolean {
    return (this.maintaining || this.laneReads > 0) && this.pending.length > 0
  }

  /** Throws the failure that stopped writes, if any (resident reads check this instead of waiting for the store). */
  healthy(): void {
    if (this.failure) throw this.failure
  }

  /** The journal sequence of the newest group this writer committed (0: none yet). */
  get lastCommittedSeq(): number {
    return this.committedSeq
  }

  /** The journal sequence of the oldest group acknowledged but not yet in the vector store (undefined: none). */
  get oldestPendingSeq(): number | undefined {
    return this.pending[0]?.seq
  }

  /** Connects the resident index (after construction: the index reads through this writer). */
  attach(cache: ResidentCache): void {
    this.cache = cache
  }

  /** The newest acknowledged image of a row not yet in the vector store (null: deleted); undefined when the store is current for it. */
  pendingRow(id: string): StoredMemory | null | undefined {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const rows = this.pending[i]?.rows
      if (rows?.has(id)) return rows.get(id)
    }
    return undefined
  }

  /** Before and after images of the groups acknowledged and not in the vector store yet, oldest first. */
  unappliedImages(): Array<Map<string, RowImage>> {
    return this.pending.map((p) => p.images)
  }

  /** Row images acknowledged but perhaps not in the vector store yet, oldest first (a snapshot). */
  pendingRows(): Array<Map<string, StoredMemory | null>> {
    return this.pending.map((p) => p.rows)
  }

  /** Waits for the applier to write everything pending; a failed apply ends the wait too (it is journaled). */
  private async drain(): Promise<void> {
    await this.settled().catch(() => undefined)
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task)
    this.chain = run.catch(() => undefined)
    return run
  }

  /**
   * Runs `task` on the store lane, where no vector-store write (apply, maintenance, exclusive
   * task) runs beside it, while commits go on and wait in `unappliedImages()`. Store reads that
   * would wait for those meanwhile load their scope instead (see settlesLate).
   */
  readAlone<T>(task: () => Promise<T>): Promise<T> {
    return this.onStoreLane(async () => {
      this.laneReads++
      try {
        return await task()
      } finally {
        this.laneReads--
      }
    })
  }

  private onStoreLane<T>(task: () => Promise<T>): Promise<T> {
    const run = this.storeLane.then(task)
    this.storeLane = run.catch(() => undefined)
    return run
  }

  /** Switches to another vector store (after a re-embed); call inside `exclusive`. */
  replaceVectorStore(vectors: VectorStore): void {
    this.vectors = vectors
    this.unindexed.clear()
  }

  /**
   * Compacts and refreshes indexes now; call inside `exclusive` (or at open, before any write).
   * `purge` (after a purging write) also leaves no deleted text in any file: vector-store
   * rewrite, then an emptied SQLite WAL.
   */
  async maintain(options: { purge?: boolean } = {}): Promise<void> {
    const started = performance.now()
    const purge = options.purge ?? false
    const from = await this.followedVersion()
    const before = [...this.unindexed].map(([key, ids]) => [key, [...ids]] as const)
    this.maintaining = true
    this.options.onMaintenanceStart?.()
    try {
      await this.vectors.maintain({ purge, annIndexThreshold: this.options.annIndexThreshold })
      if (purge) await this.metadata.compactErased()
    } finally {
      this.maintaining = false
    }
    // The refresh indexed the rows the store held. No apply runs beside a maintenance, so every
    // row journaled before it ended and not in the store (an add, or a re-add or update of a row
    // it indexed, which the apply rewrites into a new fragment) is still pending: those keep
    // their entries for duplicate checks.
    const notApplied = new Set(this.pending.flatMap((p) => [...p.rows.keys()]))
    for (const [key, ids] of before) {
      // Ids written during the maintenance were not in `before`: they stay.
      const left = this.unindexed.get(key)?.filter((id) => notApplied.has(id) || !ids.includes(id))
      if (left?.length) this.unindexed.set(key, left)
      else this.unindexed.delete(key)
    }
    this.indexCoversAll = true
    // A slow one (object storage, a big table) is worth seeing at the default level.
    const took = Math.round(performance.now() - started)
    this.options.logger[took >= 1_000 ? 'info' : 'debug']('memory.maintain', { ms: took, purge })
    this.rowsSinceMaintenance = 0
    this.commitsSinceMaintenance = 0
    // Compaction makes a new version without changing any row: followers need not drop anything.
    this.options.onApplied?.({ from, to: await this.followedVersion(), scopes: new Set(), images: new Map() })
    const ms = performance.now() - started
    this.lastMaintenanceMs = ms
    this.maintenanceNotBefore = performance.now() + (ms * (1 - maintenanceBudget)) / maintenanceBudget
  }

  /**
   * The physical side of a purge (maintenance with `purge`), run after every write queued before
   * it. A full rewrite covers every purge committed before it starts, so purges arriving while one
   * waits its turn share it: a burst of purges costs one rewrite, not one each.
   */
  erase(): Promise<void> {
    this.pendingErase ??= this.exclusive(async () => {
      this.pendingErase = undefined
      await this.maintain({ purge: true })
    })
    return this.pendingErase
  }

  /**
   * The next group starts in a macrotask, not a microtask: a caller awaiting one write after
   * another (whose embedding and SQLite commit may both resolve without I/O) would otherwise
   * never let timers and I/O run, the applier's included, until its loop ends.
   */
  private scheduleGroup(): void {
    setImmediate(() => void this.serially(() => this.commitNextGroup()))
  }

  /** Takes everything queued (up to maxGroupOps) as one group; writes arriving meanwhile schedule the next group. */
  private async commitNextGroup(): Promise<void> {
    this.drainScheduled = false
    const group: Pending[] = []
    let size = 0
    while (this.queue.length > 0 && (group.length === 0 || size + (this.queue[0]?.ops.length ?? 0) <= maxGroupOps)) {
      const next = this.queue.shift() as Pending
      group.push(next)
      size += next.ops.length
    }
    if (this.queue.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true
      this.scheduleGroup()
    }
    if (group.length === 0) return
    try {
      if (this.failure) throw this.failure
      const { results, committed } = await this.commit(group.flatMap((p) => p.ops))
      this.lastWriteAt = performance.now()
      this.noteCommitGap(this.lastWriteAt)
      // The group is durable once journaled: the resident index hears of it and its callers hear
      // back now; the LanceDB write happens in the applier, overlapping with the next groups.
      if (committed) this.enqueue(committed)
      let offset = 0
      for (const pending of group) {
        pending.resolve(results.slice(offset, offset + pending.ops.length))
        offset += pending.ops.length
      }
    } catch (error) {
      for (const pending of group) pending.reject(error)
    }
    // A group holding a bulk submission (more than 16 ops: an addBatch, an import, an add of a
    // long conversation) waits for its LanceDB write before the next group starts (as every
    // group did before the applier): its callers already have their answer, and the next
    // batch's validation and embedding overlap with the write, while the pending list stays
    // short and the next group's store reads do not race a large write. Small submissions of
    // concurrent callers do not: each group of them waiting for a LanceDB write (10-15 ms of
    // CPU) held 32 concurrent adds to ~1,400/s. They wait only when the pending list outgrows
    // `pendingRowsCap` (a long maintenance or a slow store), so it stays bounded.
    if (group.some((pending) => pending.ops.length > smallGroupOps) || this.pendingRowCount >= pendingRowsCap) await this.drain()
  }

  private enqueue(committed: { seq: number; change: StoreChange; images: Map<string, RowImage> }): void {
    const rows = new Map<string, StoredMemory | null>()
    const scopes = new Set<string>()
    for (const [id, image] of committed.images) {
      rows.set(id, image.after)
      if (image.before) scopes.add(scopeKey(image.before))
      if (image.after) scopes.add(scopeKey(image.after))
    }
    this.pending.push({ seq: committed.seq, number: ++this.committedCount, change: committed.change, rows, scopes, images: committed.images })
    this.committedSeq = committed.seq
    this.pendingRowCount += rows.size
    if (this.pendingRowCount >= applyAtOnceRows) this.flushNow?.()
    this.cache?.committed(committed.images)
    this.options.onCommitted?.(committed.seq, committed.images)
    this.startApplier()
  }

  private startApplier(): void {
    this.applier ??= this.applyPending().finally(() => {
      this.applier = undefined
      // A group enqueued after the loop's last look at the list, before this ran, found the applier still set.
      if (this.pending.length > 0 && !this.failure) this.startApplier()
    })
  }

  /** Writes pending groups to the vector store, all that queued meanwhile as one merged write, until none is left. */
  private async applyPending(): Promise<void> {
    while (this.pending.length > 0 && !this.failure) {
      if (this.waiters.length === 0 && this.pendingRowCount < applyAtOnceRows) await this.linger()
      if (!(await this.onStoreLane(() => this.applyOnce()))) break
    }
    this.wake()
  }

  /** One merged write of every pending group; false when it failed (writes stop: see applyJournaled). */
  private async applyOnce(): Promise<boolean> {
    if (this.failure) return false
    if (this.pending.length === 0) return true
    const taking = this.pending.slice()
    const last = taking.at(-1) as PendingApply
    const change = mergeChanges(taking.map((p) => p.change))
    const started = performance.now()
    const from = await this.followedVersion()
    try {
      await this.applyJournaled(change, last.seq)
    } catch (e) {
      // `failure` is set: the changes stay journaled and replay on the next open.
      this.options.logger.error('memory.apply_failed', { error: String(e) })
      return false
    }
    this.pending.splice(0, taking.length)
    if (this.options.onApplied) {
      this.options.onApplied({
        from,
        to: await this.followedVersion(),
        seq: last.seq,
        scopes: new Set(taking.flatMap((p) => [...p.scopes])),
        images: mergeImages(taking),
      })
    }
    this.pendingRowCount -= taking.reduce((sum, p) => sum + p.rows.size, 0)
    this.appliedCount = last.number
    this.rowsSinceMaintenance += change.inserts.length + change.updates.length + change.deletes.length
    this.commitsSinceMaintenance++
    // Every apply adds a LanceDB fragment and version; many small ones slow every read and write,
    // so compaction is due after enough applies as well as after enough rows. Compaction also
    // rewrites every index, which costs time in proportion to the table; the budget keeps it to
    // a fixed share of the writer's time as the table grows. (A purge runs its own maintenance.)
    if (this.maintenanceDue()) this.scheduleMaintenance()
    this.options.logger.debug('memory.apply', {
      groups: taking.length,
      rows: change.inserts.length + change.updates.length + change.deletes.length,
      ms: Math.round(performance.now() - started),
    })
    this.wake()
    return true
  }

  private linger(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, applyLingerMs)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.flushNow = () => {
        this.flushNow = undefined
        done()
      }
    }).finally(() => {
      this.flushNow = undefined
    })
  }

  /** The store's version when replicas follow this writer (their notices chain versions); undefined if unread. */
  private async followedVersion(): Promise<number | undefined> {
    if (!this.options.onApplied) return undefined
    return this.vectors.version().catch(() => undefined)
  }

  /** Resolves the settled() calls whose writes are applied (rejects them all after a failed apply). */
  private wake(): void {
    const waiting = this.waiters
    this.waiters = []
    for (const waiter of waiting) {
      if (this.failure) waiter.reject(this.failure)
      else if (waiter.number <= this.appliedCount) waiter.resolve()
      else this.waiters.push(waiter)
    }
  }

  private maintenanceDue(): boolean {
    const { maintenanceEveryRows, maintenanceEveryCommits } = this.options
    return this.rowsSinceMaintenance >= maintenanceEveryRows || this.commitsSinceMaintenance >= maintenanceEveryCommits
  }

  private async maintainQuietly(): Promise<void> {
    await this.maintain().catch((e: unknown) => this.options.logger.warn('memory.maintain_failed', { error: String(e) }))
  }

  /**
   * Maintenance the budget postponed runs when the budget allows or once the store is quiet
   * (quietMaintenanceMs), whichever comes first, writes or not: otherwise a store that goes quiet
   * after a bulk load would keep its unindexed rows (slower searches) until the next write.
   */
  private scheduleMaintenance(delay = Math.max(1, this.maintenanceAt() - performance.now())): void {
    if (this.stopped) return
    // A timer set for later is moved earlier: the quiet time shrinks once writes pick up a faster pace.
    if (this.deferred) {
      if (performance.now() + delay >= this.deferredAt - 1) return
      clearTimeout(this.deferred)
    }
    this.deferredAt = performance.now() + delay
    this.deferred = setTimeout(() => {
      this.deferred = undefined
      if (this.stopped || !this.maintenanceDue()) return
      const now = performance.now()
      if (now < this.maintenanceNotBefore) {
        // Written to since this was set: wait for quiet or the budget again.
        if (now < this.maintenanceAt()) return this.scheduleMaintenance()
        // A write waits behind a long commit: not quiet after all.
        if (this.queue.length > 0) return this.scheduleMaintenance(quietMaintenanceMs)
      }
      void this.onStoreLane(async () => {
        if (!this.stopped && this.maintenanceDue()) await this.maintainQuietly()
      })
    }, delay)
    this.deferred.unref()
  }

  /** When routine maintenance may run: once the budget allows, or once the store is quiet. */
  private maintenanceAt(): number {
    const quietMs = Math.max(quietMaintenanceMs, Math.min(2 * this.lastMaintenanceMs, 4 * Math.max(0, ...this.commitGaps)))
    return Math.min(this.maintenanceNotBefore, this.lastWriteAt + quietMs)
  }

  /**
   * Keeps the gaps before the last 16 group commits. Groups, not submissions: concurrent callers'
   * writes share a group, so their gaps are the pauses between clumps, not the ~0 ms within one.
   */
  private noteCommitGap(now: number): void {
    // A gap of over a minute is no loader's pace: capped, so one idle night does not count for days.
    if (this.lastCommitAt > 0) this.commitGaps.push(Math.min(now - this.lastCommitAt, 60_000))
    if (this.commitGaps.length > 16) this.commitGaps.shift()
    this.lastCommitAt = now
  }

  /** Where the duplicate-key filter stands: filled and in use, being filled, or none (not the writer, or its scan failed). */
  get keyFilterState(): 'ready' | 'scanning' | 'none' {
    return this.storedKeys ? 'ready' : this.learningKeys ? 'scanning' : 'none'
  }

  /**
   * Fills a new KeyFilter with every duplicate key in the store, in the background; until it is
   * done, adds take the duplicate lookup. Call each time this process becomes the store's writer
   * (after replaying the journal): what another writer added meanwhile is in no filter kept. The
   * scan sees every row applied before it starts; the keys of rows committed and not applied yet
   * are in `unindexed`, added at once; every commit from then on adds its own. So no key the store
   * holds is missing from it. Also called when the filter is full, for a bigger one.
   */
  learnStoredKeys(): void {
    const scan = ++this.keyScans
    this.storedKeys = undefined
    this.learningKeys = undefined
    const running = (async () => {
      const filter = new KeyFilter(await this.vectors.countRows())
      if (scan !== this.keyScans) return
      this.learningKeys = filter
      for (const key of this.unindexed.keys()) filter.add(key)
      for await (const keys of this.vectors.scanDedupKeys()) {
        if (scan !== this.keyScans) return
        for (const key of keys) filter.add(key)
      }
      if (scan !== this.keyScans) return
      this.storedKeys = filter
      this.learningKeys = undefined
    })().catch((e: unknown) => {
      if (scan === this.keyScans) this.learningKeys = undefined
      if (!this.stopped) this.options.logger.warn('memory.key_scan_failed', { error: String(e) })
    })
    const before = this.keyScan
    this.keyScan = Promise.all([before, running]).then(() => undefined)
  }

  /** Takes over the key scan a previous writer of this store may still run, so that `stopKeyScan` also waits for it. */
  inheritKeyScan(previous: Writer): void {
    this.keyScan = previous.stopKeyScan()
  }

  /** Stops a scan `learnStoredKeys` started and waits for it: call before the vector store it reads closes. */
  async stopKeyScan(): Promise<void> {
    this.keyScans++
    await this.keyScan
  }

  /**
   * Rows this writer did not write are not all indexed (it took over from another process): until
   * the next maintenance, duplicate lookups scan unindexed rows instead of trusting the index.
   */
  distrustIndex(): void {
    this.indexCoversAll = false
  }

  /** Refuses writes from now on with `error`, and ends waits (this process stopped leading the store). */
  fail(error: MemoryError): void {
    this.failure ??= error
    this.stop()
    for (const pending of this.queue.splice(0)) pending.reject(error)
    this.wake()
  }

  /** No maintenance after this (the store is closing); call inside `exclusive`. */
  stop(): void {
    this.stopped = true
    this.keyScans++
    clearTimeout(this.deferred)
  }

  /** Plans and journals a group; `committed` is what the vector store and the resident index still need to hear. */
  private async commit(
    ops: WriteOp[],
  ): Promise<{ results: Array<WriteResult | MemoryError>; committed?: { seq: number; change: StoreChange; images: Map<string, RowImage> } }> {
    const now = Date.now()
    const started = performance.now()
    const state = await this.load(ops)
    const loaded = performance.now()
    const events: HistoryRecord[] = []
    const purge: HistoryPurge = { memories: [], scopes: [] }
    const results: Array<WriteResult | MemoryError> = []
    const notFound = (id: string) => new MemoryError(MemoryErrorCode.NotFound, `Memory ${id} not found`, { details: { id } })

    const record = (memory: StoredMemory, event: HistoryRecord['event'], previousText: string | null, newText: string | null, actor: string | null, at = now) =>
      events.push({
        tenantId: memory.tenantId,
        memoryId: memory.id,
        userId: memory.userId,
        agentId: memory.agentId,
        runId: memory.runId,
        event,
        previousText,
        newText,
        metadata: newText === null ? null : memory.metadata,
        actor,
        createdAt: at,
      })
    const remove = (memory: StoredMemory, purging: boolean, actor: string | null) => {
      state.rows.set(memory.id, null)
      // A purging delete never writes the text it erases, not even into this transaction.
      record(memory, 'DELETE', purging ? null : memory.text, null, actor)
      if (purging) purge.memories.push({ tenantId: memory.tenantId, id: memory.id })
    }

    for (const op of ops) {
      switch (op.kind) {
        case 'add': {
          const owner = state.owners.get(op.memory.id)
          const idTaken = owner !== undefined && owner !== op.memory.tenantId
          // A line keeping its id is only that memory; one whose id another tenant holds is matched
          // by text too, so that a re-run finds what the first run stored under a fresh id.
          const byText = op.keepId !== 'byId' || idTaken
          const existingId = op.keepId && state.rows.get(op.memory.id) ? op.memory.id : byText ? state.dedup.get(op.memory.dedupKey) : undefined
          const found = existingId === undefined ? null : state.rows.get(existingId)
          const existing = found && (found.id === op.memory.id || found.dedupKey === op.memory.dedupKey) ? found : null
          if (existing && !op.keepId) {
            // Said again: its new metadata keys are merged in (UPDATE); nothing new is NONE. Said
            // again after a newer fact superseded it: current again, under its own id (ADD).
            const metadata = sortedKeys({ ...existing.metadata, ...op.memory.metadata })
            const revive = existing.validTo !== null
            const changed = !isDeepStrictEqual(metadata, existing.metadata)
            if (!revive && !changed) {
              results.push({ id: existing.id, memory: existing.text, event: 'NONE' })
              break
            }
            const next = { ...existing, metadata, validTo: null, updatedAt: now }
            state.rows.set(existing.id, next)
            record(next, revive ? 'ADD' : 'UPDATE', revive ? null : next.text, next.text, op.actor)
            results.push({ id: existing.id, memory: existing.text, event: revive ? 'ADD' : 'UPDATE' })
            break
          }
          if (existing) {
            // Import restores: an id or text already here is left as it is.
            results.push({ id: existing.id, memory: existing.text, event: 'NONE' })
            break
          }
          const memory = idTaken ? { ...op.memory, id: uuidv7() } : op.memory
          state.rows.set(memory.id, memory)
          state.dedup.set(memory.dedupKey, memory.id)
          // A new memory's ADD is dated as the memory (when the add was made, before its group
          // committed); an imported one's is the import, its creation time being the original's.
          record(memory, 'ADD', null, memory.text, op.actor, op.keepId ? now : memory.createdAt)
          results.push({ id: memory.id, memory: memory.text, event: 'ADD' })
          break
        }
        case 'update': {
          const current = state.rows.get(op.id)
          if (!current || current.tenantId !== op.tenantId) {
            results.push(notFound(op.id))
            break
          }
          // Nothing new (the same text, metadata equal or not given): no UPDATE in history, no new updatedAt.
          if ((!op.text || op.text.text === current.text) && (!op.metadata || isDeepStrictEqual(op.metadata, current.metadata))) {
            results.push(current)
            break
          }
          const next: StoredMemory = {
            ...current,
            ...(op.text && { text: op.text.text, vector: op.text.vector, dedupKey: dedupKey(scopeOf(current), op.text.text) }),
            metadata: op.metadata ?? current.metadata,
            updatedAt: now,
          }
          state.rows.set(op.id, next)
          state.dedup.set(next.dedupKey, next.id)
          record(next, 'UPDATE', current.text, next.text, op.actor)
          results.push(next)
          break
        }
        case 'delete': {
          const current = state.rows.get(op.id)
          if (!current || current.tenantId !== op.tenantId) {
            // Deleted earlier, it is still purgeable: its history holds the text.
            if (op.purge && state.history.has(historyKey(op.tenantId, op.id))) {
              purge.memories.push({ tenantId: op.tenantId, id: op.id })
              results.push(undefined)
            } else results.push(notFound(op.id))
            break
          }
          remove(current, op.purge, op.actor)
          results.push(undefined)
          break
        }
        case 'supersede': {
          const current = state.rows.get(op.id)
          if (!current || current.tenantId !== op.tenantId) {
            results.push(notFound(op.id))
            break
          }
          if (current.validTo === null) {
            state.rows.set(op.id, { ...current, validTo: now, updatedAt: now })
            record(current, 'SUPERSEDE', current.text, null, op.actor)
          }
          results.push({ id: current.id, memory: current.text, event: 'SUPERSEDE' })
          break
        }
        case 'deleteMatching': {
          let deleted = 0
          for (const memory of state.rows.values()) {
            if (memory && inScope(memory, op.scope)) {
              remove(memory, op.purge, op.actor)
              deleted++
            }
          }
          // Memories of the scope deleted earlier live on in history only.
          if (op.purge) purge.scopes.push(op.scope)
          results.push({ deleted })
          break
        }
      }
    }

    const change: StoreChange = { inserts: [], updates: [], deletes: [] }
    const images = new Map<string, RowImage>()
    for (const [id, memory] of state.rows) {
      const before = state.stored.get(id) ?? null
      if (memory && !before) change.inserts.push(memory)
      else if (memory && before && memory !== before) change.updates.push(memory)
      else if (!memory && before) change.deletes.push(id)
      else continue
      images.set(id, { before, after: memory })
    }
    if (events.length === 0 && purge.memories.length === 0 && purge.scopes.length === 0) return { results }

    const planned = performance.now()
    const seq = await this.metadata.beginChange(change, events, purge)
    const ms = (from: number, to: number) => Math.round(to - from)
    this.options.logger.debug('memory.commit', {
      ops: ops.length,
      loadMs: ms(started, loaded),
      planMs: ms(loaded, planned),
      journalMs: ms(planned, performance.now()),
    })
    // Duplicate checks find rows written since the last index refresh here, applied or not.
    for (const memory of [...change.inserts, ...change.updates]) {
      const ids = this.unindexed.get(memory.dedupKey)
      if (!ids) this.unindexed.set(memory.dedupKey, [memory.id])
      else if (!ids.includes(memory.id)) ids.push(memory.id)
      this.storedKeys?.add(memory.dedupKey)
      this.learningKeys?.add(memory.dedupKey)
    }
    if (this.storedKeys?.full) this.learnStoredKeys()
    return { results, committed: { seq, change, images } }
  }

  /** Applies a journaled change; if the vector store fails even on a replay, writes stop until reopen. */
  private async applyJournaled(change: StoreChange, seq: number): Promise<void> {
    try {
      await this.vectors.apply(change)
    } catch (first) {
      this.options.logger.warn('memory.apply_retry', { seq, error: String(first) })
      try {
        await this.vectors.apply(change, { replay: true })
      } catch (second) {
        this.failure = new MemoryError(
          MemoryErrorCode.StorageFailed,
          'The vector store rejected a write that is already journaled; reopen the store to replay it. Writes are refused until then.',
          { cause: second, details: { journaled: true, seq } },
        )
        throw this.failure
      }
    }
    this.metadata.markApplied(seq)
  }

  /**
   * Reads the rows this group touches: by id, by duplicate key, and whole scopes for deleteMatching.
   * Groups acknowledged but not yet in the vector store are laid over what it returns; duplicate
   * checks in a resident scope need no store read at all.
   */
  /** Whether an add to this memory's scope came recently; remembers this one. */
  private writtenBefore(memory: StoredMemory): boolean {
    const key = scopeKey(memory)
    const seen = this.recentScopes.delete(key)
    this.recentScopes.add(key)
    if (this.recentScopes.size > recentScopesKept) this.recentScopes.delete(this.recentScopes.values().next().value as string)
    return seen
  }

  private async load(ops: WriteOp[]) {
    // Scope-wide reads, id ownership and history checks read the store alone: it must be current.
    if (ops.some((op) => op.kind === 'deleteMatching' || (op.kind === 'add' && op.keepId) || (op.kind === 'delete' && op.purge))) await this.drain()
    const overlay = this.pendingRows()
    const latest = (id: string): StoredMemory | null | undefined => {
      for (let i = overlay.length - 1; i >= 0; i--) if (overlay[i]?.has(id)) return overlay[i]?.get(id)
      return undefined
    }
    const rows = new Map<string, StoredMemory | null>()
    const stored = new Map<string, StoredMemory>()
    const dedup = new Map<string, string>()
    const byTenant = new Map<string, { ids: Set<string>; keys: Set<string> }>()
    const tenant = (id: string) => {
      let wanted = byTenant.get(id)
      if (!wanted) {
        wanted = { ids: new Set(), keys: new Set() }
        byTenant.set(id, wanted)
      }
      return wanted
    }
    const keptIds: string[] = []
    /** Memories (tenant and id) that are not live but have history: a purge still applies. */
    const history = new Set<string>()
    let owners = new Map<string, string>()
    try {
      let scopeLoads = ops.length <= smallGroupOps ? scopeLoadsPerSmallGroup : 0
      for (const op of ops) {
        if (op.kind === 'add' && !op.keepId) {
          const resident = this.cache?.covering(op.memory)
          if (!resident && this.cache?.enabled && this.writtenBefore(op.memory) && scopeLoads-- > 0) {
            // Later adds to this scope check duplicates in memory once it is loaded; this one does
            // not wait for that (the first write to a big scope would).
            void this.cache.scope(scopeOf(op.memory), { admit: true })
          }
          if (resident) {
            const id = resident.byDedupKey.get(op.memory.dedupKey)
            const row = id === undefined ? undefined : resident.rows.get(id)?.memory
            if (id !== undefined && row) {
              dedup.set(op.memory.dedupKey, id)
              stored.set(id, row)
            }
            continue
          }
        }
        if (op.kind === 'add') {
          // A key the store never held has no duplicate to look up (keepId adds also check the id).
          if (!op.keepId && this.storedKeys && !this.storedKeys.mightHold(op.memory.dedupKey)) continue
          tenant(op.memory.tenantId).keys.add(op.memory.dedupKey)
          if (op.keepId) {
            tenant(op.memory.tenantId).ids.add(op.memory.id)
            keptIds.push(op.memory.id)
          }
        } else if (op.kind === 'update' || op.kind === 'delete' || op.kind === 'supersede') tenant(op.tenantId).ids.add(op.id)
      }
      owners = await this.vectors.ownersOf(keptIds)
      for (const [tenantId, wanted] of byTenant) {
        const duplicates = wanted.keys.size === 0 ? [] : await this.vectors.findByDedupKeys(tenantId, [...wanted.keys], { indexedOnly: this.indexCoversAll })
        // Rows written since the last refresh may hold a key too, and an indexed hit may be gone
        // from what is pending (a delete not yet applied): every candidate is checked below.
        for (const key of wanted.keys) for (const id of this.unindexed.get(key) ?? []) duplicates.push({ id, dedupKey: key })
        const ids = new Set([...wanted.ids, ...duplicates.map((d) => d.id)])
        const fromStore = [...ids].filter((id) => latest(id) === undefined)
        for (const memory of await this.vectors.getByIds(tenantId, fromStore)) stored.set(memory.id, memory)
        for (const id of ids) {
          const memory = latest(id)
          if (memory && memory.tenantId === tenantId) stored.set(id, memory)
        }
        // The key's holder is a row that still has that text (an unindexed entry may be stale).
        for (const d of duplicates) if (!dedup.has(d.dedupKey) && stored.get(d.id)?.dedupKey === d.dedupKey) dedup.set(d.dedupKey, d.id)
      }
      for (const op of ops) {
        if (op.kind !== 'deleteMatching') continue
        for (const memory of await this.vectors.list(op.scope, undefined, undefined, undefined)) stored.set(memory.id, memory)
      }
      for (const op of ops) {
        if (op.kind !== 'delete' || !op.purge || stored.get(op.id)?.tenantId === op.tenantId) continue
        if (await this.metadata.hasHistory(op.tenantId, op.id)) history.add(historyKey(op.tenantId, op.id))
      }
    } catch (e) {
      throw storageFailed('read before write', e)
    }
    for (const [id, memory] of stored) rows.set(id, memory)
    return { rows, stored, dedup, owners, history }
  }
}

/**
 * One write for several groups, in order: a row's first appearance says whether the store has it.
 * For a replay (`replay`), some groups may have landed already: every row counts as stored, so a
 * row deleted by a later group is deleted, whatever an earlier one did.
 */
export function mergeChanges(changes: StoreChange[], options: { replay?: boolean } = {}): StoreChange {
  if (changes.length === 1) return changes[0] as StoreChange
  const rows = new Map<string, { stored: boolean; final: StoredMemory | null }>()
  const see = (id: string, stored: boolean, final: StoredMemory | null) => {
    const row = rows.get(id)
    if (row) row.final = final
    else rows.set(id, { stored, final })
  }
  for (const change of changes) {
    for (const memory of change.inserts) see(memory.id, options.replay === true, memory)
    for (const memory of change.updates) see(memory.id, true, memory)
    for (const id of change.deletes) see(id, true, null)
  }
  const merged: StoreChange = { inserts: [], updates: [], deletes: [] }
  for (const [id, { stored, final }] of rows) {
    if (final && !stored) merged.inserts.push(final)
    else if (final) merged.updates.push(final)
    else if (stored) merged.deletes.push(id)
  }
  return merged
}

/** The images of several groups as one: each row's first before and last after (a row added and deleted among them is left out). */
function mergeImages(groups: PendingApply[]): Map<string, RowImage> {
  if (groups.length === 1) return (groups[0] as PendingApply).images
  const merged = new Map<string, RowImage>()
  for (const group of groups) {
    for (const [id, image] of group.images) {
      const earlier = merged.get(id)
      const next = earlier ? { before: earlier.before, after: image.after } : image
      if (next.before || next.after) merged.set(id, next)
      else merged.delete(id)
    }
  }
  return merged
}

function historyKey(tenantId: string, id: string): string {
  return `${tenantId}\u0000${id}`
}

function scopeOf(memory: StoredMemory): ScopeFilter {
  return { tenantId: memory.tenantId, userId: memory.userId ?? undefined, agentId: memory.agentId ?? undefined, runId: memory.runId ?? undefined }
}
