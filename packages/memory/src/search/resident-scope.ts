import type { FilterNode } from '../filters.js'
import type { ScoredMemory, StoredMemory } from '../store/types.js'
import { type CorpusStats, countTerms, type TermCounts } from './bm25.js'
import { dotProducts } from './dot-kernel.js'
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
 * vectors and the postings of the query terms, in microseconds, with no query planning. Vectors
 * sit in one contiguous matrix (a row per slot; a removed row's slot takes the last row), which
 * made the scan of a 1,000-memory scope several times faster than one Float32Array per row, and
 * lets one WASM SIMD call (dot-kernel.ts) scan it.
 */
export class ResidentScope {
  readonly rows = new Map<string, ResidentRow>()
  /** Term -> rows holding it, with the term's frequency in each. */
  private readonly postings = new Map<string, Map<ResidentRow, number>>()
  /** Duplicate key -> id of the live row with it (an add in this scope checks here). */
  readonly byDedupKey = new Map<string, string>()
  private slots: ResidentRow[] = []
  private readonly slotOf = new Map<ResidentRow, number>()
  private matrix = new Float32Array(0)
  private dimensions = 0
  bytes = 0

  put(row: ResidentRow): void {
    this.remove(row.memory.id)
    this.rows.set(row.memory.id, row)
    this.byDedupKey.set(row.memory.dedupKey, row.memory.id)
    for (const [term, tf] of row.counts.terms) {
      let rows = this.postings.get(term)
      if (!rows) {
        rows = new Map()
        this.postings.set(term, rows)
      }
      rows.set(row, tf)
    }
    const vector = row.memory.vector
    if (this.dimensions === 0) this.dimensions = vector.length
    const slot = this.slots.length
    if ((slot + 1) * this.dimensions > this.matrix.length) {
      const grown = new Float32Array(Math.max(16, (slot + 1) * 2) * this.dimensions)
      grown.set(this.matrix)
      this.matrix = grown
    }
    this.matrix.set(vector, slot * this.dimensions)
    this.slots.push(row)
    this.slotOf.set(row, slot)
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
    const slot = this.slotOf.get(row) as number
    const last = this.slots.pop() as ResidentRow
    if (last !== row) {
      this.slots[slot] = last
      this.slotOf.set(last, slot)
      this.matrix.copyWithin(slot * this.dimensions, this.slots.length * this.dimensions, (this.slots.length + 1) * this.dimensions)
    }
    this.slotOf.delete(row)
    this.bytes -= row.bytes
  }

  private passes(row: ResidentRow, query: ResidentQuery): boolean {
    return (!query.currentOnly || row.memory.validTo === null) && (query.filter === undefined || matchesFilter(row.memory, query.filter))
  }

  /** The `k` rows closest to `vector` by cosine similarity, best first (ties by id). */
  vectorSearch(vector: Float32Array, vectorNorm: number, query: ResidentQuery, k: number): ScoredMemory[] {
    const best = new TopK(k)
    const { slots } = this
    const dots = dotProducts(this.matrix, slots.length, this.dimensions, vector)
    const check = query.currentOnly || query.filter !== undefined
    for (let slot = 0; slot < slots.length; slot++) {
      const row = slots[slot] as ResidentRow
      if (check && !this.passes(row, query)) continue
      const denominator = row.norm * vectorNorm
      best.offer(row.memory, denominator > 0 ? (dots[slot] as number) / denominator : 0)
    }
    return best.sorted()
  }

  /** The `k` rows with the highest BM25 for these query terms (tenant statistics), best first. */
  keywordSearch(queryTerms: readonly string[], stats: CorpusStats, query: ResidentQuery, k: number): ScoredMemory[] {
    const { terms, norm } = stats.weights(queryTerms)
    const scores = new Map<ResidentRow, number>()
    for (const { term, weight } of terms) {
      for (const [row, tf] of this.postings.get(term) ?? []) scores.set(row, (scores.get(row) ?? 0) + (weight * tf) / (tf + norm(row.counts.length)))
    }
    const best = new TopK(k)
    for (const [row, score] of scores) if (this.passes(row, query)) best.offer(row.memory, score)
    return best.sorted()
  }
}

/** Best first; equal scores in id order, so that every read path breaks ties alike. */
function compareHits(a: ScoredMemory, b: ScoredMemory): number {
  return b.score - a.score || (a.memory.id < b.memory.id ? -1 : a.memory.id > b.memory.id ? 1 : 0)
}

export function top(hits: ScoredMemory[], k: number): ScoredMemory[] {
  hits.sort(compareHits)
  return hits.length > k ? hits.slice(0, k) : hits
}

/** The best `k` of a stream of hits, kept sorted: a hit that cannot enter costs one comparison. */
class TopK {
  private readonly hits: ScoredMemory[] = []

  constructor(private readonly k: number) {}

  offer(memory: StoredMemory, score: number): void {
    const { hits, k } = this
    if (hits.length === k) {
      // Most rows of a big scope stop here, with no allocation.
      const last = hits[k - 1] as ScoredMemory
      if ((last.score - score || (memory.id < last.memory.id ? -1 : memory.id > last.memory.id ? 1 : 0)) >= 0) return // compareHits, inlined
    }
    const hit = { memory, score }
    let i = hits.length === k ? k - 1 : hits.length
    if (hits.length === k) hits.pop()
    while (i > 0 && compareHits(hit, hits[i - 1] as ScoredMemory) < 0) i--
    hits.splice(i, 0, hit)
  }

  sorted(): ScoredMemory[] {
    return this.hits
  }
}
