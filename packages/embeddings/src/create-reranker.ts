import { EmbeddingError, EmbeddingErrorCode } from './errors.js'
import { progressListener } from './models/progress.js'
import { crossEncoderSpec } from './models/registry.js'
import { resolveModel } from './models/resolve-model.js'
import { type CreateEmbedderOptions, type ResolvedEmbedderOptions, resolveOptions } from './options.js'
import { MicroBatcher } from './pool/micro-batcher.js'
import { WorkerPool } from './pool/worker-pool.js'
import { noopLogger, type Reranker, type RerankerStats, type RerankOptions } from './types.js'

/** Options of `createReranker`: those of `createEmbedder` that apply to a cross-encoder; `model` or `modelPath` is required. */
export type CreateRerankerOptions = Pick<
  CreateEmbedderOptions,
  | 'model'
  | 'modelPath'
  | 'quantized'
  | 'spec'
  | 'cacheDir'
  | 'hubEndpoint'
  | 'hubToken'
  | 'workers'
  | 'threadsPerWorker'
  | 'maxBatchSize'
  | 'maxWaitMs'
  | 'maxQueue'
  | 'maxTextLength'
  | 'progress'
  | 'logger'
>

/**
 * Creates a pooled cross-encoder reranker: worker threads each owning one ONNX Runtime
 * session, fed by the same micro-batcher as the embedder, so scoring never blocks the
 * caller's event loop. Models: `knownRerankers` ids (downloaded from the hub on first use)
 * or a local folder with a one-logit sequence-classification graph.
 *
 * @example
 * const reranker = await createReranker({ model: 'ms-marco-MiniLM-L-6-v2' })
 * const [peanuts, noted] = await reranker.score('What must I avoid?', ['I am allergic to peanuts', 'Noted!'])
 */
export async function createReranker(options: CreateRerankerOptions): Promise<Reranker> {
  const resolved = resolveOptions({ ...options, spec: { ...options.spec, ...crossEncoderSpec } })
  const bar = progressListener(resolved)
  try {
    const { folder, spec } = await resolveModel(resolved, bar, 'reranker')
    const pool = await WorkerPool.start({ folder, spec, intraOpThreads: resolved.threadsPerWorker, task: 'score' }, resolved.workers)
    return new PooledReranker(spec.id, pool, resolved)
  } finally {
    bar?.stop?.()
  }
}

type Pair = [string, string]

class PooledReranker implements Reranker {
  readonly modelId: string
  readonly #pool: WorkerPool
  readonly #batcher: MicroBatcher<Pair, number>
  readonly #options: ResolvedEmbedderOptions
  #closing: Promise<void> | undefined

  constructor(modelId: string, pool: WorkerPool, options: ResolvedEmbedderOptions) {
    this.modelId = modelId
    this.#pool = pool
    this.#options = options
    const logger = options.logger ?? noopLogger
    this.#batcher = new MicroBatcher({
      lanes: pool.size,
      maxBatchSize: options.maxBatchSize ?? 8,
      maxWaitMs: options.maxWaitMs,
      maxQueue: options.maxQueue,
      cost: ([query, document]) => query.length + document.length,
      run: async (lane, pairs) => {
        const started = performance.now()
        const logits = await pool.run(lane, { pairs })
        logger.debug('rerank.batch', { lane, size: pairs.length, runMs: performance.now() - started, queued: this.#batcher.queued })
        return Array.from(logits)
      },
      isRetryable: (error) => (error as { code?: unknown }).code === EmbeddingErrorCode.WorkerCrashed,
      owner: 'reranker',
    })
  }

  async score(query: string, documents: readonly string[], options: RerankOptions = {}): Promise<number[]> {
    this.#validate(query, documents)
    if (documents.length === 0) return []
    const logits = await this.#batcher.submit(
      documents.map((document): Pair => [query, document]),
      options.signal,
    )
    return logits.map(sigmoid)
  }

  stats(): RerankerStats {
    return {
      queued: this.#batcher.queued,
      busyWorkers: this.#batcher.inFlight,
      workers: this.#pool.started,
      workerStarts: this.#pool.spawns,
      threadsPerWorker: this.#options.threadsPerWorker,
      soloThreads: 0,
    }
  }

  close(): Promise<void> {
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

  #validate(query: string, documents: readonly string[]): void {
    const { maxTextLength } = this.#options
    const check = (text: unknown, what: string, details: Record<string, unknown>) => {
      if (typeof text !== 'string') throw new EmbeddingError(EmbeddingErrorCode.InvalidInput, `${what} is a ${typeof text}, not a string`, { details })
      if (text.trim().length === 0) throw new EmbeddingError(EmbeddingErrorCode.EmptyInput, `${what} is empty`, { details })
      if (text.length > maxTextLength) {
        throw new EmbeddingError(EmbeddingErrorCode.InputTooLong, `${what} has ${text.length} characters; the limit is ${maxTextLength}`, {
          details: { ...details, length: text.length, limit: maxTextLength },
        })
      }
    }
    check(query, 'query', {})
    if (!Array.isArray(documents)) throw new EmbeddingError(EmbeddingErrorCode.InvalidInput, 'documents must be an array of strings')
    documents.forEach((document, index) => {
      check(document, `documents[${index}]`, { index })
    })
  }
}

/** Logits become relevance in (0, 1), the scale sentence-transformers' CrossEncoder reports for one-label models. */
function sigmoid(logit: number): number {
  return 1 / (1 + Math.exp(-logit))
}
