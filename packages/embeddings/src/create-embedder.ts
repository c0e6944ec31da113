import { LRUCache } from 'lru-cache'
import { EmbeddingError, EmbeddingErrorCode } from './errors.js'
import { fitsInline, isStaticWordVectorModel, StaticWordVectors } from './inference/static-word-vectors.js'
import type { ModelSpec } from './models/model-spec.js'
import { progressListener } from './models/progress.js'
import { resolveModel } from './models/resolve-model.js'
import { type CreateEmbedderOptions, type ResolvedEmbedderOptions, resolveOptions } from './options.js'
import { abortError, closedError, MicroBatcher } from './pool/micro-batcher.js'
import { WorkerPool } from './pool/worker-pool.js'
import { type Embedder, type EmbedderStats, type EmbedKind, type EmbedOptions, noopLogger } from './types.js'

/**
 * Creates the pooled local embedder: worker threads each owning one ONNX Runtime session,
 * fed by a micro-batcher. With no options it runs the offline default model, whose small
 * calls (a search's query) are computed on the calling thread instead (`inlineMaxTexts`);
 * its workers then start on the first call too big for that path.
 *
 * @example
 * const embedder = await createEmbedder()
 * const [vector] = await embedder.embed(['I moved to Lisbon in May'])
 * await embedder.close()
 */
export async function createEmbedder(options: CreateEmbedderOptions = {}): Promise<Embedder> {
  const resolved = resolveOptions(options)
  const bar = progressListener(resolved)
  try {
    const { folder, spec } = await resolveModel(resolved, bar)
    const inline = await loadInline(folder, spec, resolved).catch((error: unknown) => {
      // A failure only costs the fast path, never the embedder.
      resolved.logger?.warn('embed.inline.unavailable', { model: spec.id, reason: (error as Error).message })
      return undefined
    })
    // Lone texts of a model with an inline path never reach a worker: no solo session for it.
    const soloThreads = inline ? 0 : resolved.soloThreads
    const init = { folder, spec, intraOpThreads: resolved.threadsPerWorker, soloThreads: soloThreads || undefined }
    if (inline) resolved.logger?.debug('embed.inline.ready', { model: spec.id, maxTexts: resolved.inlineMaxTexts, maxChars: resolved.inlineMaxChars })
    // With the inline path most calls never reach a worker, and loading the model already
    // proved it loads: workers start on the first call that needs one. Otherwise all start
    // now, so a model that cannot load fails here rather than on the first call.
    const pool = inline ? WorkerPool.deferred(init, resolved.workers) : await WorkerPool.start(init, resolved.workers)
    return new PooledEmbedder(spec, pool, { ...resolved, soloThreads }, inline)
  } finally {
    bar?.stop?.()
  }
}

async function loadInline(folder: string, spec: ModelSpec, options: ResolvedEmbedderOptions): Promise<StaticWordVectors | undefined> {
  if (options.inlineMaxTexts === 0 || options.inlineMaxChars === 0 || !(await isStaticWordVectorModel(folder))) return undefined
  return StaticWordVectors.load(folder, spec)
}

/** What a call may be to run inline while the workers start (or the inline limits, if bigger): ~3 ms of this thread at worst, measured. */
const startingInline = { texts: 128, chars: 4096 }
const workerStartDelayMs = 1000

class PooledEmbedder implements Embedder {
  readonly modelId: string
  readonly dimensions: number
  readonly #spec: ModelSpec
  readonly #pool: WorkerPool
  readonly #batcher: MicroBatcher<string, Float32Array>
  readonly #cache: LRUCache<string, Float32Array> | undefined
  readonly #options: ResolvedEmbedderOptions
  readonly #inline: StaticWordVectors | undefined
  #cacheHits = 0
  #cacheMisses = 0
  #closing: Promise<void> | undefined
  /** Set from `#startWorkers` until the workers it starts are ready (or failed). */
  #starting: Promise<void> | undefined
  #startTimer: NodeJS.Timeout | undefined

  constructor(spec: ModelSpec, pool: WorkerPool, options: ResolvedEmbedderOptions, inline: StaticWordVectors | undefined) {
    this.modelId = spec.id
    this.dimensions = spec.dimensions
    this.#spec = spec
    this.#pool = pool
    this.#options = options
    this.#inline = inline
    this.#cache = options.cacheSize > 0 ? new LRUCache({ max: options.cacheSize }) : undefined
    const logger = options.logger ?? noopLogger
    this.#batcher = new MicroBatcher({
      lanes: pool.size,
      maxBatchSize: options.maxBatchSize ?? spec.batchSize ?? 8,
      maxWaitMs: options.maxWaitMs,
      maxQueue: options.maxQueue,
      ...(options.soloThreads > 0 && { canRunSolo: () => pool.isReady(0) }),
      cost: (text) => text.length,
      run: async (lane, texts, solo) => {
        const started = performance.now()
        const flat = await pool.run(lane, { texts }, solo)
        const vectors = texts.map((_, i) => flat.subarray(i * spec.dimensions, (i + 1) * spec.dimensions))
        logger.debug('embed.batch', { lane, solo, size: texts.length, runMs: performance.now() - started, queued: this.#batcher.queued })
        return vectors
      },
      isRetryable: (error) => (error as { code?: unknown }).code === EmbeddingErrorCode.WorkerCrashed,
      owner: 'embedder',
    })
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const kind = options.kind ?? 'passage'
    this.#validate(texts, kind)
    const prefix = kind === 'query' ? this.#spec.queryPrefix : this.#spec.passagePrefix
    const inputs = texts.map((text) => prefix + text)
    if (!this.#cache) return this.#compute(inputs, options.signal)

    const cache = this.#cache
    const results: (Float32Array | undefined)[] = inputs.map((input) => cache.get(`${kind}\u0000${input}`))
    const missing = results.flatMap((vector, i) => (vector ? [] : [i]))
    this.#cacheHits += texts.length - missing.length
    this.#cacheMisses += missing.length
    if (missing.length > 0) {
      const fresh = await this.#compute(
        missing.map((i) => inputs[i] as string),
        options.signal,
      )
      missing.forEach((i, j) => {
        const vector = fresh[j] as Float32Array
        cache.set(`${kind}\u0000${inputs[i]}`, vector.slice())
        results[i] = vector
      })
    }
    // Copies of cached vectors, so a caller mutating one cannot corrupt the cache.
    const computed = new Set(missing)
    return results.map((vector, i) => (computed.has(i) ? (vector as Float32Array) : (vector as Float32Array).slice()))
  }

