import type { FilterNode } from '../filters.js'
import type { ScoredMemory, StoredMemory } from '../store/types.js'
import { type CorpusStats, countTerms, type TermCounts } from './bm25.js'
import { matchesFilter } from './filter-match.js'
import { tokenize } from './tokenizer.js'

/** One memory held in memory, with what ranking needs precomputed. */
export interface ResidentRow {
  memory: StoredMemory
  counts: TermCounts
  /** Euclidean norm of the vector (cosine = dot / norms, as the store computes it). */
  norm: number
  bytes: number
}

export function residentRow(memory: StoredMemory, counts: TermCounts = countTerms(tokenize(memory.text))): ResidentRow {
  let squares = 0
  for (const x of memory.vector) squares += x * x
  // An estimate of the heap it holds: the vector, the strings (UTF-16), metadata, term map entries.
  const bytes = 400 + memory.vector.byteLength + 2 * (memory.text.length + JSON.stringify(memory.metadata).length) + 80 * counts.terms.size
  return { memory, counts, norm: Math.sqrt(squares), bytes }
}

/** What a read asks of a scope besides the scope itself. */
export interface ResidentQuery {
  filter: FilterNode | undefined
  currentOnly: boolean
}

/**
 * Every memory of one scope (tenant + user / agent / run as a read names them), superseded ones
 * included, with an inverted index of its terms: a search is a pass over at most a few thousand
 * vectors and the postings of the query terms, in microseconds, with no query planning.
 */
export class ResidentScope {
  readonly rows = new Map<string, ResidentRow>()
  private readonly postings = new Map<string, Set<ResidentRow>>()
  /** Duplicate key -> id of the live row with it (an add in this scope checks here). */
  readonly byDedupKey = new Map<string, string>()
  bytes = 0

  put(row: ResidentRow): void {
    this.remove(row.memory.id)
    this.rows.set(row.memory.id, row)
    this.byDedupKey.set(row.memory.dedupKey, row.memory.id)
    for (const term of row.counts.terms.keys()) {
      let rows = this.postings.get(term)
      if (!rows) {
        rows = new Set()
        this.postings.set(term, rows)
      }
      rows.add(row)
    }
    this.bytes += row.bytes
  }

  remove(id: string): void {
    const row = this.rows.get(id)
    if (!row) return
    this.rows.delete(id)
    if (this.byDedupKey.get(row.memory.dedupKey) === id) this.byDedupKey.delete(row.memory.dedupKey)
    for (const term of row.counts.terms.keys()) {
      const rows = this.postings.get(term)
      rows?.delete(row)
      if (rows?.size === 0) this.postings.delete(term)
    }
    this.bytes -= row.bytes
  }

  private passes(row: ResidentRow, query: ResidentQuery): boolean {
    return (!query.currentOnly || row.memory.validTo === null) && (query.filter === undefined || matchesFilter(row.memory, query.filter))
  }

  /** The `k` rows closest to `vector` by cosine similarity, best first (ties by id). */
  vectorSearch(vector: Float32Array, vectorNorm: number, query: ResidentQuery, k: number): ScoredMemory[] {
    const hits: ScoredMemory[] = []
    for (const row of this.rows.values()) {
      if (!this.passes(row, query)) continue
      const v = row.memory.vector
      let dot = 0
      for (let i = 0; i < v.length; i++) dot += (v[i] as number) * (vector[i] as number)
      const denominator = row.norm * vectorNorm
      hits.push({ memory: row.memory, score: denominator > 0 ? dot / denominator : 0 })
    }
    return top(hits, k)
  }

  /** The `k` rows with the highest BM25 for these query terms (tenant statistics), best first. */
  keywordSearch(queryTerms: readonly string[], stats: CorpusStats, query: ResidentQuery, k: number): ScoredMemory[] {
    const candidates = new Set<ResidentRow>()
    for (const term of queryTerms) for (const row of this.postings.get(term) ?? []) candidates.add(row)
    const score = stats.scorer(queryTerms)
    const hits: ScoredMemory[] = []
    for (const row of candidates) if (this.passes(row, query)) hits.push({ memory: row.memory, score: score(row.counts) })
    return top(hits, k)
  }
}

/** Best first; equal scores in id order, so that every read path breaks ties alike. */
export function top(hits: ScoredMemory[], k: number): ScoredMemory[] {
  hits.sort((a, b) => b.score - a.score || (a.memory.id < b.memory.id ? -1 : a.memory.id > b.memory.id ? 1 : 0))
  return hits.length > k ? hits.slice(0, k) : hits
}
