import type { Logger } from '@agentmem/embeddings'
import type { ScopeFilter, StoredMemory, VectorStore } from '../store/types.js'
import { CorpusStats, type CorpusStatsSnapshot, countTerms } from './bm25.js'
import { inScope, scopesOverlap } from './filter-match.js'
import { type ResidentRow, ResidentScope, residentRow } from './resident-scope.js'
import { tokenize } from './tokenizer.js'

/** A row as one commit left it: `before` null for an insert, `after` null for a delete. */
export interface RowImage {
  before: StoredMemory | null
  after: StoredMemory | null
}

/** What the cache needs from the writer, which sees every change. */
export interface ResidentSource {
  vectors(): VectorStore
  /**
   * Row images committed (journaled, acknowledged) but perhaps not yet written to the vector store,
   * oldest first: a load lays them over what it read.
   */
  pending(): ReadonlyArray<ReadonlyMap<string, StoredMemory | null>>
  /**
   * Runs `task` with no commit in flight and every committed change in the vector store, and, on
   * a replica that follows another's writes, between the re-reads of its notices.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T>
  /**
   * The writer, where no replica follows this store (else undefined). No vector-store write runs
   * while a task given to `readAlone` runs, and commits go on, waiting in `unapplied()`: so at the
   * task's end `unapplied()` holds every acknowledged group the store it read lacks.
   */
  writer?: {
    readAlone<T>(task: () => Promise<T>): Promise<T>
    unapplied(): ReadonlyArray<ReadonlyMap<string, RowImage>>
  }
}

/** A tenant's keyword statistics, and the store version they were counted at (notices from it on are folded in). */
interface TenantStats {
  stats: CorpusStats
  version: number
}

export interface ResidentCacheOptions {
  /** Heap the resident scopes may hold (an estimate per row); 0 turns the resident index off. */
  budgetBytes: number
  /** A scope with more memories is never loaded whole: the vector store's indexes serve it. */
  maxScopeRows: number
  logger: Logger
  /** Told every change of what is resident, in order, for a copy on another thread to replay (`replay`; search-thread.ts). */
  onChange?: ((change: MirroredChange) => void) | undefined
}

/**
 * One change of a resident cache, as another cache replays it (`ResidentCache.replay`): structured-
 * cloneable, so it crosses to a worker thread. Told in the order they happened, they leave the
 * copy holding the same scopes, rows and keyword statistics.
 */
export type MirroredChange =
  /** A scope's load ended resident, holding these rows. */
  | { kind: 'resident'; key: string; scope: ScopeFilter; rows: StoredMemory[] }
  /** Row images laid over the resident scopes and over the statistics of `stats`' tenants. */
  | { kind: 'lay'; images: ReadonlyMap<string, RowImage>; stats: string[] }
  /** Ids removed from these resident scopes (a follower's bulk deletes). */
  | { kind: 'deletes'; keys: string[]; ids: readonly string[] }
  | { kind: 'drop'; key: string }
  | { kind: 'clear' }
  | { kind: 'stats'; tenantId: string; stats: CorpusStatsSnapshot }
  | { kind: 'statsDrop'; tenantId: string }
  /** Texts an apply changed, taken by the statistics of `stats`' tenants (a follower's followedTexts). */
  | { kind: 'texts'; texts: ReadonlyArray<{ tenantId: string; before: string | null; after: string | null }>; stats: string[] }

export interface ResidentCacheStats {
  budgetBytes: number
  /** Estimated heap held by resident scopes. */
  usedBytes: number
  scopes: number
  rows: number
  /** Estimated heap of the per-tenant keyword statistics (not evicted; one entry per term). */
  statsBytes: number
  hits: number
  loads: number
  evictions: number
  /** Reads the vector store served: a scope not resident (over firstReadLoadRows, or the budget nearly full), loading, or over maxScopeRows. */
  storeSearches: number
  invalidations: number
}

interface Slot {
  key: string
  scope: ScopeFilter
  entry: ResidentScope
  /** Images committed while the slot loads; laid over what the load read, in order. */
  buffer: Array<Map<string, StoredMemory | null>> | undefined
  loading: Promise<ResidentScope | undefined> | undefined
  /** A small scope's load, which reads wait for (it costs less than a store search), unlike a background one. */
  awaited: boolean
}

