/** @module @agentmem/memory/testing: helpers for tests and benchmarks, not for production. */
export { createHashEmbedder } from './hash-embedder.js'
