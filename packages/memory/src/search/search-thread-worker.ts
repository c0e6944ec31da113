/**
 * The search thread (search-thread.ts): a mirror of the main thread's resident cache, and searches
 * of the scopes it holds. Every search here runs start to end in one turn of this thread's loop
 * (resident scopes, counted statistics, the query's vector given: nothing to wait for), so no
 * change is laid over the mirror in the middle of one.
 */
import { parentPort } from 'node:worker_threads'
import type { Embedder } from '@agentmem/embeddings'
import { noopLogger } from '@agentmem/embeddings'
import type { VectorStore } from '../store/types.js'
import { ResidentCache } from './resident-cache.js'
import type { FromSearchThread, ToSearchThread } from './search-thread.js'
import { searchMemories } from './searcher.js'

const port = parentPort
if (!port) throw new Error('search-thread-worker runs as a worker thread')

/** The mirror reads no store: only the main thread loads scopes and counts statistics. */
const noStore = () => {
  throw new Error('the search thread reads no store')
}
const mirror = new ResidentCache(
  { vectors: noStore, pending: () => [], exclusive: noStore },
  // Never evicts on its own: the main thread's drops say what goes.
  { budgetBytes: Number.MAX_SAFE_INTEGER, maxScopeRows: Number.MAX_SAFE_INTEGER, logger: noopLogger },
)
const deps = {
  embedder: new Proxy({}, { get: noStore }) as Embedder,
  vectors: new Proxy({}, { get: noStore }) as VectorStore,
  cache: mirror,
  settled: async () => noStore(),
  loadsRatherThanWaits: () => false,
  healthy: () => {},
}

port.on('message', (message: ToSearchThread) => {
  if (message.type === 'change') {
    // A change that fails to apply leaves the mirror unlike the main thread's cache: the exception
    // ends this worker, and the main thread then searches alone.
    mirror.replay(message.change)
    return
  }
  const { id, request } = message
  const held = mirror.resident(request.scope) && (request.mode === 'vector' || mirror.countedStats(request.scope.tenantId))
  if (!held || (request.mode !== 'keyword' && !request.vector)) return reply({ id, declined: true })
  searchMemories(deps, request).then(
    (hits) => reply({ id, hits: hits.map((hit) => ({ ...hit, memory: { ...hit.memory, vector: empty } })) }),
    (error: unknown) => reply({ id, error: String(error) }),
  )
})

/** Rows go back without their vectors: no result carries one. */
const empty = new Float32Array(0)

function reply(message: FromSearchThread): void {
  ;(port as NonNullable<typeof port>).postMessage(message)
}