const recentReadsKept = 10_000
/**
 * A scope of at most this many memories is loaded by its first read, which waits for it: reading a
 * scope whole costs about 0.09 ms a row (100 rows ~9 ms at 100,000 memories, 1,000 rows ~85 ms at
 * 1M), a store search 15-25 ms, and every later read is then resident.
 */
const firstReadLoadRows = 250

/** Rows a bulk group deletes, as a follower reads them from the journal: their ids, and the scopes they are in (not which is in which). */
export interface BulkDeletes {
  ids: readonly string[]
  scopes: readonly ScopeFilter[]
}

/**
 * The key of a read's scope: tenant plus the user / agent / run it names. Ids never hold control
 * characters (options.ts), so NUL separates them and SOH stands for "not named"; this runs for
 * every row of every commit, where JSON.stringify cost several times more.
 */
export function scopeKey(scope: {
  tenantId: string
  userId?: string | null | undefined
  agentId?: string | null | undefined
  runId?: string | null | undefined
}): string {
  return `${scope.tenantId}\u0000${scope.userId ?? '\u0001'}\u0000${scope.agentId ?? '\u0001'}\u0000${scope.runId ?? '\u0001'}`
}

/** A row's key in the cache's id index: ids are unique within a tenant (an import may bring its own). */
function rowKey(tenantId: string, id: string): string {
  return `${tenantId}\u0000${id}`
}

/** Every scope key a row belongs to: each non-empty combination of its user, agent and run. */
function keysOf(memory: StoredMemory): string[] {
  const keys: string[] = []
  for (let mask = 1; mask < 8; mask++) {
    const userId = mask & 1 ? memory.userId : undefined
    const agentId = mask & 2 ? memory.agentId : undefined
    const runId = mask & 4 ? memory.runId : undefined
    // A combination naming a field the row does not have is not one of its scopes.
    if (userId === null || agentId === null || runId === null) continue
    keys.push(scopeKey({ tenantId: memory.tenantId, userId, agentId, runId }))
  }
  return keys
}

/** Adds a key to a hint kept in insertion order, dropping the oldest past `recentReadsKept`. */
function remember(hint: Map<string, true>, key: string): void {
  hint.set(key, true)
  if (hint.size > recentReadsKept) hint.delete(hint.keys().next().value as string)
}

/** A scope's rows as the store returned them, then acknowledged writes laid over them in order (whole images; null: deleted). */
function fill(entry: ResidentScope, scope: ScopeFilter, rows: readonly StoredMemory[], images: ReadonlyArray<ReadonlyMap<string, StoredMemory | null>>): void {
  for (const memory of rows) entry.put(residentRow(memory))
  for (const changed of images) {
    for (const [id, memory] of changed) {
      if (memory && inScope(memory, scope)) entry.put(residentRow(memory))
      else if (!memory) entry.remove(id)
    }
  }
}

/**
 * The scope-resident index: scopes that are searched are loaded whole (superseded memories
 * included) and kept current by the writer's commits, which it hears before it acknowledges them,
 * so a resident search needs no store read and sees every acknowledged write. Least recently used
 * scopes are evicted past the budget. Scopes over `maxScopeRows`, and everything when the budget
 * is 0, are searched in the vector store. `invalidate` is the seam for writes made elsewhere
 * (another process on the same store): it drops what they may have changed, and the next read
 * reloads it.
 */
export class ResidentCache {
  private readonly slots = new Map<string, Slot>()
  /**
   * Tenant + id -> a resident slot holding that row: any one will do, as every resident scope
   * holding a row is current. Memory.get reads a row there instead of querying the store.
   */
  private readonly holders = new Map<string, Slot>()
  /** Scopes last seen over maxScopeRows, with their row count (kept current by commits). */
  private readonly oversized = new Map<string, number>()
  /**
   * Scopes a whole-scope read found too big to rank by their texts (search/searcher.ts), oldest
   * first. A hint, so nothing keeps it current (a scope that shrank is only searched as before).
   */
  private readonly wide = new Map<string, true>()
  /**
   * Scopes last counted over firstReadLoadRows, oldest first: with the budget nearly full their
   * reads go to the store uncounted (a hint, as `wide` is: a scope that shrank is searched as before).
   */
  private readonly notSmall = new Map<string, true>()
  private readonly tenantStats = new Map<string, TenantStats>()
  /** Scopes read recently but not resident, with their read counts, oldest first (admission). */
  private readonly recent = new Map<string, number>()
  private backgroundLoads = 0
  private loadNotBefore = 0
  private readonly statsLoading = new Map<string, Promise<CorpusStats>>()
  private usedBytes = 0
  private counters = { hits: 0, loads: 0, evictions: 0, storeSearches: 0, invalidations: 0 }
  /** Bumped by every invalidation and clear: a load that began before one does not become resident. */
  private epoch = 0

