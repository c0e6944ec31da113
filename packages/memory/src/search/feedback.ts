import type { StoredMemory } from '../store/types.js'
import type { CorpusStats, TermCounts } from './bm25.js'
import { type FusedHit, keywordWeight, sortByFusedScore } from './fusion.js'

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

/** A feedback word: its share of the best hits' weight, and its BM25 term weight times that share. */
export interface FeedbackWord {
  term: string
  share: number
  weight: number
}

/**
 * The words of the best hits that the query lacks, each with its share of the hits' weight
 * (hit i weighs `feedbackDecay`^i; a word in every hit has share 1), the `feedbackTerms` with the
 * largest share times IDF: what the best hits are about, rare words first. `norm` is BM25's
 * length normalisation, as for the query.
 */
export function feedbackWords(
  best: readonly TermCounts[],
  queryTerms: readonly string[],
  stats: CorpusStats,
): { words: FeedbackWord[]; norm: (length: number) => number } {
  // A word's share sums the weights of the hits that hold it, in hit order; it is counted at the
  // first hit that holds it, by looking it up in the later ones (no map of all the words).
  let total = 0
  for (let i = 0; i < best.length; i++) total += feedbackDecay ** i
  const words: FeedbackWord[] = []
  // Once the list is full, a word whose share times the highest possible term weight falls below
  // the last one's weight cannot enter: its IDF is not looked up.
  const ceiling = stats.maxTermWeight()
  for (let i = 0; i < best.length; i++) {
    terms: for (const term of (best[i] as TermCounts).terms.keys()) {
      for (let earlier = 0; earlier < i; earlier++) if ((best[earlier] as TermCounts).terms.has(term)) continue terms
      if (queryTerms.includes(term)) continue
      let hitWeights = feedbackDecay ** i
      for (let later = i + 1; later < best.length; later++) if ((best[later] as TermCounts).terms.has(term)) hitWeights += feedbackDecay ** later
      // The best few by share times BM25 term weight (IDF times a constant), kept in order as
      // found: at most one IDF lookup per word, no sort of them all.
      const share = hitWeights / total
      if (words.length === feedbackTerms && share * ceiling < (words[feedbackTerms - 1] as FeedbackWord).weight) continue
      const word = { term, share, weight: share * stats.termWeight(term) }
      let at = words.length
      while (at > 0 && ranksBefore(word, words[at - 1] as FeedbackWord)) at--
      if (at < feedbackTerms) {
        words.splice(at, 0, word)
        if (words.length > feedbackTerms) words.pop()
      }
    }
  }
  return { words, norm: stats.norm() }
}

function ranksBefore(a: FeedbackWord, b: FeedbackWord): boolean {
  return a.weight > b.weight || (a.weight === b.weight && a.term < b.term)
}

/**
 * Where feedback reads the hits' terms: each one's term counts, and optionally a faster way to
 * score every hit for the words (the resident index's postings). Both must sum a hit's words in
 * the order given, so both read paths rank alike to the last bit.
 */
export interface FeedbackTerms {
  counts(memory: StoredMemory): TermCounts
  /** Every hit's score for the words at once, in the hits' order; undefined for a hit it does not hold (then `counts` scores it). */
  scores?(words: readonly FeedbackWord[], norm: (length: number) => number, memories: readonly StoredMemory[]): Array<number | undefined>
}

/** A text's BM25 for the feedback words, each weighted by its share, summed in the words' order. */
export function wordsBm25(doc: TermCounts, words: readonly FeedbackWord[], norm: (length: number) => number): number {
  const n = norm(doc.length)
  let bm25 = 0
  for (let j = 0; j < words.length; j++) {
    const word = words[j] as FeedbackWord
    const tf = doc.terms.get(word.term)
    if (tf !== undefined) bm25 += (word.weight * tf) / (tf + n)
  }
  return bm25
}

/**
 * Adds each hit's feedback score (`explain.feedback`) to its fused score and returns the hits,
 * best first: `weight` times each feedback word's share, times the hit's BM25 for the word, over
 * `bestKeyword` (the best keyword candidate's BM25, what fusion divides by), in fusion's keyword
 * weight: a feedback word counts `weight` of what it would as a query word (up to
 * `feedbackTerms` of them, so the sum may pass a query word's). A filler memory gains
 * `fillerWeight` of it, as of its own score. No keyword candidate, no feedback.
 */
export function applyFeedback(
  hits: FusedHit[],
  source: FeedbackTerms,
  queryTerms: readonly string[],
  stats: CorpusStats,
  { bestKeyword, weight, fillerWeight }: { bestKeyword: number; weight: number; fillerWeight: number },
): FusedHit[] {
  if (hits.length === 0 || bestKeyword <= 0) return hits
  const best = hits.slice(0, feedbackHits).map((hit) => source.counts(hit.memory))
  const { words, norm } = feedbackWords(best, queryTerms, stats)
  if (words.length === 0) return hits
  const scored = source.scores?.(
    words,
    norm,
    hits.map((hit) => hit.memory),
  )
  const scale = (weight * keywordWeight) / bestKeyword
  for (let i = 0; i < hits.length; i++) {
    const hit = hits[i] as FusedHit
    const bm25 = scored?.[i] ?? wordsBm25(best[i] ?? source.counts(hit.memory), words, norm)
    if (bm25 > 0) {
      const gain = scale * bm25 * (hit.explain.filler ? fillerWeight : 1)
      hit.explain.feedback = gain
      hit.explain.fused += gain
    }
  }
  return sortByFusedScore(hits)
}
