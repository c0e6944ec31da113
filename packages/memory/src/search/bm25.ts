/**
 * BM25 as the engine defines it, the same on every read path: Okapi BM25 with the IDF and average
 * length of the tenant's live memories. The store's own `_score` depends on when maintenance last
 * ran (rows not yet indexed, rows deleted but not yet compacted) and counts every tenant's texts;
 * the engine's statistics are exact at every write and never let one tenant's texts move another's
 * scores.
 */
const k1 = 1.2
/**
 * Length normalisation, weak on purpose (the store's index uses the textbook 0.75). A memory is a
 * message or a fact, not a document: a longer one says more, it does not repeat itself more, so
 * the usual penalty on length mostly buried the turns that answer a question. Picked from
 * {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 0.9} on LoCoMo's quick set (docs/benchmarks/locomo.md).
 */
const b = 0.1

/** Term frequencies and length of one text, as the keyword index sees it. */
export interface TermCounts {
  terms: Map<string, number>
  length: number
}

export function countTerms(tokens: readonly string[]): TermCounts {
  const terms = new Map<string, number>()
  for (const token of tokens) terms.set(token, (terms.get(token) ?? 0) + 1)
  return { terms, length: tokens.length }
}

/** What BM25 needs of a query, computed once per query (`CorpusStats.weights`). */
export interface QueryWeights {
  terms: Array<{ term: string; weight: number }>
  norm: (length: number) => number
}

/**
 * The BM25 of a text for weighted query terms (a repeated term counts again; 0 when it holds none
 * of them), as a function: IDFs and the average length were computed once, in the weights.
 */
export function bm25Scorer({ terms, norm }: QueryWeights): (doc: TermCounts) => number {
  return (doc) => {
    const n = norm(doc.length)
    let score = 0
    for (const { term, weight } of terms) {
      const tf = doc.terms.get(term)
      if (tf !== undefined) score += (weight * tf) / (tf + n)
    }
    return score
  }
}

export interface CorpusStatsSnapshot {
  documents: number
  totalLength: number
  frequencies: ReadonlyMap<string, number>
}

/** Document count, total length and document frequency of every term over a tenant's memories. */
export class CorpusStats {
  private documents = 0
  private totalLength = 0
  private readonly frequencies = new Map<string, number>()

  add(doc: TermCounts): void {
    this.documents++
    this.totalLength += doc.length
    for (const term of doc.terms.keys()) this.frequencies.set(term, (this.frequencies.get(term) ?? 0) + 1)
  }

  remove(doc: TermCounts): void {
    this.documents--
    this.totalLength -= doc.length
    for (const term of doc.terms.keys()) {
      const left = (this.frequencies.get(term) ?? 1) - 1
      if (left > 0) this.frequencies.set(term, left)
      else this.frequencies.delete(term)
    }
  }

  get size(): number {
    return this.documents
  }

  /**
   * The counts as structured-cloneable data, for the search thread's mirror (search-thread.ts). It
   * holds the live map of term counts: post it at once (postMessage copies it then), never later.
   */
  snapshot(): CorpusStatsSnapshot {
    return { documents: this.documents, totalLength: this.totalLength, frequencies: this.frequencies }
  }

  static from(snapshot: CorpusStatsSnapshot): CorpusStats {
    const stats = new CorpusStats()
    stats.documents = snapshot.documents
    stats.totalLength = snapshot.totalLength
    for (const [term, n] of snapshot.frequencies) stats.frequencies.set(term, n)
    return stats
  }

  /** Approximate heap bytes (terms as UTF-16 strings plus map overhead). */
  get bytes(): number {
    let bytes = 64
    for (const term of this.frequencies.keys()) bytes += 48 + term.length * 2
    return bytes
  }

  idf(term: string): number {
    const n = this.frequencies.get(term) ?? 0
    return Math.log(1 + (this.documents - n + 0.5) / (n + 0.5))
  }

  /**
   * The parts of BM25 that depend on the query only: a term's contribution to a text is
   * weight * tf / (tf + norm(length)), summed over the query's terms (repeats included).
   */
  weights(queryTerms: readonly string[]): QueryWeights {
    const weighted = new Map<string, number>()
    for (const term of queryTerms) weighted.set(term, (weighted.get(term) ?? 0) + this.termWeight(term))
    return { terms: [...weighted].map(([term, weight]) => ({ term, weight })), norm: this.norm() }
  }

  /** A term's weight in BM25: its IDF times (k1 + 1). */
  termWeight(term: string): number {
    return this.idf(term) * (k1 + 1)
  }

  /** The most `termWeight` can be at these statistics: a term no memory holds. */
  maxTermWeight(): number {
    return Math.log(1 + (this.documents + 0.5) / 0.5) * (k1 + 1)
  }

  /** BM25's length normalisation at the current average length. */
  norm(): (length: number) => number {
    const averageLength = this.documents > 0 ? this.totalLength / this.documents || 1 : 1
    return (length) => k1 * (1 - b + (b * length) / averageLength)
  }
}