  constructor(
    private readonly source: ResidentSource,
    private readonly options: ResidentCacheOptions,
  ) {}

  get enabled(): boolean {
    return this.options.budgetBytes > 0
  }

  /**
   * The resident index of a scope, or undefined when the store serves this read. A small scope
   * (`firstReadLoadRows`, counted by one indexed query) is loaded by the read that finds it not
   * resident, which waits: that costs less than the store search it replaces. With the budget
   * nearly full it is read whole for that read only (readOnce): a load would evict a scope read
   * more than once. A bigger scope is not: loading a scope of 1,000 memories spread over a 1M-row
   * table reads 1,000 scattered rows (~85 ms, several store searches), so only a scope read again
   * while it is still remembered as recently read is loaded, in the background (no such read
   * waits for the load unless it asks to: `wait`, as `Memory.warm` does).
   */
  async scope(scope: ScopeFilter, options: { wait?: boolean; admit?: boolean } = {}): Promise<ResidentScope | undefined> {
    if (!this.enabled) return undefined
    const held = this.resident(scope)
    if (held) {
      this.counters.hits++
      return held
    }
    const key = scopeKey(scope)
    const slot = this.slots.get(key)
    if (slot?.loading) {
      if (options.wait) return slot.loading
      // A small scope's load costs less than a store search: a read waits for it (an add does not).
      if (slot.awaited && !options.admit) return this.orStore(slot.loading)
      return this.storeServes(options)
    }
    if (this.oversized.has(key)) return this.storeServes(options)
    // The scope's own rows, superseded ones included, whatever the read asks for.
    const whole = { tenantId: scope.tenantId, userId: scope.userId, agentId: scope.agentId, runId: scope.runId }
    const nearlyFull = () => this.usedBytes >= this.options.budgetBytes * 0.9
    // Counted by one indexed query: a small scope's read is served by reading it whole, kept or not.
    let small = false
    if (!options.wait && !options.admit && !(nearlyFull() && this.notSmall.has(key))) {
      small = await this.small(key, whole)
      // Other loads may have filled the budget during the count.
      if (small && !nearlyFull()) {
        this.reads(key)
        // Another read of the scope may have started loading it meanwhile, or finished.
        const now = this.slots.get(key)
        if (now?.loading) return this.orStore(now.loading)
        if (now && !now.buffer) return this.scope(scope, options)
        return this.orStore(this.load(key, whole, { awaited: true }))
      }
      if (this.oversized.has(key)) return this.storeServes(options)
    }
    const full = nearlyFull()
    // Background loads go one at a time, and only for scopes read again (more often when the
    // budget is full and a load would evict another scope): a workload spread over more scopes
    // than fit keeps reading the store instead of loading and evicting scopes without end.
    // With the budget full, loads also take at most a fifth of the time (after one of D ms the
    // next waits 4D): a load would evict another scope, and the store serves reads meanwhile.
    // A small scope not loaded is still read whole for this read, and not kept.
    const wanted = full ? 3 : 2
    const busy = this.backgroundLoads > 0 || (full && performance.now() < this.loadNotBefore)
    if (!options.wait && ((!options.admit && this.reads(key) < wanted) || busy)) return small ? this.orStore(this.readOnce(whole)) : this.storeServes(options)
    const loading = this.load(key, whole, { awaited: small })
    if (options.wait) return loading
    this.backgroundLoads++
    const started = performance.now()
    const loaded = loading.finally(() => {
      this.backgroundLoads--
      this.loadNotBefore = performance.now() + 4 * (performance.now() - started)
    })
    // A small scope's read waits for its load, as its first read would have.
    if (small) return this.orStore(loaded)
    loaded.catch((e: unknown) => this.options.logger.warn('memory.resident_load_failed', { error: String(e) }))
    return this.storeServes(options)
  }

