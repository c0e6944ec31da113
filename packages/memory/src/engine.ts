/**
 * @module The engine every tenant view of one store shares, and how a process takes a store on:
 * its manifest, the replay of what a crash left in the journal, leading (writing), and the hooks
 * replication drives.
 */
import type { Embedder, Logger } from '@agentmem/embeddings'
import type { Calls } from './calls.js'
import { MemoryError, MemoryErrorCode } from './errors.js'
import { Inference } from './inference/inference.js'
import { LlmClient } from './inference/llm-client.js'
import type { MemoryConfig } from './options.js'
import { notLeading, type ReplicaEngine, type Replication } from './replication.js'
import type { ResidentCache } from './search/resident-cache.js'
import type { SearchThread } from './search/search-thread.js'
import type { Manifest, MetadataStore, VectorStore, VectorStoreProvider } from './store/types.js'
import { mergeChanges, Writer } from './writer.js'

export const schemaVersion = 1

/** What every tenant view of one store shares. */
export interface Engine {
  config: MemoryConfig
  logger: Logger
  embedder: Embedder
  ownsEmbedder: boolean
  provider: VectorStoreProvider
  vectors: VectorStore
  metadata: MetadataStore
  writer: Writer
  /** The scope-resident index (search/resident-cache.ts), kept current by the writer. */
  cache: ResidentCache
  /** Searches resident scopes on a second thread (`resident.searchThread`), from a mirror of `cache`. */
  searchThread: SearchThread | undefined
  /** Memory.search calls under way (of every tenant's view): the search thread takes searches when there are several. */
  searchesUnderWay: number
  /** Present when an LLM is configured and this process writes. */
  inference: Inference | undefined
  /** Present when the store is on PostgreSQL: who leads the processes sharing it. */
  replication: Replication | undefined
  /** Closes the metadata store and releases the store's ownership. */
  closeStores: () => Promise<void>
  closed: boolean
  /** Public calls under way: close() waits for them. */
  calls: Calls
}

export async function loadManifest(metadata: MetadataStore, embedder: Embedder): Promise<Manifest> {
  const manifest = await metadata.getManifest()
  if (!manifest) {
    const fresh = { schemaVersion, embeddingModel: embedder.modelId, dimensions: embedder.dimensions, vectorTable: 'memories' }
    await metadata.setManifest(fresh)
    return fresh
  }
  if (manifest.embeddingModel !== embedder.modelId || manifest.dimensions !== embedder.dimensions) {
    throw new MemoryError(
      MemoryErrorCode.EmbedderMismatch,
      `This store was built with ${manifest.embeddingModel} (${manifest.dimensions} dimensions) but was opened with ${embedder.modelId} (${embedder.dimensions} dimensions). Open it with the original model, then call memory.reembed(newEmbedder) to migrate.`,
      {
        details: {
          stored: { model: manifest.embeddingModel, dimensions: manifest.dimensions },
          given: { model: embedder.modelId, dimensions: embedder.dimensions },
        },
      },
    )
  }
  return manifest
}

/**
 * Replays journal entries a crash left between the metadata commit and the LanceDB write, as one
 * write: each LanceDB write is a version (~0.3 s on object storage), and a takeover waits for them.
 */
async function recover(metadata: MetadataStore, vectors: VectorStore, logger: Logger): Promise<void> {
  const pending = await metadata.pendingChanges()
  const last = pending.at(-1)
  if (!last) return
  const change = mergeChanges(
    pending.map((entry) => entry.change),
    { replay: true },
  )
  await vectors.apply(change, { replay: true })
  metadata.markApplied(last.seq)
  logger.info('memory.recovered', { entries: pending.length, through: last.seq, rows: change.inserts.length + change.updates.length + change.deletes.length })
}

