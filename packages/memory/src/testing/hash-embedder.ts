import { createHash } from 'node:crypto'
import type { Embedder } from '@agentmem/embeddings'

/**
 * A deterministic bag-of-words embedder: each lower-cased word hashes to a few signed dimensions.
 * Texts sharing words are similar, identical texts are identical, and no model is needed. For unit
 * tests of the engine's logic; integration tests use the real default model.
 */
export function createHashEmbedder(options: { dimensions?: number; modelId?: string } = {}): Embedder {
  const dimensions = options.dimensions ?? 64
  let closed = false
  const embedOne = (text: string): Float32Array => {
    const vector = new Float32Array(dimensions)
    for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
      const digest = createHash('sha256').update(word).digest()
      for (let i = 0; i < 3; i++) {
        const slot = digest.readUInt16LE(i * 2) % dimensions
        vector[slot] = (vector[slot] ?? 0) + ((digest[8 + i] ?? 0) & 1 ? 1 : -1)
      }
    }
    const norm = Math.hypot(...vector) || 1
    return vector.map((v) => v / norm)
  }
  return {
    modelId: options.modelId ?? `hash-bow-${dimensions}`,
    dimensions,
    async embed(texts) {
      if (closed) throw new Error('embedder closed')
      return texts.map(embedOne)
    },
    stats: () => ({ queued: 0, busyWorkers: 0, workers: 0, workerStarts: 0, threadsPerWorker: 0, soloThreads: 0, cacheHits: 0, cacheMisses: 0 }),
    async close() {
      closed = true
    },
    [Symbol.asyncDispose]() {
      return this.close()
    },
  }
}