  /** A search another thread answered from its mirror of a resident scope: a hit as well. */
  countHit(): void {
    this.counters.hits++
  }

  /**
   * The scope's index if it is resident now, else undefined: no load and no count. A list or a
   * count reads it when it is there (Memory.getAll), and needs no index to be served otherwise.
   */
  resident(scope: ScopeFilter): ResidentScope | undefined {
    if (!this.enabled) return undefined
    const key = scopeKey(scope)
    const slot = this.slots.get(key)
    if (!slot || slot.buffer) return undefined
    // Recently used. Not counted as a hit here: hits count searches (agentmem_resident_hits_total).
    this.slots.delete(key)
    this.slots.set(key, slot)
    return slot.entry
  }

  /**
   * The row with this id if a resident scope holds it (every acknowledged write laid over it, as
   * for a search), else undefined: the store has it, or not.
   */
  row(tenantId: string, id: string): StoredMemory | undefined {
    const slot = this.holders.get(rowKey(tenantId, id))
    return slot && this.live(slot) ? slot.entry.rows.get(id)?.memory : undefined
  }

  /** Resident and still in the cache: a dropped slot stops taking commits, so it is never read. */
  private live(slot: Slot): boolean {
    return !slot.buffer && this.slots.get(slot.key) === slot
  }

  /**
   * Whether the scope holds few enough memories to load at once (a count over maxScopeRows is kept,
   * as a load would keep it). A failed count says no: the store search reports the failure.
   */
  private async small(key: string, whole: ScopeFilter): Promise<boolean> {
    const epoch = this.epoch
    const rows = await this.source
      .vectors()
      .count(whole, undefined)
      .catch(() => Number.POSITIVE_INFINITY)
    // An invalidation during the count may have dropped what it read.
    if (rows > this.options.maxScopeRows && Number.isFinite(rows) && epoch === this.epoch) this.oversized.set(key, rows)
    const small = rows <= Math.min(firstReadLoadRows, this.options.maxScopeRows)
    if (small) this.notSmall.delete(key)
    else if (Number.isFinite(rows)) remember(this.notSmall, key)
    return small
  }

  /** The store serves this read; an add or a list asking for its scope's load (`admit`) is no search. */
  private storeServes(options: { admit?: boolean }): undefined {
    if (!options.admit) this.counters.storeSearches++
    return undefined
  }

  /** A load a read waits for: if it fails, or ends not resident, the store serves the read (and reports what is wrong). */
  private orStore(loading: Promise<ResidentScope | undefined>): Promise<ResidentScope | undefined> {
    return loading.then(
      (entry) => entry,
      (e: unknown) => {
        this.options.logger.warn('memory.resident_load_failed', { error: String(e) })
        this.counters.storeSearches++
        return undefined
      },
    )
  }

  /** Whether the scope was last seen holding more than `maxScopeRows` memories (so the store serves it). */
  knownOversized(scope: ScopeFilter): boolean {
    return this.oversized.has(scopeKey(scope))
  }

  /** A read found the scope holds more than `maxScopeRows` memories (a lower bound: commits keep the count). */
  foundOversized(scope: ScopeFilter): void {
    const key = scopeKey(scope)
    if (!this.oversized.has(key)) this.oversized.set(key, this.options.maxScopeRows + 1)
  }

  /** Whether a whole read of this scope was last found too big to rank by its texts. */
  knownWide(scope: ScopeFilter): boolean {
    return this.wide.has(scopeKey(scope))
  }

  foundWide(scope: ScopeFilter): void {
    // Bounded like the recent reads: forgetting a wide scope costs one slower search of it.
    remember(this.wide, scopeKey(scope))
  }

  get maxScopeRows(): number {
    return this.options.maxScopeRows
  }

  /** How often this scope was read recently, this read included. */
  private reads(key: string): number {
    const count = (this.recent.get(key) ?? 0) + 1
    this.recent.delete(key)
    this.recent.set(key, count)
    if (this.recent.size > recentReadsKept) this.recent.delete(this.recent.keys().next().value as string)
    return count
  }

  /** A resident scope holding every row of `memory`'s exact scope, if one is loaded (for duplicate checks). */
  covering(memory: StoredMemory): ResidentScope | undefined {
    for (const key of keysOf(memory)) {
      const slot = this.slots.get(key)
      if (slot && !slot.buffer) return slot.entry
    }
    return undefined
  }