  /**
   * Small calls of a static word-vector model are computed right here, synchronously: a few
   * tens of microseconds, less than a worker round trip. Everything else goes to the
   * workers. Both paths refuse a closed embedder and an aborted signal with the same errors.
   *
   * The first call too big for this path starts every worker (a second later). Until all are ready (seconds),
   * calls within `startingInline` still run here: a few milliseconds of this thread rather than
   * seconds of waiting for a worker (the batcher would split a call across lanes, one of them
   * maybe still starting).
   */
  #compute(inputs: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const inline = this.#inline
    if (!inline) return this.#batcher.submit(inputs, signal)
    const fits = (texts: number, chars: number) => inputs.length <= texts && fitsInline(inputs, chars, (text) => inline.readsInOnePass(text))
    const { inlineMaxTexts, inlineMaxChars } = this.#options
    const small = fits(inlineMaxTexts, inlineMaxChars)
    if (!small) {
      if (!this.#closing) this.#startWorkers()
      const whileStarting = !this.#pool.allReady && fits(Math.max(inlineMaxTexts, startingInline.texts), Math.max(inlineMaxChars, startingInline.chars))
      if (!whileStarting) return this.#batcher.submit(inputs, signal)
    }
    if (this.#closing) return Promise.reject(closedError('embedder'))
    if (signal?.aborted) return Promise.reject(abortError(signal))
    try {
      return Promise.resolve(inline.embed(inputs))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Starts every worker not started yet, `workerStartDelayMs` from now: a CLI command that embeds
   * one long text and exits never starts them (closing waits for a worker that is starting, ~7 s
   * for two here). A failure is logged, and met again by the call that needs that worker; a worker
   * that could not load is tried again by the next start (a call too big for the inline path).
   */
  #startWorkers(): void {
    if (this.#starting || this.#pool.allReady) return
    const failed = (error: unknown) => this.#options.logger?.warn('embed.workers.start_failed', { reason: (error as Error).message })
    this.#starting = new Promise<void>((resolve) => {
      this.#startTimer = setTimeout(() => {
        try {
          this.#pool.spawnAll().catch(failed).finally(resolve)
        } catch (error) {
          failed(error)
          resolve()
        }
      }, workerStartDelayMs)
      this.#startTimer.unref()
    }).finally(() => {
      this.#starting = undefined
    })
  }

  stats(): EmbedderStats {
    return {
      queued: this.#batcher.queued,
      busyWorkers: this.#batcher.inFlight,
      workers: this.#pool.started,
      workerStarts: this.#pool.spawns,
      threadsPerWorker: this.#options.threadsPerWorker,
      soloThreads: this.#pool.soloThreads,
      cacheHits: this.#cacheHits,
      cacheMisses: this.#cacheMisses,
    }
  }

  close(): Promise<void> {
    clearTimeout(this.#startTimer)
    this.#closing ??= this.#batcher.drain().then(() => this.#pool.close())
    return this.#closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Tests only: the worker of `lane` dies on its next batch, as a crash would. */
  simulateWorkerCrash(lane: number): void {
    this.#pool.simulateCrash(lane)
  }

  #validate(texts: readonly string[], kind: EmbedKind): void {
    if (!Array.isArray(texts)) throw new EmbeddingError(EmbeddingErrorCode.InvalidInput, 'texts must be an array of strings')
    if (texts.length === 0) throw new EmbeddingError(EmbeddingErrorCode.EmptyInput, 'texts is empty: pass at least one text')
    if (kind !== 'query' && kind !== 'passage') {
      throw new EmbeddingError(EmbeddingErrorCode.InvalidInput, `kind must be "query" or "passage", got ${JSON.stringify(kind)}`)
    }
    texts.forEach((text, index) => {
      if (typeof text !== 'string') {
        throw new EmbeddingError(EmbeddingErrorCode.InvalidInput, `texts[${index}] is a ${typeof text}, not a string`, { details: { index } })
      }
      if (text.trim().length === 0) {
        throw new EmbeddingError(EmbeddingErrorCode.EmptyInput, `texts[${index}] is empty`, { details: { index } })
      }
      if (text.length > this.#options.maxTextLength) {
        throw new EmbeddingError(
          EmbeddingErrorCode.InputTooLong,
          `texts[${index}] has ${text.length} characters; the limit is ${this.#options.maxTextLength}`,
          {
            details: { index, length: text.length, limit: this.#options.maxTextLength },
          },
        )
      }
    })
  }
}
