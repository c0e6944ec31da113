import { MemoryError, MemoryErrorCode } from '../errors.js'
import { type OpenedStores, openStores, type StoreLocation } from './open-stores.js'
import type { Manifest, MetadataStore, VectorStore } from './types.js'

/** Row counts of what a copy moves, per table. */
export interface StoreCounts {
  memories: number
  history: number
  jobs: number
}

export interface CopyProgress {
  table: keyof StoreCounts
  /** Rows of this table in the target so far. */
  done: number
  total: number
}

export interface CopyStoreOptions {
  /** Rows per read and per write (one commit each). Default 500. */
  batchSize?: number
  onProgress?: (progress: CopyProgress) => void
  /** Stops between batches; a later run resumes where this one stopped. */
  signal?: AbortSignal
  /** More to copy while both stores are held, after the memory tables (the server's API keys). */
  alongside?: () => Promise<void>
}

export interface CopyStoreResult {
  manifest: Manifest
  source: StoreCounts
  target: StoreCounts
  /** Whether the target already held part of this copy (an earlier, interrupted run). */
  resumed: boolean
}

/**
 * Copies a store to another location (local folder to PostgreSQL + S3, or back) exactly as it is
 * stored: ids, scopes, times, superseded rows, dedup keys and vectors (never re-embedded), the
 * manifest, history with its ids and purged flags, inference jobs.
 *
 * Both stores are opened as Memory.open would (refused while a process serves either), and the
 * source's pending journal entries are replayed first. Resumable without a checkpoint of its own:
 * every table is copied in id order, one commit per batch, so the target's last id is where a
 * re-run continues, and writes are upserts by primary key, so nothing is ever copied twice.
 * Ends by comparing row counts per table; a mismatch is an error.
 */
export async function copyStore(from: StoreLocation, to: StoreLocation, options: CopyStoreOptions = {}): Promise<CopyStoreResult> {
  const batchSize = options.batchSize ?? 500
  const opened: Array<() => unknown> = []
  try {
    const source = await openExclusive(from, 'source')
    opened.push(() => source.close())
    const target = await openExclusive(to, 'target')
    opened.push(() => target.close())
    const manifest = await source.metadata.getManifest()
    if (!manifest) throw new MemoryError(MemoryErrorCode.InvalidInput, 'The source holds no store (no manifest): nothing to migrate')
    const sourceVectors = await source.provider.open(manifest.vectorTable, manifest.dimensions)
    opened.push(() => sourceVectors.close())
    await replayJournal(source.metadata, sourceVectors)
    const resumed = await checkTarget(source.metadata, target.metadata, manifest)
    await target.metadata.setManifest(manifest)
    const targetVectors = await target.provider.open(manifest.vectorTable, manifest.dimensions)
    opened.push(() => targetVectors.close())

    const total = await counts(source.metadata, sourceVectors)
    const before = await counts(target.metadata, targetVectors)
    const stats = await target.metadata.tableStats()
    /** Writes each batch to the target, between checks of the signal; progress counts the target's rows. */
    const copy = async <T>(table: keyof StoreCounts, batches: AsyncIterable<T[]>, write: (batch: T[]) => Promise<void>) => {
      let done = before[table]
      options.onProgress?.({ table, done, total: total[table] })
      for await (const batch of batches) {
        options.signal?.throwIfAborted()
        await write(batch)
        done += batch.length
        options.onProgress?.({ table, done, total: total[table] })
      }
    }
    // Each write is one commit (a Lance version, a transaction), so the target's last id is exactly how far an earlier run got.
    await copy('memories', sourceVectors.scan(batchSize, await targetVectors.lastId()), (inserts) => targetVectors.apply({ inserts, updates: [], deletes: [] }))
    await copy(
      'history',
      pages(
        stats.lastHistoryId,
        (after) => source.metadata.historyRows(after, batchSize),
        (row) => row.id,
      ),
      (rows) => target.metadata.putHistoryRows(rows),
    )
    await copy(
      'jobs',
      pages(
        stats.lastJobId ?? '',
        (after) => source.metadata.jobRows(after, batchSize),
        (job) => job.id,
      ),
      (jobs) => target.metadata.putJobs(jobs),
    )
    options.signal?.throwIfAborted()
    await options.alongside?.()

    const copied = await counts(target.metadata, targetVectors)
    const differing = (Object.keys(total) as Array<keyof StoreCounts>).filter((table) => total[table] !== copied[table])
    if (differing.length > 0) {
      throw new MemoryError(
        MemoryErrorCode.StorageFailed,
        `The copy's row counts differ from the source's (${differing.join(', ')}); was the source written to between runs? Copy again into an empty target`,
        {
          details: { source: total, target: copied },
        },
      )
    }
    return { manifest, source: total, target: copied, resumed }
  } finally {
    for (const close of opened.reverse()) await close()
  }
}

/** Pages of rows in id order after `after`. */
async function* pages<TRow, TId>(after: TId, read: (after: TId) => Promise<TRow[]>, idOf: (row: TRow) => TId): AsyncIterable<TRow[]> {
  let cursor = after
  for (;;) {
    const rows = await read(cursor)
    const last = rows.at(-1)
    if (last === undefined) return
    yield rows
    cursor = idOf(last)
  }
}

/** Opens a store as its one writer: the folder lock, or the lead of its PostgreSQL replicas. Refused (MEMORY_LOCKED) while a process serves it. */
async function openExclusive(location: StoreLocation, role: 'source' | 'target'): Promise<OpenedStores> {
  const stores = await openStores(location)
  if (stores.cluster && !(await stores.cluster.tryLead(undefined).catch(() => false))) {
    await stores.close()
    throw new MemoryError(MemoryErrorCode.Locked, `The ${role} store is open in another process; stop every server on it first`)
  }
  return stores
}

/** What Memory.open does first: journal entries a crash left between the metadata commit and the vector write reach the vectors. */
async function replayJournal(metadata: MetadataStore, vectors: VectorStore): Promise<void> {
  for (const { seq, change } of await metadata.pendingChanges()) {
    await vectors.apply(change, { replay: true })
    metadata.markApplied(seq)
  }
}

/**
 * A target is new (no manifest) or an earlier run's copy of this source: same manifest, and its
 * first history row is the source's. Anything else is another store, which a copy would corrupt.
 */
async function checkTarget(source: MetadataStore, target: MetadataStore, manifest: Manifest): Promise<boolean> {
  const existing = await target.getManifest()
  if (!existing) return false
  const [theirs] = await target.historyRows(0, 1)
  const [ours] = await source.historyRows(0, 1)
  const same =
    existing.embeddingModel === manifest.embeddingModel &&
    existing.dimensions === manifest.dimensions &&
    existing.vectorTable === manifest.vectorTable &&
    (theirs === undefined || (theirs.id === ours?.id && theirs.memoryId === ours.memoryId && theirs.createdAt === ours.createdAt))
  if (!same) throw new MemoryError(MemoryErrorCode.InvalidInput, 'The target already holds another store; migrate into an empty one')
  return true
}

async function counts(metadata: MetadataStore, vectors: VectorStore): Promise<StoreCounts> {
  const stats = await metadata.tableStats()
  return { memories: await vectors.countRows(), history: stats.historyRows, jobs: stats.jobRows }
}
