/** @module @agentmem/embeddings/testing: helpers for tests and benchmarks, not for production. */
export { type BertShape, miniLmShape, type RandomBertOptions, tinyBertShape, writeRandomBertModel } from './random-bert.js'