  /** Keyword statistics of a tenant's live memories, built on first use (one scan of its texts). */
  async stats(tenantId: string): Promise<CorpusStats> {
    const ready = this.tenantStats.get(tenantId)
    if (ready) return ready.stats
    let loading = this.statsLoading.get(tenantId)
    if (!loading) {
      const epoch = this.epoch
      const asked = performance.now()
      // The scan reads the store with no write under way. Where a replica follows, no commit runs
      // during it either and every earlier one is in the store. Otherwise commits go on, and the
      // groups the store lacks at its end are counted from their images. Either way the scan is
      // exact, and commits after it update the statistics (see committed): a scan of 1M texts
      // (12.7 s) held every commit when it was always exclusive.
      const writer = this.source.writer
      const count = async () => {
        const started = performance.now()
        const stats = new CorpusStats()
        const vectors = this.source.vectors()
        const version = await vectors.version()
        for await (const texts of vectors.scanTexts(tenantId)) for (const text of texts) stats.add(countTerms(tokenize(text)))
        // From here to setting the statistics nothing awaits: no commit falls between the two.
        for (const images of writer?.unapplied() ?? []) {
          for (const { before, after } of images.values()) {
            if ((after ?? before)?.tenantId !== tenantId || before?.text === after?.text) continue
            if (before) stats.remove(countTerms(tokenize(before.text)))
            if (after) stats.add(countTerms(tokenize(after.text)))
          }
        }
        if (epoch === this.epoch) {
          this.tenantStats.set(tenantId, { stats, version })
          this.options.onChange?.({ kind: 'stats', tenantId, stats: stats.snapshot() })
        }
        // Every search of the tenant waits for this: a slow one is worth seeing at the default level.
        const [waitedMs, scanMs] = [Math.round(started - asked), Math.round(performance.now() - started)]
        this.options.logger[waitedMs + scanMs >= 1_000 ? 'info' : 'debug']('memory.stats_counted', { tenantId, memories: stats.size, waitedMs, scanMs })
        return stats
      }
      loading = (writer ? writer.readAlone(count) : this.source.exclusive(count)).finally(() => this.statsLoading.delete(tenantId))
      this.statsLoading.set(tenantId, loading)
    }
    return loading
  }

  /** Called by the writer for every commit, before it is acknowledged. */
  committed(images: ReadonlyMap<string, RowImage>): void {
    this.lay(images, (tenantId) => this.tenantStats.get(tenantId)?.stats)
  }

  /**
   * A follower heard the leader's row images of one apply, which moved the store from version
   * `from` to `to`. Images are whole rows, so resident scopes take them whether or not their load
   * read them already. Statistics are counts: those counted at `from` take the change; those
   * counted at `to` or later have it; any others are dropped (the next search counts again).
   */
  followed(images: ReadonlyMap<string, RowImage>, from: number, to: number): void {
    const current = this.advanceStats(from, to)
    // Counts of scopes over the row limit are not idempotent either: they are read again.
    for (const image of images.values()) for (const key of keysOf((image.after ?? image.before) as StoredMemory)) this.oversized.delete(key)
    this.lay(images, (tenantId) => (current.has(tenantId) ? this.tenantStats.get(tenantId)?.stats : undefined))
  }

  /**
   * A follower heard the rows of a group the leader journaled, not in the store yet: resident
   * scopes take them now; the keyword statistics take them with the group's apply (`followed`),
   * whose version step tells whether they were counted before it.
   */
  followedCommit(images: ReadonlyMap<string, RowImage>): void {
    for (const image of images.values()) for (const key of keysOf((image.after ?? image.before) as StoredMemory)) this.oversized.delete(key)
    this.lay(images, () => undefined)
  }

  /**
   * A follower read a bulk group's deletes from the journal: ids, and the scopes they are in, not
   * which is in which. Resident scopes overlapping those drop the ids now (a missing id is a no-op);
   * the statistics take them at the group's apply.
   */
  followedDeletes(deletes: BulkDeletes): void {
    for (const scope of deletes.scopes) for (const key of this.oversized.keys()) if (key.startsWith(`${scope.tenantId}\u0000`)) this.oversized.delete(key)
    const keys: string[] = []
    for (const slot of this.slots.values()) {
      if (!deletes.scopes.some((scope) => scopesOverlap(scope, slot.scope))) continue
      if (slot.buffer) slot.buffer.push(new Map(deletes.ids.map((id) => [id, null])))
      else keys.push(slot.key)
    }
    this.removeIds(keys, deletes.ids)
    if (keys.length > 0) this.options.onChange?.({ kind: 'deletes', keys, ids: deletes.ids })
  }

