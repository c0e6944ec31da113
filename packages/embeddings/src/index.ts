/**
 * @module @agentmem/embeddings: fast local text embeddings (and cross-encoder reranking) on
 * ONNX Runtime, pooled across worker threads and micro-batched, without ever blocking the
 * caller's event loop.
 */
export { createEmbedder } from './create-embedder.js'
export type { CreateRerankerOptions } from './create-reranker.js'
export { createReranker } from './create-reranker.js'
export type { EmbeddingErrorOptions } from './errors.js'
export { EmbeddingError, EmbeddingErrorCode, isEmbeddingError, isEmbeddingErrorCode } from './errors.js'
export { ModelRunner } from './inference/model-runner.js'
export type { ModelSpec, ModelSpecInput } from './models/model-spec.js'
export { modelSpecSchema, readModelSpec } from './models/model-spec.js'
export type { ProgressEvent, ProgressListener } from './models/progress.js'
export type { HubFile, KnownModel } from './models/registry.js'
export { knownModels, knownRerankers } from './models/registry.js'
export { describeModel } from './models/resolve-model.js'
export { ensureStaticModel, STATIC_MODEL_ID } from './models/static-model.js'
export type { CreateEmbedderOptions } from './options.js'
export { createEmbedderOptionsSchema } from './options.js'
/** A worker thread on a module of the caller's (built JS, or TypeScript source under tsx), with the parent's Node flags. */
export { startModuleWorker } from './pool/exec-argv.js'
export type { Embedder, EmbedderStats, EmbedKind, EmbedOptions, Logger, Reranker, RerankerStats, RerankOptions } from './types.js'
export { noopLogger } from './types.js'
