import type { Worker } from 'node:worker_threads'
import { EmbeddingError, EmbeddingErrorCode, isEmbeddingErrorCode } from '../errors.js'
import { startModuleWorker } from './exec-argv.js'
import { closedError } from './micro-batcher.js'
import type { FromWorker, SerializedError, ToWorker, WorkerInit } from './protocol.js'

// The worker's module is built beside this one, or runs from its TypeScript source beside it.
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './embed-worker.ts' : './embed-worker.js', import.meta.url)

function startModelWorker(workerData: WorkerInit): Worker {
  return startModuleWorker(workerUrl, { workerData })
}

/** One batch for a worker: texts to embed, or (query, document) pairs to score. */
export type WorkerBatch = { texts: string[] } | { pairs: [string, string][] }

interface Pending {
  resolve(output: Float32Array): void
  reject(error: unknown): void
}

interface Slot {
  worker: Worker
  ready: Promise<void>
  /** Settles when the thread has ended; asks a live worker to exit cleanly first. */
  readonly exited: Promise<void>
  /** False once the thread ended: a slot left so could not load its model (a crashed one is replaced at once). */
  readonly alive: boolean
  pending: Map<number, Pending>
  /** Set once the worker said it is ready: the threads of its solo session (0 for none). */
  readySoloThreads: number | undefined
}

/**
 * A fixed number of model workers (an embedder's or a reranker's). A worker that dies is replaced; what it was running
 * fails with EMBEDDINGS_WORKER_CRASHED (the batcher retries such items once). A worker that could not load its model
 * (the file changed on disk, memory ran out) is not replaced at once, which would load and fail again without end:
 * its lane's next batch tries once more, and fails with the load's error if it still cannot.
 *
 * `start` spawns them all and fails if one cannot load the model; `deferred` spawns each on
 * its lane's first batch, for an embedder whose calls mostly never reach a worker (the
 * offline model's inline path): a worker costs seconds of CPU and a model's memory to start.
 */
export class WorkerPool {
  readonly #init: WorkerInit
  /** What errors call the pool's user: "the reranker is closed". */
  readonly #owner: string
  readonly #slots: (Slot | undefined)[]
  #nextId = 0
  #closing = false
  #spawns = 0

  private constructor(init: WorkerInit, size: number) {
    this.#init = init
    this.#owner = init.task === 'score' ? 'reranker' : 'embedder'
    this.#slots = Array.from({ length: size }, () => undefined)
  }