  /** Removes the ids from these resident scopes. */
  private removeIds(keys: readonly string[], ids: readonly string[]): void {
    for (const key of keys) {
      const slot = this.slots.get(key)
      if (!slot || slot.buffer) continue
      this.usedBytes -= slot.entry.bytes
      for (const id of ids) {
        slot.entry.remove(id)
        this.unhold(rowKey(slot.scope.tenantId, id), slot)
      }
      this.usedBytes += slot.entry.bytes
    }
  }

  /**
   * A follower heard the texts an apply changed, without the rows (too many for a notice): the
   * statistics take them as `followed` does; the caller drops the touched scopes.
   */
  followedTexts(texts: ReadonlyArray<{ tenantId: string; before: string | null; after: string | null }>, from: number, to: number): void {
    const current = this.advanceStats(from, to)
    this.countTexts(texts, current)
    if (current.size > 0) this.options.onChange?.({ kind: 'texts', texts, stats: [...current] })
  }

  /** Changed texts into the statistics of the `current` tenants. */
  private countTexts(texts: ReadonlyArray<{ tenantId: string; before: string | null; after: string | null }>, current: ReadonlySet<string>): void {
    for (const { tenantId, before, after } of texts) {
      const stats = current.has(tenantId) ? this.tenantStats.get(tenantId)?.stats : undefined
      if (!stats || before === after) continue
      if (before !== null) stats.remove(countTerms(tokenize(before)))
      if (after !== null) stats.add(countTerms(tokenize(after)))
    }
  }

  /** Moves the statistics counted at `from` to `to` and returns their tenants; drops those neither there nor past `to`. */
  private advanceStats(from: number, to: number): Set<string> {
    const current = new Set<string>()
    for (const [tenantId, entry] of this.tenantStats) {
      if (entry.version >= to) continue
      if (entry.version === from) {
        entry.version = to
        current.add(tenantId)
      } else this.dropStats(tenantId)
    }
    return current
  }

  /** Lays row images over the resident scopes, and over the statistics `statsOf` gives. */
  private lay(images: ReadonlyMap<string, RowImage>, statsOf: (tenantId: string) => CorpusStats | undefined): void {
    // What a mirror needs told: the tenants whose statistics took these images, and whether any resident scope did.
    const counted = this.options.onChange ? new Set<string>() : undefined
    let laid = false
    for (const [id, { before, after }] of images) {
      const memory = (after ?? before) as StoredMemory
      let row: ResidentRow | undefined
      const resident = () => {
        row ??= after ? residentRow(after) : undefined
        return row
      }
      const stats = statsOf(memory.tenantId)
      if (stats) counted?.add(memory.tenantId)
      if (stats && before?.text !== after?.text) {
        if (before) stats.remove(countTerms(tokenize(before.text)))
        if (after) stats.add((resident() as ResidentRow).counts)
      }
      // Scope columns never change, so a row belongs to the same scopes before and after.
      for (const key of keysOf(memory)) {
        const count = this.oversized.get(key)
        if (count !== undefined) {
          const next = count + (before ? 0 : 1) - (after ? 0 : 1)
          if (next > this.options.maxScopeRows) this.oversized.set(key, next)
          else this.oversized.delete(key)
        }
        const slot = this.slots.get(key)
        if (!slot) continue
        if (slot.buffer) {
          slot.buffer.push(new Map([[id, after]]))
          continue
        }
        laid = true
        this.usedBytes -= slot.entry.bytes
        if (after) {
          slot.entry.put(resident() as ResidentRow)
          this.hold(rowKey(memory.tenantId, id), slot)
        } else {
          slot.entry.remove(id)
          // Every scope of the row is among its keys: none holds it once the loop ends.
          this.unhold(rowKey(memory.tenantId, id), slot)
        }
        this.usedBytes += slot.entry.bytes
      }
    }
    if (counted && (laid || counted.size > 0)) this.options.onChange?.({ kind: 'lay', images, stats: [...counted] })
    this.evict()
  }

