import { type Embedder, EmbeddingError, EmbeddingErrorCode, type EmbedOptions } from '@agentmem/embeddings'

/**
 * Embeds through the configured embedder and checks what comes back: one vector per text,
 * each a Float32Array of the embedder's dimensions with finite values. The engine calls
 * embedders only through here. A custom embedder breaking that contract would otherwise
 * store a vector that never matches, or a NaN score that sorts unpredictably.
 */
export async function embed(embedder: Embedder, texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]> {
  const vectors = await embedder.embed(texts, options)
  if (!Array.isArray(vectors) || vectors.length !== texts.length) {
    throw broken(embedder, `returned ${Array.isArray(vectors) ? vectors.length : 'no array of'} vectors for ${texts.length} texts`)
  }
  for (const [index, vector] of vectors.entries()) {
    if (!(vector instanceof Float32Array) || vector.length !== embedder.dimensions) {
      const actual = vector instanceof Float32Array ? vector.length : typeof vector
      throw broken(embedder, `returned a vector of ${actual} where ${embedder.dimensions} dimensions were expected`, {
        code: EmbeddingErrorCode.DimensionMismatch,
        details: { index, expected: embedder.dimensions, actual },
      })
    }
    for (let i = 0; i < vector.length; i++) {
      if (!Number.isFinite(vector[i])) throw broken(embedder, `returned a vector holding ${vector[i]}`, { details: { index } })
    }
  }
  return vectors
}

function broken(
  embedder: Embedder,
  what: string,
  { code = EmbeddingErrorCode.InferenceFailed, details }: { code?: EmbeddingErrorCode; details?: Record<string, unknown> } = {},
): EmbeddingError {
  return new EmbeddingError(code, `The embedder ${embedder.modelId} ${what}`, details ? { details } : {})
}