  static async start(init: WorkerInit, size: number): Promise<WorkerPool> {
    const pool = new WorkerPool(init, size)
    for (let lane = 0; lane < size; lane++) pool.#slots[lane] = pool.#spawn(lane)
    const started = await Promise.allSettled(pool.#slots.map((slot) => slot?.ready))
    const failure = started.find((result) => result.status === 'rejected')
    if (failure) {
      await pool.close()
      throw failure.reason
    }
    return pool
  }

  static deferred(init: WorkerInit, size: number): WorkerPool {
    return new WorkerPool(init, size)
  }

  get size(): number {
    return this.#slots.length
  }

  /** Whether the worker of `lane` is started and ready (not spawning, not replaced after a crash). */
  isReady(lane: number): boolean {
    return this.#slots[lane]?.readySoloThreads !== undefined
  }

  /** Threads of the solo session lane 0's worker loaded (0 for none, or not started yet). */
  get soloThreads(): number {
    return this.#slots[0]?.readySoloThreads ?? 0
  }

  /** Whether every worker is started and ready to take a batch (none spawning, none being replaced after a crash). */
  get allReady(): boolean {
    return this.#slots.every((slot) => slot?.readySoloThreads !== undefined)
  }

  /**
   * Spawns every worker not spawned yet (a deferred pool's lanes otherwise start one batch at a
   * time); resolves once they are all ready, rejects if one fails to start.
   */
  spawnAll(): Promise<void> {
    if (this.#closing) return Promise.resolve()
    for (let lane = 0; lane < this.#slots.length; lane++) if (!this.#slots[lane]?.alive) this.#slots[lane] = this.#spawn(lane)
    return Promise.all(this.#slots.map((slot) => slot?.ready)).then(() => undefined)
  }

  /** Workers spawned so far (all of them once `start` resolved). */
  get started(): number {
    return this.#slots.filter(Boolean).length
  }

  /** Worker threads started since the pool was, replacements included: a count that keeps rising means workers keep dying. */
  get spawns(): number {
    return this.#spawns
  }

  /**
   * Runs one batch on one worker; resolves to its flat output (see FromWorker's `result`).
   * `solo`: on lane 0's session with every thread of the pool (`WorkerInit.soloThreads`).
   */
  async run(lane: number, batch: WorkerBatch, solo = false): Promise<Float32Array> {
    if (this.#closing) throw closedError(this.#owner)
    this.#slots[lane] ??= this.#spawn(lane)
    let slot = this.#slots[lane]
    try {
      await slot.ready
    } catch {
      // The replacement failed to start earlier; try once more, now.
      slot = this.#slots[lane] = this.#spawn(lane)
      await slot.ready
    }
    const id = this.#nextId++
    const message: ToWorker = 'texts' in batch ? { type: 'embed', id, texts: batch.texts, solo } : { type: 'score', id, pairs: batch.pairs, solo }
    return new Promise<Float32Array>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject })
      slot.worker.postMessage(message)
    })
  }

  /** @internal Tests only: the worker of `lane` dies on its next batch. */
  simulateCrash(lane: number): void {
    this.#slots[lane]?.worker.postMessage({ type: 'crash-next' } satisfies ToWorker)
  }

  /** Asks every worker to release its session and exit, and waits until they have. */
  async close(): Promise<void> {
    this.#closing = true
    await Promise.all(this.#slots.map((slot) => slot?.exited))
  }

  #spawn(lane: number): Slot {
    // Only lane 0 holds the second, all-threads session of solo runs.
    const worker = startModelWorker(lane === 0 ? this.#init : { ...this.#init, soloThreads: undefined })
    this.#spawns++
    const pending = new Map<number, Pending>()
    let markReady!: () => void
    let markFailed!: (error: unknown) => void
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve
      markFailed = reject
    })
    ready.catch(() => {}) // observed by run()/start(); never an unhandled rejection
    let alive = true
    let loaded = false
    const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    const slot: Slot = {
      worker,
      ready,
      pending,
      readySoloThreads: undefined,
      get alive() {
        return alive
      },
      get exited() {
        // Wait for start-up to settle: a worker must not be stopped inside ORT's session creation.
        if (alive)
          void ready.then(
            () => worker.postMessage({ type: 'close' } satisfies ToWorker),
            () => {},
          )
        return exit
      },
    }

    worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          loaded = true
          slot.readySoloThreads = message.soloThreads
          markReady()
          return
        case 'failed':
          markFailed(toEmbeddingError(message.error, EmbeddingErrorCode.ModelLoadFailed))
          return
        case 'result':
          pending.get(message.id)?.resolve(message.output)
          pending.delete(message.id)
          return
        case 'error':
          pending.get(message.id)?.reject(toEmbeddingError(message.error, EmbeddingErrorCode.InferenceFailed))
          pending.delete(message.id)
      }
    })
    worker.on('error', (error) =>
      markFailed(new EmbeddingError(EmbeddingErrorCode.ModelLoadFailed, `embedding worker failed: ${error.message}`, { cause: error })),
    )
    worker.on('exit', (exitCode) => {
      alive = false
      slot.readySoloThreads = undefined
      const crash = new EmbeddingError(EmbeddingErrorCode.WorkerCrashed, `embedding worker ${lane} exited unexpectedly (code ${exitCode})`, {
        details: { lane, exitCode },
      })
      markFailed(crash)
      for (const { reject } of pending.values()) reject(this.#closing ? closedError(this.#owner) : crash)
      pending.clear()
      if (loaded && !this.#closing && this.#slots[lane] === slot) this.#slots[lane] = this.#spawn(lane)
    })
    return slot
  }
}

function toEmbeddingError(error: SerializedError, fallback: EmbeddingErrorCode): EmbeddingError {
  const code = isEmbeddingErrorCode(error.code) ? error.code : fallback
  return new EmbeddingError(code, error.message, { details: error.details })
}
