import type { CorpusStats, TermCounts } from './bm25.js'
import { byFusedScore, type FusedHit, keywordWeight } from './fusion.js'

/**
 * Pseudo-relevance feedback (Rocchio), over the candidates only. The best hits most likely answer
 * the question, and their words say what it is about in the memories' own terms ("What did she
 * do at the lake?" / "...kayaking with the kids..."). Those words join the query at a fraction
 * of a query word's weight, and every candidate is scored for them as for the query (BM25, over
 * the best keyword candidate's score). It re-orders what the two searches found and never
 * searches again, so it costs no store query on either read path.
 *
 * Picked on LoCoMo's quick set with context's shares, by the sum of Recall@10 and nDCG@10
 * (docs/benchmarks/locomo.md): 3 hits, each counting half the one before, 10 words.
 */
export const feedbackHits = 3
export const feedbackDecay = 0.5
export const feedbackTerms = 10

/**
 * The words of the best hits that the query lacks, each with its share of the hits' weight
 * (hit i weighs `feedbackDecay`^i; a word in every hit has share 1), the `feedbackTerms` with the
 * largest share times IDF: what the best hits are about, rare words first.
 */
export function feedbackWords(best: readonly TermCounts[], queryTerms: readonly string[], stats: CorpusStats): Map<string, number> {
  const inQuery = new Set(queryTerms)
  const shares = new Map<string, number>()
  let total = 0
  best.forEach((doc, i) => {
    const weight = feedbackDecay ** i
    total += weight
    for (const term of doc.terms.keys()) if (!inQuery.has(term)) shares.set(term, (shares.get(term) ?? 0) + weight)
  })
  const ranked = [...shares]
    .map(([term, share]) => ({ term, share: share / total, rank: (share / total) * stats.idf(term) }))
    .sort((a, b) => b.rank - a.rank || (a.term < b.term ? -1 : 1))
    .slice(0, feedbackTerms)
  return new Map(ranked.map(({ term, share }) => [term, share]))
}

/**
 * Adds each hit's feedback score (`explain.feedback`) to its fused score and returns the hits,
 * best first: `weight` times each feedback word's share, times the hit's BM25 for the word, over
 * `bestKeyword` (the best keyword candidate's BM25, what fusion divides by), in fusion's keyword
 * weight. So a feedback word counts at most `weight` of a query word: the query's own words
 * still count most. No keyword candidate, no feedback. `counts` gives a hit's term counts (the resident index keeps them; the
 * store path tokenizes the text).
 */
export function applyFeedback(
  hits: FusedHit[],
  counts: (hit: FusedHit) => TermCounts,
  queryTerms: readonly string[],
  stats: CorpusStats,
  bestKeyword: number,
  weight: number,
): FusedHit[] {
  if (hits.length === 0 || bestKeyword <= 0) return hits
  const docs = hits.map(counts)
  const words = feedbackWords(docs.slice(0, feedbackHits), queryTerms, stats)
  if (words.size === 0) return hits
  const { terms, norm } = stats.weights([...words.keys()])
  const scale = (weight * keywordWeight) / bestKeyword
  hits.forEach((hit, i) => {
    const doc = docs[i] as TermCounts
    const n = norm(doc.length)
    let bm25 = 0
    for (const { term, weight: termWeight } of terms) {
      const tf = doc.terms.get(term)
      if (tf !== undefined) bm25 += (words.get(term) as number) * ((termWeight * tf) / (tf + n))
    }
    if (bm25 > 0) {
      hit.explain.feedback = scale * bm25
      hit.explain.fused += scale * bm25
    }
  })
  return hits.sort(byFusedScore)
}
