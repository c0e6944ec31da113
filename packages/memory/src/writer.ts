import { isDeepStrictEqual } from 'node:util'
import type { Logger } from '@agentmem/embeddings'
import { uuidv7 } from 'uuidv7'
import { MemoryError, MemoryErrorCode, storageFailed } from './errors.js'
import type { HistoryPurge, HistoryRecord, MetadataStore, ScopeFilter, StoreChange, StoredMemory, VectorStore } from './store/types.js'
import { dedupKey } from './text.js'
import type { AddResult } from './types.js'

/** A write as the engine hands it to the writer; vectors are computed before (embedding is the slow part). */
export type WriteOp =
  /** `keepId` (import): an id already in this tenant means NONE; one taken by another tenant gets a fresh id. */
  | { kind: 'add'; memory: StoredMemory; actor: string | null; keepId?: boolean }
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

export interface WriterOptions {
  maintenanceEveryRows: number
  maintenanceEveryCommits: number
  annIndexThreshold: number
  logger: Logger
}

/**
 * Share of the writer's time routine maintenance may take. Measured: a compaction with index refresh
 * takes 0.2 s at 5k rows and 1.2 s at 225k (it grows with the table), so a fixed every-5,000-rows
 * trigger made bulk loads quadratic; after a maintenance of D ms the next waits (D / budget - D) ms.
 */
const maintenanceBudget = 0.1

/** Ops per group commit; one submission (an addBatch) is never split. */
const maxGroupOps = 20_000

/**
 * The one ordered writer of a store. LanceDB upserts race (concurrent mergeInserts on the same key
 * duplicate rows), so every write goes through here, in order. Whatever queued while the previous
 * group was committing becomes the next group: one journal transaction, one LanceDB write per kind
 * (group commit), then maintenance when enough rows changed.
 */
export class Writer {
  private queue: Pending[] = []
  /** Every write group and exclusive task runs on this chain, one at a time. */
  private chain: Promise<unknown> = Promise.resolve()
  private drainScheduled = false
  private rowsSinceMaintenance = 0
  private commitsSinceMaintenance = 0
  /** performance.now() before which routine maintenance waits (see maintenanceBudget). */
  private maintenanceNotBefore = 0
  /** Timer of a maintenance the budget postponed. */
  private deferred: NodeJS.Timeout | undefined
  private stopped = false
  private failure: MemoryError | undefined
  /**
   * Duplicate keys of rows this writer wrote since the last index refresh (key -> id). Duplicate
   * lookups read the index only (fast) plus this map, instead of scanning the unindexed rows. The
   * store lock makes this writer the only one, and open refreshes the index if anything is
   * unindexed, so the map covers every unindexed row. Entries may be stale (the row was deleted
   * or its text changed); lookups check the row itself.
   */
  private readonly unindexed = new Map<string, string>()
  /** An erase queued but not started yet, which a purge committed now can join. */
  private pendingErase: Promise<void> | undefined
  /** The LanceDB write of the last acknowledged group, while it runs (never rejects). */
  private applying: Promise<unknown> = Promise.resolve()

  constructor(
    private vectors: VectorStore,
    private readonly metadata: MetadataStore,
    private readonly options: WriterOptions,
  ) {}

