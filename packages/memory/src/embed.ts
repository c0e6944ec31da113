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
    // Not `instanceof`: a Float32Array made in another realm (a VM context, some test runners) is one too.
    if (Object.prototype.toString.call(vector) !== '[object Float32Array]') {
      throw broken(embedder, `returned ${Object.prototype.toString.call(vector).slice(8, -1)} where a Float32Array was expected`, { details: { index } })
    }
    if (vector.length !== embedder.dimensions) {
      throw broken(embedder, `returned a vector of ${vector.length} dimensions where ${embedder.dimensions} were expected`, {
        code: EmbeddingErrorCode.DimensionMismatch,
        details: { index, expected: embedder.dimensions, actual: vector.length },
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
