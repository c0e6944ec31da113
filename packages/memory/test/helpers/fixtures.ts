import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEmbedder, createReranker, type Embedder, type Reranker } from '@agentmem/embeddings'
import { tinyBertShape, writeRandomBertModel } from '@agentmem/embeddings/testing'
import { type CephRgwService, type PostgresService, startCephRgw, startPostgres } from '@agentmem/test-services'
import { parseFilters } from '../../src/filters.js'
import { Memory, type MemoryOpenOptions } from '../../src/index.js'
import type { StoredMemory, VectorStore } from '../../src/store/types.js'

export { seededRandom } from '../../src/testing/index.js'

/** Where a test store lives: a folder, plus PostgreSQL and S3 when the backend is shared. */
export type StoreLocation = Pick<MemoryOpenOptions, 'path' | 'metadataUrl' | 'vectorsUrl' | 'storageOptions'>

/**
 * The stores the contract suites run on: the embedded default (a folder: SQLite + local LanceDB),
 * and shared services (real PostgreSQL + LanceDB on a real Ceph RGW), started once per file.
 */
export interface Backend {
  name: string
  /** A fresh, empty store location. */
  location(path: string): Promise<StoreLocation>
  stop(): Promise<void>
}

export const localBackend: Backend = { name: 'folder (SQLite + local LanceDB)', location: async (path) => ({ path }), stop: async () => {} }

let stores = 0
export function sharedBackend(): Backend {
  let services: Promise<[PostgresService, CephRgwService, string]> | undefined
  const start = () => {
    services ??= (async () => {
      const [postgres, ceph] = await Promise.all([startPostgres(), startCephRgw()])
      return [postgres, ceph, await ceph.createBucket('contract')]
    })()
    return services
  }
  return {
    name: 'PostgreSQL + LanceDB on Ceph RGW',
    async location(path) {
      const [postgres, ceph, bucket] = await start()
      const name = `store_${process.pid}_${++stores}`
      return { path, metadataUrl: await postgres.createDatabase(name), vectorsUrl: `${bucket}/${name}`, storageOptions: ceph.storageOptions() }
    },
    async stop() {
      if (!services) return
      const [postgres, ceph] = await services
      await Promise.all([postgres.stop(), ceph.stop()])
    },
  }
}

let backend: Backend = localBackend
/** The backend openTemp and tempStore use (set in a describe's beforeAll). */
export function useBackend(next: Backend): void {
  backend = next
}

export async function tempDir(prefix: string): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `agentmem-${prefix}-`))
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) }
}

/** A row of tenant `t` with a 3-dimensional vector, for tests that drive the stores or the writer directly. */
export function storedRow(id: string, text: string, userId = 'u', metadata: Record<string, unknown> = {}): StoredMemory {
  return {
    id,
    tenantId: 't',
    userId,
    agentId: null,
    runId: null,
    role: null,
    text,
    dedupKey: `${userId}:${text}`,
    metadata,
    createdAt: 0,
    updatedAt: 0,
    validTo: null,
    vector: new Float32Array([1, 0, 0]),
  }
}

/** A fresh store location on the current backend; disposing it deletes the local folder. */
export async function tempStore(prefix: string): Promise<{ location: StoreLocation; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await tempDir(prefix)
  return { location: await backend.location(dir.path), [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() }
}

/** The real offline default model, one pool per test file. */
export function defaultEmbedder(): Promise<Embedder> {
  return createEmbedder({ workers: 1 })
}

/**
 * A real cross-encoder (random weights, MiniLM's tokenizer from ../shared beside the checkout):
 * its scores mean nothing, but they are exactly what `score` returns, so a test can check how
 * search uses them.
 */
export async function tinyReranker(folder: string): Promise<Reranker> {
  const tokenizerFrom = fileURLToPath(new URL('../../../../../shared/models/all-MiniLM-L6-v2', import.meta.url))
  await writeRandomBertModel({ folder, tokenizerFrom, shape: tinyBertShape, maxLength: 128, head: 'sequence-classification' })
  return createReranker({ modelPath: folder, workers: 1, progress: false })
}

/** A Memory in a fresh store on the current backend; disposing it closes the store and deletes the folder. */
export async function openTemp(embedder: Embedder, options: Partial<MemoryOpenOptions> = {}) {
  const store = await tempStore('memory')
  const memory = await Memory.open({ ...store.location, embedder, ...options })
  return {
    memory,
    path: store.location.path,
    location: store.location,
    async [Symbol.asyncDispose]() {
      await memory.close()
      await store[Symbol.asyncDispose]()
    },
  }
}

/** The store a Memory reads and writes (tests reach in to hold its calls, as a slow object store or a maintenance would). */
export function storeOf(memory: Memory): VectorStore {
  return (memory as unknown as { engine: { vectors: VectorStore } }).engine.vectors
}

/**
 * The texts of a user's current memories that LanceDB's compiled filter matches, asked of the store
 * directly: getAll and search of a resident scope answer from the engine's own evaluator instead.
 */
export async function storeMatches(memory: Memory, userId: string, filters: unknown): Promise<string[]> {
  const rows = await storeOf(memory).list({ tenantId: memory.tenantId, userId, currentOnly: true }, parseFilters(filters), undefined, 10_000)
  return rows.map((row) => row.text).sort()
}

/**
 * Holds every call of one method of `memory`'s store until `release()`, which also puts the method
 * back; with `fail`, the held calls then reject with it instead of running. With `after`, each call
 * runs first and is held before it returns: a maintenance that did its work (new versions, no row
 * changed) but has not ended, so writes queue behind it as on object storage.
 */
export function holdStore(memory: Memory, method: 'list' | 'apply' | 'maintain' | 'getByIds', options: { fail?: Error; after?: boolean } = {}) {
  const vectors = storeOf(memory)
  const original = vectors[method]
  let open = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  let held = 0
  const run = (args: unknown[]) => (original as (...args: unknown[]) => Promise<unknown>).apply(vectors, args)
  const holding = async (...args: unknown[]) => {
    const ran = options.after ? await run(args) : undefined
    held++
    await gate
    if (options.fail) throw options.fail
    return options.after ? ran : run(args)
  }
  Object.assign(vectors, { [method]: holding })
  return {
    held: () => held,
    release() {
      open()
      Object.assign(vectors, { [method]: original })
    },
  }
}