  /**
   * Drops what writes made elsewhere may have changed: the scopes overlapping `scope` (every scope
   * of the tenant when only the tenant is given) and, unless notices keep them current
   * (`keepStats`), the tenant's keyword statistics. The next read reloads them from the store.
   */
  invalidate(scope: ScopeFilter, options: { keepStats?: boolean } = {}): void {
    this.epoch++
    this.counters.invalidations++
    if (!options.keepStats) this.dropStats(scope.tenantId)
    for (const [key, slot] of this.slots) if (scopesOverlap(scope, slot.scope)) this.drop(key, slot)
    for (const key of this.oversized.keys()) if (key.startsWith(`${scope.tenantId}\u0000`)) this.oversized.delete(key)
  }

  /** Drops everything (after a re-embed: every vector changed). */
  clear(): void {
    this.epoch++
    // First, so that no drop hands its rows on to a scope about to go too.
    this.holders.clear()
    for (const [key, slot] of this.slots) this.drop(key, slot)
    this.oversized.clear()
    this.wide.clear()
    this.notSmall.clear()
    this.tenantStats.clear()
    this.options.onChange?.({ kind: 'clear' })
  }

  usage(): ResidentCacheStats {
    let rows = 0
    for (const slot of this.slots.values()) if (!slot.buffer) rows += slot.entry.rows.size
    let statsBytes = 0
    for (const { stats } of this.tenantStats.values()) statsBytes += stats.bytes
    return { budgetBytes: this.options.budgetBytes, usedBytes: this.usedBytes, scopes: this.slots.size, rows, statsBytes, ...this.counters }
  }

  private drop(key: string, slot: Slot): void {
    this.slots.delete(key)
    if (slot.buffer) return
    this.options.onChange?.({ kind: 'drop', key })
    this.usedBytes -= slot.entry.bytes
    // Rows this slot answered Memory.get for: another resident scope of theirs answers now, if any.
    for (const [id, { memory }] of slot.entry.rows) {
      const held = rowKey(memory.tenantId, id)
      if (this.holders.get(held) !== slot) continue
      this.holders.delete(held)
      for (const other of keysOf(memory)) {
        const next = this.slots.get(other)
        if (next && !next.buffer && next.entry.rows.has(id)) {
          this.holders.set(held, next)
          break
        }
      }
    }
  }

  /** A slot whose rows are all laid: resident from now on, commits go to it directly. */
  private adopt(slot: Slot): void {
    slot.buffer = undefined
    for (const [id, { memory }] of slot.entry.rows) this.hold(rowKey(memory.tenantId, id), slot)
    this.options.onChange?.({ kind: 'resident', key: slot.key, scope: slot.scope, rows: [...slot.entry.rows.values()].map((row) => row.memory) })
  }

  private dropStats(tenantId: string): void {
    if (this.tenantStats.delete(tenantId)) this.options.onChange?.({ kind: 'statsDrop', tenantId })
  }

  /**
   * Replays a change another cache told (`options.onChange`), in order: this cache then holds what
   * that one holds. A mirror never loads, counts or evicts on its own. Each vector is copied out of
   * the buffer it came in: a row's vector is a view into its embedding batch's or its read's
   * buffer, and cloning the view carried the whole buffer.
   */
  replay(change: MirroredChange): void {
    switch (change.kind) {
      case 'resident': {
        const existing = this.slots.get(change.key)
        if (existing) this.drop(change.key, existing)
        const slot: Slot = { key: change.key, scope: change.scope, entry: new ResidentScope(), buffer: [], loading: undefined, awaited: false }
        for (const memory of change.rows) slot.entry.put(residentRow({ ...memory, vector: memory.vector.slice() }))
        this.slots.set(change.key, slot)
        this.usedBytes += slot.entry.bytes
        this.adopt(slot)
        break
      }
      case 'lay': {
        const counted = new Set(change.stats)
        for (const image of change.images.values()) if (image.after) image.after.vector = image.after.vector.slice()
        this.lay(change.images, (tenantId) => (counted.has(tenantId) ? this.tenantStats.get(tenantId)?.stats : undefined))
        break
      }
      case 'deletes':
        this.removeIds(change.keys, change.ids)
        break
      case 'drop': {
        const slot = this.slots.get(change.key)
        if (slot) this.drop(change.key, slot)
        break
      }
      case 'clear':
        this.clear()
        break
      case 'stats':
        this.tenantStats.set(change.tenantId, { stats: CorpusStats.from(change.stats), version: -1 })
        break
      case 'statsDrop':
        this.dropStats(change.tenantId)
        break
      case 'texts':
        this.countTexts(change.texts, new Set(change.stats))
        break
    }
  }