export function newWriter(vectors: VectorStore, metadata: MetadataStore, config: MemoryConfig, logger: Logger, replication: Replication | undefined): Writer {
  return new Writer(vectors, metadata, {
    maintenanceEveryRows: config.maintenanceEveryRows,
    maintenanceEveryCommits: config.maintenanceEveryCommits,
    annIndexThreshold: config.annIndexThreshold,
    logger,
    onApplied: replication && ((change) => replication.applied(change)),
    onCommitted: replication && ((seq, images) => replication.committed(seq, images)),
    onMaintenanceStart: replication && (() => replication.maintenanceStarted()),
  })
}

/**
 * Makes this process the store's writer: at open, or when a follower takes over from a vanished
 * leader. Replays what the journal holds (a crash, or the previous leader's acknowledged writes),
 * then starts the writer's background work.
 */
export async function lead(engine: Engine, options: { takeover?: boolean } = {}): Promise<void> {
  const { metadata, provider, logger, config } = engine
  await recover(metadata, engine.vectors, logger)
  // A re-embed that crashed before switching leaves its half-filled table behind.
  const manifest = await metadata.getManifest()
  for (const name of await provider.tableNames()) if (manifest && name !== manifest.vectorTable) await provider.drop(name)
  // The writer's duplicate lookups trust the index for every row it did not write itself:
  // rows left unindexed by an earlier process (or a replay) are indexed before any write.
  // A takeover must not keep writes waiting for a maintenance (seconds on object storage before
  // the first apply): duplicate lookups scan the unindexed rows until the writer's routine
  // maintenance comes due.
  if ((await engine.vectors.unindexedRows()) > 0) {
    if (options.takeover) engine.writer.distrustIndex()
    else await engine.writer.maintain()
  }
  engine.writer.learnStoredKeys()
  if (config.llm) {
    engine.inference = new Inference({
      llm: config.llm instanceof LlmClient ? config.llm : new LlmClient(config.llm),
      embedder: () => engine.embedder,
      vectors: () => engine.vectors,
      metadata,
      writer: engine.writer,
      logger,
      settled: () => engine.writer.settled(),
      config: config.inference,
    })
    // Jobs an earlier process left queued or pending resume now.
    engine.inference.start()
  }
}

/** How replication drives the engine (replication.ts). */
export function replicaEngine(engine: () => Engine): ReplicaEngine {
  return {
    get logger() {
      return engine().logger
    },
    refresh: () => engine().vectors.refresh(),
    invalidate(scopes, options) {
      const { cache } = engine()
      if (scopes === undefined) cache.clear()
      else for (const scope of scopes) cache.invalidate(scope, options)
    },
    follow: (images, from, to) => engine().cache.followed(images, from, to),
    followCommitted: (images) => engine().cache.followedCommit(images),
    async journalGroup(seq) {
      const change = await engine().metadata.journalChange(seq)
      if (!change) return undefined
      // A before image is not needed to lay a row: only the statistics read it, and they take the
      // group at its apply.
      const images = new Map([...change.inserts, ...change.updates].map((after) => [after.id, { before: null, after }]))
      return { images, deletedIds: change.deletes }
    },
    followDeletes: (deletes) => engine().cache.followedDeletes(deletes),
    followTexts: (texts, from, to) => engine().cache.followedTexts(texts, from, to),
    async promote() {
      const e = engine()
      await e.vectors.refresh()
      // A fresh writer: the one a follower holds never wrote, and a deposed leader's is stale.
      const deposed = e.writer
      deposed.stop()
      e.writer = newWriter(e.vectors, e.metadata, e.config, e.logger, e.replication)
      e.writer.inheritKeyScan(deposed)
      e.writer.attach(e.cache)
      e.cache.clear()
      await lead(e, { takeover: true })
      // Searches went on during the promotion: what they loaded may predate the journal's replay,
      // which wrote to LanceDB without passing through the index.
      e.cache.clear()
    },
    demote() {
      const e = engine()
      const deposed = e.writer
      deposed.fail(notLeading())
      void e.inference?.stop().catch(() => {})
      e.inference = undefined
      e.writer = newWriter(e.vectors, e.metadata, e.config, e.logger, e.replication)
      e.writer.inheritKeyScan(deposed)
      e.writer.attach(e.cache)
    },
  }
}