  /** Commits `ops` atomically (in one group); resolves with one result or typed error per op. */
  submit(ops: WriteOp[]): Promise<Array<WriteResult | MemoryError>> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject })
      if (!this.drainScheduled) {
        this.drainScheduled = true
        void this.serially(() => this.commitNextGroup())
      }
    })
  }

  /**
   * Resolves once every acknowledged write is visible to reads; rejects if one could not be
   * applied (it is journaled: reopening the store replays it).
   */
  async settled(): Promise<void> {
    await this.applying
    if (this.failure) throw this.failure
  }

  /** Runs `task` alone, after every write queued before it (maintenance, re-embedding, close). */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.serially(task)
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task)
    this.chain = run.catch(() => undefined)
    return run
  }

  /** Switches to another vector store (after a re-embed); call inside `exclusive`. */
  replaceVectorStore(vectors: VectorStore): void {
    this.vectors = vectors
    this.unindexed.clear()
  }

  /**
   * Compacts and refreshes indexes now; call inside `exclusive`. `purge` (after a purging write)
   * also leaves no deleted text in any file: vector-store rewrite, then an emptied SQLite WAL.
   */
  async maintain(options: { purge?: boolean } = {}): Promise<void> {
    const started = performance.now()
    const purge = options.purge ?? false
    await this.vectors.maintain({ purge, annIndexThreshold: this.options.annIndexThreshold })
    if (purge) await this.metadata.checkpoint()
    this.unindexed.clear()
    this.options.logger.debug('memory.maintain', { ms: Math.round(performance.now() - started), purge })
    this.rowsSinceMaintenance = 0
    this.commitsSinceMaintenance = 0
    const ms = performance.now() - started
    this.maintenanceNotBefore = performance.now() + (ms * (1 - maintenanceBudget)) / maintenanceBudget
  }

  /**
   * The physical side of a purge (maintenance with `purge`), run after every write queued before
   * it. A full rewrite covers every purge committed before it starts, so purges arriving while one
   * waits its turn share it: a burst of purges costs one rewrite, not one each.
   */
  erase(): Promise<void> {
    this.pendingErase ??= this.serially(async () => {
      this.pendingErase = undefined
      await this.maintain({ purge: true })
    })
    return this.pendingErase
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
      void this.serially(() => this.commitNextGroup())
    }
    if (group.length === 0) return
    let applying: Promise<void> | undefined
    try {
      if (this.failure) throw this.failure
      const { results, apply } = await this.commit(group.flatMap((p) => p.ops))
      // The group is durable once journaled, so its callers hear back now and the LanceDB write
      // overlaps with whatever they do next (validating and embedding the next batch). Reads wait
      // for it first (settled), so a caller always sees its own acknowledged writes.
      if (apply) {
        applying = apply()
        this.applying = applying.catch(() => undefined)
      }
      let offset = 0
      for (const pending of group) {
        pending.resolve(results.slice(offset, offset + pending.ops.length))
        offset += pending.ops.length
      }
    } catch (error) {
      for (const pending of group) pending.reject(error)
    }
    // A failed apply has set `failure`: the change stays journaled and replays on the next open.
    await applying?.catch((e: unknown) => this.options.logger.error('memory.apply_failed', { error: String(e) }))
    // Every commit adds a LanceDB fragment and version; many small ones slow every read and
    // write, so compaction is due after enough commits as well as after enough rows.
    // Compaction also rewrites every index, which costs time in proportion to the table; the budget
    // keeps it to a fixed share of the writer's time as the table grows. (A purge runs its own
    // maintenance, asked for by the caller, which waits for it.)
    if (this.maintenanceDue() && performance.now() >= this.maintenanceNotBefore) await this.maintainQuietly()
    else if (this.maintenanceDue()) this.scheduleMaintenance()
  }

  private maintenanceDue(): boolean {
    const { maintenanceEveryRows, maintenanceEveryCommits } = this.options
    return this.rowsSinceMaintenance >= maintenanceEveryRows || this.commitsSinceMaintenance >= maintenanceEveryCommits
  }

  private async maintainQuietly(): Promise<void> {
    await this.maintain().catch((e: unknown) => this.options.logger.warn('memory.maintain_failed', { error: String(e) }))
  }

  /**
   * Maintenance the budget postponed runs when the budget allows, writes or not: otherwise a
   * store that goes quiet after a bulk load would keep its unindexed rows (slower searches) until
   * the next write.
   */
  private scheduleMaintenance(): void {
    if (this.deferred || this.stopped) return
    this.deferred = setTimeout(
      () => {
        this.deferred = undefined
        void this.serially(async () => {
          if (!this.stopped && this.maintenanceDue()) await this.maintainQuietly()
        })
      },
      Math.max(0, this.maintenanceNotBefore - performance.now()),
    )
    this.deferred.unref()
  }

  /** No maintenance after this (the store is closing); call inside `exclusive`. */
  stop(): void {
    this.stopped = true
    clearTimeout(this.deferred)
  }

  /** Plans and journals a group; the returned `apply` writes it to the vector store. */
  private async commit(ops: WriteOp[]): Promise<{ results: Array<WriteResult | MemoryError>; apply?: () => Promise<void> }> {
    const now = Date.now()
    const started = performance.now()
    const state = await this.load(ops)
    const loaded = performance.now()
    const events: HistoryRecord[] = []
    const purge: HistoryPurge = { memories: [], scopes: [] }
    const results: Array<WriteResult | MemoryError> = []
    const notFound = (id: string) => new MemoryError(MemoryErrorCode.NotFound, `Memory ${id} not found`, { details: { id } })

    const record = (memory: StoredMemory, event: HistoryRecord['event'], previousText: string | null, newText: string | null, actor: string | null) =>
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
        createdAt: now,
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
          const existingId = op.keepId && state.rows.get(op.memory.id) ? op.memory.id : state.dedup.get(op.memory.dedupKey)
          const found = existingId === undefined ? null : state.rows.get(existingId)
          const existing = found && (found.id === op.memory.id || found.dedupKey === op.memory.dedupKey) ? found : null
          if (existing && !op.keepId) {
            // Said again: its new metadata keys are merged in (UPDATE); nothing new is NONE. Said
            // again after a newer fact superseded it: current again, under its own id (ADD).
            const metadata = { ...existing.metadata, ...op.memory.metadata }
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
          const owner = state.owners.get(op.memory.id)
          const memory = owner !== undefined && owner !== op.memory.tenantId ? { ...op.memory, id: uuidv7() } : op.memory
          state.rows.set(memory.id, memory)
          state.dedup.set(memory.dedupKey, memory.id)
          record(memory, 'ADD', null, memory.text, op.actor)
          results.push({ id: memory.id, memory: memory.text, event: 'ADD' })
          break
        }
        case 'update': {
          const current = state.rows.get(op.id)
          if (!current || current.tenantId !== op.tenantId) {
            results.push(notFound(op.id))
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
    for (const [id, memory] of state.rows) {
      const stored = state.stored.has(id)
      if (memory && !stored) change.inserts.push(memory)
      else if (memory && stored && memory !== state.stored.get(id)) change.updates.push(memory)
      else if (!memory && stored) change.deletes.push(id)
    }
    if (events.length === 0 && purge.memories.length === 0 && purge.scopes.length === 0) return { results }

    const planned = performance.now()
    const seq = await this.metadata.beginChange(change, events, purge)
    const journaled = performance.now()
    const apply = async () => {
      await this.applyJournaled(change, seq)
      const ms = (from: number, to: number) => Math.round(to - from)
      this.options.logger.debug('memory.commit', {
        ops: ops.length,
        loadMs: ms(started, loaded),
        planMs: ms(loaded, planned),
        journalMs: ms(planned, journaled),
        applyMs: ms(journaled, performance.now()),
      })
      this.rowsSinceMaintenance += change.inserts.length + change.updates.length + change.deletes.length
      this.commitsSinceMaintenance++
    }
    return { results, apply }
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
    for (const memory of [...change.inserts, ...change.updates]) this.unindexed.set(memory.dedupKey, memory.id)
  }

  /** Reads the rows this group touches: by id, by duplicate key, and whole scopes for deleteMatching. */
  private async load(ops: WriteOp[]) {
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
    for (const op of ops) {
      if (op.kind === 'add') {
        tenant(op.memory.tenantId).keys.add(op.memory.dedupKey)
        if (op.keepId) {
          tenant(op.memory.tenantId).ids.add(op.memory.id)
          keptIds.push(op.memory.id)
        }
      } else if (op.kind === 'update' || op.kind === 'delete' || op.kind === 'supersede') tenant(op.tenantId).ids.add(op.id)
    }
    let owners = new Map<string, string>()
    try {
      owners = await this.vectors.ownersOf(keptIds)
      for (const [tenantId, wanted] of byTenant) {
        const duplicates = await this.vectors.findByDedupKeys(tenantId, [...wanted.keys], { indexedOnly: true })
        // An indexed hit is live (deletions apply to indexed rows too); otherwise the key may
        // belong to a row written since the last refresh.
        const indexed = new Set(duplicates.map((d) => d.dedupKey))
        for (const key of wanted.keys) {
          const id = this.unindexed.get(key)
          if (id !== undefined && !indexed.has(key)) duplicates.push({ id, dedupKey: key })
        }
        for (const d of duplicates) dedup.set(d.dedupKey, d.id)
        const ids = new Set([...wanted.ids, ...duplicates.map((d) => d.id)])
        for (const memory of await this.vectors.getByIds(tenantId, [...ids])) stored.set(memory.id, memory)
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

function inScope(memory: StoredMemory, scope: ScopeFilter): boolean {
  return (
    memory.tenantId === scope.tenantId &&
    (scope.userId === undefined || memory.userId === scope.userId) &&
    (scope.agentId === undefined || memory.agentId === scope.agentId) &&
    (scope.runId === undefined || memory.runId === scope.runId)
  )
}

function historyKey(tenantId: string, id: string): string {
  return `${tenantId}\u0000${id}`
}

function scopeOf(memory: StoredMemory): ScopeFilter {
  return { tenantId: memory.tenantId, userId: memory.userId ?? undefined, agentId: memory.agentId ?? undefined, runId: memory.runId ?? undefined }
}