  /** The keyword statistics of a tenant if counted, else undefined (no scan): what a mirror searches with. */
  countedStats(tenantId: string): CorpusStats | undefined {
    return this.tenantStats.get(tenantId)?.stats
  }

  private hold(held: string, slot: Slot): void {
    const current = this.holders.get(held)
    if (!current || !this.live(current)) this.holders.set(held, slot)
  }

  private unhold(held: string, slot: Slot): void {
    if (this.holders.get(held) === slot) this.holders.delete(held)
  }

  /**
   * Registers the slot first, so commits from then on are buffered; then lays the writer's pending
   * images over what the store returns, then the buffer. Images are whole rows, so applying one the
   * store already had is harmless: the result is every committed write, in order.
   */
  private load(key: string, scope: ScopeFilter, { awaited = false } = {}): Promise<ResidentScope | undefined> {
    const slot: Slot = { key, scope, entry: new ResidentScope(), buffer: [], loading: undefined, awaited }
    const epoch = this.epoch
    slot.loading = (async () => {
      try {
        const pending = this.source.pending()
        const vectors = this.source.vectors()
        // One read: a scope that returns more than the limit is oversized (its exact count is then read once).
        const rows = await vectors.list(scope, undefined, undefined, this.options.maxScopeRows + 1)
        if (rows.length > this.options.maxScopeRows) {
          this.oversized.set(key, await vectors.count(scope, undefined))
          this.counters.storeSearches++
          return undefined
        }
        const entry = slot.entry
        fill(entry, scope, rows, [...pending, ...(slot.buffer ?? [])])
        // Writes not applied to the store yet (a bulk load) can take a scope over the limit too.
        if (entry.rows.size > this.options.maxScopeRows) {
          if (epoch === this.epoch) this.oversized.set(key, entry.rows.size)
          this.counters.storeSearches++
          return undefined
        }
        if (epoch !== this.epoch || this.slots.get(key) !== slot) return undefined
        this.counters.loads++
        this.usedBytes += entry.bytes
        this.adopt(slot)
        this.evict(key)
        return entry
      } finally {
        slot.loading = undefined
        // Not resident (over the size limit, invalidated, failed): forget it unless a newer load took its place.
        if (slot.buffer && this.slots.get(key) === slot) this.slots.delete(key)
      }
    })()
    this.slots.set(key, slot)
    return slot.loading
  }

  /**
   * A small scope read whole for one search and not kept, when the budget is nearly full: a load
   * would evict a scope read more than once, and the read costs less than a store search. Writes
   * acknowledged and not applied yet are laid over it, as over a load; later ones need not show.
   * Undefined (the store serves the read) if the scope grew past `limit` rows since its count.
   */
  private async readOnce(scope: ScopeFilter): Promise<ResidentScope | undefined> {
    const pending = this.source.pending()
    const limit = Math.min(firstReadLoadRows, this.options.maxScopeRows)
    const rows = await this.source.vectors().list(scope, undefined, undefined, limit + 1)
    // Served by the store, read whole (a failed read is counted by orStore).
    this.counters.storeSearches++
    if (rows.length > limit) return undefined
    const entry = new ResidentScope()
    fill(entry, scope, rows, pending)
    return entry.rows.size > this.options.maxScopeRows ? undefined : entry
  }

  /** Least recently used first, never a scope still loading; `keep` (just loaded) goes last, only if it alone is over budget. */
  private evict(keep?: string): void {
    for (const [key, slot] of this.slots) {
      if (this.usedBytes <= this.options.budgetBytes) return
      if (slot.buffer || key === keep) continue
      this.drop(key, slot)
      this.counters.evictions++
    }
    const kept = keep === undefined ? undefined : this.slots.get(keep)
    if (kept && !kept.buffer && this.usedBytes > this.options.budgetBytes) {
      this.drop(keep as string, kept)
      this.counters.evictions++
    }
  }
}
