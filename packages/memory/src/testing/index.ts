/** @module @agentmem/memory/testing: helpers for tests and benchmarks, not for production. */
export { createHashEmbedder } from './hash-embedder.js'
export { decisionsReply, factsReply, type LlmCall, type LlmReply, type ScriptedLlm, startScriptedLlm } from './scripted-llm.js'
export { seededRandom } from './seeded-random.js'
