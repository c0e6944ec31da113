import type { Reranker } from '@agentmem/embeddings'
import { MemoryError, MemoryErrorCode } from '../errors.js'
import { defaultRerankCandidates, maxRerankCandidates } from '../options.js'
import type { SearchHit } from './searcher.js'

export type RerankRequest = boolean | { model?: string | undefined; topN?: number | undefined }

/**
 * How many first-stage candidates a search must fetch for `request` (0: no reranking), after
 * checking the reranker it asks for is the configured one.
 */
export function rerankDepth(request: RerankRequest, reranker: Reranker | undefined, topK: number): number {
  if (request === false) return 0
  const asked = request === true ? undefined : request.model
  if (!reranker) {
    throw new MemoryError(
      MemoryErrorCode.RerankerNotConfigured,
      'rerank needs a reranker: open the Memory with `reranker` (createReranker from @agentmem/embeddings)',
      {
        details: { model: asked ?? null, configured: null },
      },
    )
  }
  if (asked !== undefined && asked !== reranker.modelId) {
    throw new MemoryError(MemoryErrorCode.RerankerNotConfigured, `rerank asked for ${asked}, but the configured reranker is ${reranker.modelId}`, {
      details: { model: asked, configured: reranker.modelId },
    })
  }
  if (topK > maxRerankCandidates) {
    throw new MemoryError(
      MemoryErrorCode.InvalidOptions,
      `rerank reads at most ${maxRerankCandidates} candidates: ask for topK ${maxRerankCandidates} or fewer`,
      {
        details: { topK, limit: maxRerankCandidates },
      },
    )
  }
  const topN = request === true ? undefined : request.topN
  return Math.max(topK, topN ?? defaultRerankCandidates)
}

/**
 * The second stage: the cross-encoder reads each (query, memory) pair whole, which the first
 * stage's separate vectors and term counts cannot, and reorders the candidates by it. Equal
 * relevances keep the first stage's order.
 */
export async function rerankHits(reranker: Reranker, query: string, hits: SearchHit[], topK: number, signal?: AbortSignal): Promise<SearchHit[]> {
  const scores = await reranker.score(
    query,
    hits.map((hit) => hit.memory.text),
    signal && { signal },
  )
  // A reranker is any object with `score`: a wrong answer must fail loudly, not sort at random.
  if (scores.length !== hits.length || !scores.every(Number.isFinite)) {
    throw new MemoryError(
      MemoryErrorCode.InferenceFailed,
      `reranker ${reranker.modelId} returned ${scores.length} scores for ${hits.length} candidates, or a non-finite one`,
    )
  }
  return hits
    .map((hit, i) => ({ ...hit, rerankScore: scores[i] as number, order: i }))
    .sort((a, b) => b.rerankScore - a.rerankScore || a.order - b.order)
    .slice(0, topK)
    .map(({ order: _, ...hit }) => hit)
}
