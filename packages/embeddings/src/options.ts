import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { EmbeddingError, EmbeddingErrorCode } from './errors.js'
import { defaultCacheDir } from './models/cache-dir.js'
import { modelSpecSchema } from './models/model-spec.js'
import type { ProgressListener } from './models/progress.js'
import type { Logger } from './types.js'

/** Options of `createEmbedder`; every field is optional. */
export const createEmbedderOptionsSchema = z.object({
  /** A known model id (see `knownModels`), downloaded from the hub on first use. Default: the offline model. */
  model: z.string().min(1).optional(),
  /** A local model folder in the Hugging Face layout; with `model`, that model's spec is used for it. */
  modelPath: z.string().min(1).optional(),
  /**
   * Run the model's int8 graph (its spec's `quantizedOnnxFile`; registry models: the file their
   * hub repository publishes): faster on CPU, vectors slightly different (see the package
   * README). The model id gets the suffix `-int8`, so a store never mixes the two; passing
   * `model: '<id>-int8'` is the same. Default false.
   */
  quantized: z.boolean().default(false),
  /** Overrides of the model spec (pooling, dimensions, maxLength, prefixes, onnxFile...). */
  spec: modelSpecSchema.partial().optional(),
  /** Cache root for downloads and the built default model. Default `$AGENTMEM_CACHE_DIR` or `~/.cache/agentmem`. */
  cacheDir: z.string().min(1).optional(),
  /** Hub base URL. Default `$HF_ENDPOINT` or `https://huggingface.co`. */
  hubEndpoint: z.url().optional(),
  /** Token for gated hub repositories. Default `$HF_TOKEN`. Secret: never logged. */
  hubToken: z.string().min(1).optional(),
  /** Worker threads. Default: the number of cores. */
  workers: z.number().int().positive().max(64).optional(),
  /** ONNX Runtime threads per worker. Default: cores / workers (at least 1), so no core is oversubscribed. */
  threadsPerWorker: z.number().int().positive().max(64).optional(),
  /**
   * A lone text that arrives while every worker is idle runs on a second session of worker 0
   * that uses every thread of the pool (workers x threadsPerWorker, at most the cores), so one
   * caller is not held to one core; under load, each worker runs its own batches. Costs one
   * more copy of the model's weights in memory (about 90 MB for MiniLM in fp32). Needs 2+
   * workers; not loaded for the offline default model while its inline path serves small calls.
   * Default true.
   */
  soloSession: z.boolean().default(true),
  /**
   * Most texts per model run. Default: the model spec's `batchSize`, else 8: on CPU,
   * transformer runs gain little from bigger batches while padding costs grow (measured in
   * docs/benchmarks/embeddings.md).
   */
  maxBatchSize: z.number().int().positive().max(1024).optional(),
  /** How long (ms) a free worker waits to fill a batch while others are busy. Default 2. */
  maxWaitMs: z.number().nonnegative().max(1000).default(2),
  /** Most texts waiting for a worker; beyond it calls fail with EMBEDDINGS_QUEUE_FULL. Default 10000. */
  maxQueue: z.number().int().positive().default(10_000),
  /** Longest accepted text in characters (tokens past the model's limit are truncated anyway). Default 100000. */
  maxTextLength: z.number().int().positive().default(100_000),
  /**
   * Static word-vector models (the offline default) embed a call of at most this many texts
   * on the calling thread, in microseconds, instead of a round trip to a worker; bigger calls
   * go to the workers (until they are all ready, calls of up to 128 texts and 4,096 characters stay here).
   * 0 sends every call to the workers. Default 8. Other models ignore it.
   */
  inlineMaxTexts: z.number().int().nonnegative().max(1024).default(8),
  /**
   * ...of at most this many characters in all, and no word longer than 24 characters, so an
   * inline call holds the event loop for a fraction of a millisecond (measured: ~0.1 ms for
   * 256 characters of accented prose, ~0.3 ms at worst). A text the tokenizer reads in one pass
   * (the offline default's reads plain ASCII holding no added token such as `[UNK]` so) counts
   * a quarter of its characters and may hold longer words: 1,024 characters of English prose
   * take ~0.2 ms. Default 256.
   */
  inlineMaxChars: z.number().int().nonnegative().default(256),
  /** Entries of the (kind, text) -> vector LRU cache; 0 turns it off. Default 0. */
  cacheSize: z.number().int().nonnegative().default(0),
  /** Progress of downloads and the first build: a listener, true for a bar on stderr, false for none. Default: a bar when stderr is a TTY, else `model.progress` events to `logger`. */
  progress: z.union([z.boolean(), z.custom<ProgressListener>((v) => typeof v === 'function')]).optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
})
export type CreateEmbedderOptions = z.input<typeof createEmbedderOptionsSchema>

export type ResolvedEmbedderOptions = z.output<typeof createEmbedderOptionsSchema> & {
  cacheDir: string
  hubEndpoint: string
  workers: number
  threadsPerWorker: number
  /** Threads of worker 0's solo session; 0 when there is none. */
  soloThreads: number
}

/** Validates options and fills every default in one place. */
export function resolveOptions(options: CreateEmbedderOptions, env: NodeJS.ProcessEnv = process.env): ResolvedEmbedderOptions {
  const parsed = createEmbedderOptionsSchema.safeParse(options)
  if (!parsed.success) {
    throw new EmbeddingError(EmbeddingErrorCode.InvalidOptions, `invalid embedder options: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    })
  }
  const cores = availableParallelism()
  const workers = parsed.data.workers ?? cores
  const threadsPerWorker = parsed.data.threadsPerWorker ?? Math.max(1, Math.floor(cores / workers))
  return {
    ...parsed.data,
    cacheDir: parsed.data.cacheDir ?? defaultCacheDir(env),
    hubEndpoint: parsed.data.hubEndpoint ?? env['HF_ENDPOINT'] ?? 'https://huggingface.co',
    hubToken: parsed.data.hubToken ?? env['HF_TOKEN'],
    workers,
    threadsPerWorker,
    // Never more threads than cores, whatever workers x threadsPerWorker says.
    soloThreads: parsed.data.soloSession && workers > 1 ? Math.min(workers * threadsPerWorker, cores) : 0,
  }
}
