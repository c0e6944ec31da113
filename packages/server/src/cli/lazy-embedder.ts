import { type CreateEmbedderOptions, createEmbedder, describeModel, type Embedder, type EmbedderStats } from '@agentmem/embeddings'

/**
 * An embedder that names its model at once (so a store can check it) but starts the model's
 * workers only on the first `embed`: `list` and `export` never pay for loading a model.
 */
export async function lazyEmbedder(options: CreateEmbedderOptions): Promise<Embedder> {
  const { modelId, dimensions } = await describeModel(options)
  let started: Promise<Embedder> | undefined
  let real: Embedder | undefined
  const idle: EmbedderStats = { queued: 0, busyWorkers: 0, workers: 0, workerStarts: 0, threadsPerWorker: 0, soloThreads: 0, cacheHits: 0, cacheMisses: 0 }
  const close = async () => {
    if (started) await (await started).close()
  }
  return {
    modelId,
    dimensions,
    async embed(texts, embedOptions) {
      started ??= createEmbedder(options).then((embedder) => {
        real = embedder
        return embedder
      })
      return (await started).embed(texts, embedOptions)
    },
    stats: () => real?.stats() ?? idle,
    close,
    [Symbol.asyncDispose]: close,
  }
}
