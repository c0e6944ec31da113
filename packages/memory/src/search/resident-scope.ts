import type { FilterNode } from '../filters.js'
import type { ScoredMemory, StoredMemory } from '../store/types.js'
import { countTerms, type QueryWeights, type TermCounts } from './bm25.js'
import { compareThreadOrder, type Neighbour, threadNeighbours } from './context.js'
import { dotProducts, dotsInJs } from './dot-kernel.js'
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
  // An estimate of the heap it holds: the vector twice (its own array and the scope's matrix), the
  // slot's norm and place in id order, its entry in the cache's id index, the strings (UTF-16),
  // metadata, term map entries.
  const bytes = 512 + 2 * memory.vector.byteLength + 2 * (memory.text.length + JSON.stringify(memory.metadata).length) + 80 * counts.terms.size
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
  /** Term -> the documents (rows, numbered apart from their slots) holding it, with the term's frequency in each. */
  private readonly postings = new Map<string, Postings>()
  /** Each document's slot; -1 for a removed row's, whose postings stay until `reindex`. */
  private docSlots = new Int32Array(0)
  private nextDoc = 0
  private livePostings = 0
  private deadPostings = 0
  /** Duplicate key -> id of the live row with it (an add in this scope checks here). */
  readonly byDedupKey = new Map<string, string>()
  /** Duplicate key -> how many rows hold it: more than one after an update or an import made two alike. */
  private readonly dedupHolders = new Map<string, number>()
  private readonly slots: Slotted[] = []
  private readonly slotted = new Map<ResidentRow, Slotted>()
  /** The rows in thread order (context.ts), for context's neighbours. */
  private readonly threadOrder = new SortedRows(compareThreadOrder)
  /** The rows in id order, a list's order (the store's `ORDER BY id`). */
  private readonly idOrder = new SortedRows(compareIds)
  private matrix = new Float32Array(0)
  /** Each slot's vector norm, beside the matrix: the scan divides by it without reading the slot's row. */
  private norms = new Float64Array(0)
  /** Each slot's length in terms, which BM25 reads for every posting. */
  private lengths = new Float64Array(0)
  /** 1 where a slot's memory is current (no newer fact superseded it): the top-k passes check it without reading the row. */
  private current = new Uint8Array(0)
  private dimensions = 0
  bytes = 0
  /**
   * Rows whose vector is all zeros (the offline default embeds a text of only unknown words so).
   * The store's cosine search never returns such a row, so neither does the scan: they are found
   * by keywords and context only, scored at cosine 0 as fusion scores them.
   */
  unreadRows = 0

  put(row: ResidentRow): void {
    this.remove(row.memory.id)
    this.rows.set(row.memory.id, row)
    this.byDedupKey.set(row.memory.dedupKey, row.memory.id)
    this.dedupHolders.set(row.memory.dedupKey, (this.dedupHolders.get(row.memory.dedupKey) ?? 0) + 1)
    const entry: Slotted = { row, slot: this.slots.length, doc: this.nextDoc++ }
    this.index(entry)
    const vector = row.memory.vector
    if (this.dimensions === 0) this.dimensions = vector.length
    // By rows and by floats: a first row with no vector leaves the matrix empty (dimensions 0).
    if (entry.slot >= this.norms.length || (entry.slot + 1) * this.dimensions > this.matrix.length) {
      const rows = Math.max(16, (entry.slot + 1) * 2)
      this.matrix = grown(this.matrix, rows * this.dimensions)
      this.norms = grown(this.norms, rows)
      this.lengths = grown(this.lengths, rows)
      this.current = grown(this.current, rows)
    }
    this.matrix.set(vector, entry.slot * this.dimensions)
    this.norms[entry.slot] = row.norm
    this.lengths[entry.slot] = row.counts.length
    this.current[entry.slot] = row.memory.validTo === null ? 1 : 0
    this.slots.push(entry)
    this.slotted.set(row, entry)
    this.threadOrder.push(row.memory)
    this.idOrder.push(row.memory)
    this.bytes += row.bytes
    if (row.norm === 0) this.unreadRows++
  }

  remove(id: string): void {
    const row = this.rows.get(id)
    if (!row) return
    const entry = this.slotted.get(row) as Slotted
    this.rows.delete(id)
    const key = row.memory.dedupKey
    const holders = (this.dedupHolders.get(key) ?? 1) - 1
    if (holders === 0) this.dedupHolders.delete(key)
    else this.dedupHolders.set(key, holders)
    if (this.byDedupKey.get(key) === id) {
      this.byDedupKey.delete(key)
      // Another row holds the same text (an update or an import made two alike): it answers the
      // next add's duplicate check, as the store's lookup would find it. Rare, so a scan.
      if (holders > 0) {
        for (const other of this.rows.values()) {
          if (other.memory.dedupKey === key) {
            this.byDedupKey.set(key, other.memory.id)
            break
          }
        }
      }
    }
    // Its postings stay, read as removed, until they outnumber the live ones: finding each in its
    // term's list would cost a pass over the list.
    this.docSlots[entry.doc] = -1
    this.livePostings -= row.counts.terms.size
    this.deadPostings += row.counts.terms.size
    const last = this.slots.pop() as Slotted
    if (last !== entry) {
      // The last row takes the removed row's slot, in the matrix and beside it.
      this.slots[entry.slot] = last
      this.matrix.copyWithin(entry.slot * this.dimensions, last.slot * this.dimensions, (last.slot + 1) * this.dimensions)
      this.norms[entry.slot] = this.norms[last.slot] as number
      this.lengths[entry.slot] = this.lengths[last.slot] as number
      this.current[entry.slot] = this.current[last.slot] as number
      last.slot = entry.slot
      this.docSlots[last.doc] = last.slot
    }
    if (this.deadPostings > 64 && this.deadPostings > this.livePostings) this.reindex()
    this.slotted.delete(row)
    if (row.norm === 0) this.unreadRows--
    this.threadOrder.remove(row.memory)
    this.idOrder.remove(row.memory)
    this.bytes -= row.bytes
  }

  private visible(memory: StoredMemory, query: ResidentQuery): boolean {
    return (!query.currentOnly || memory.validTo === null) && (query.filter === undefined || matchesFilter(memory, query.filter))
  }

  /** Each lender's thread neighbours among the rows a read with this query may return (context.ts). */
  neighbours(lenders: readonly StoredMemory[], query: ResidentQuery): Map<string, Neighbour<StoredMemory>> {
    const check = query.currentOnly || query.filter !== undefined
    return threadNeighbours(this.threadOrder.sorted(), lenders, (memory) => !check || this.visible(memory, query))
  }

  /**
   * Up to `limit` rows a read with this query may return, in id order, after `afterId`: a page of
   * a list (Memory.getAll) with no store query and no wait for the writes' LanceDB apply.
   */
  list(query: ResidentQuery, afterId: string | undefined, limit: number): StoredMemory[] {
    const order = this.idOrder.sorted()
    const page: StoredMemory[] = []
    let at = afterId === undefined ? 0 : this.idOrder.position({ id: afterId } as StoredMemory)
    if (afterId !== undefined && order[at]?.id === afterId) at++
    for (; at < order.length && page.length < limit; at++) {
      const memory = order[at] as StoredMemory
      if (this.visible(memory, query)) page.push(memory)
    }
    return page
  }

  /** How many rows a read with this query may return. */
  count(query: ResidentQuery): number {
    let count = 0
    for (const { memory } of this.rows.values()) if (this.visible(memory, query)) count++
    return count
  }

  /** The `k` rows closest to `vector` by cosine similarity, best first (ties by id). */
  vectorSearch(vector: Float32Array, vectorNorm: number, query: ResidentQuery, k: number): ScoredMemory[] {
    return this.vectorTop(this.similarities(vector, vectorNorm), query, k)
  }

  /** The `k` rows with the highest BM25 for these weighted query terms (tenant statistics), best first. */
  keywordSearch(weights: QueryWeights, query: ResidentQuery, k: number): ScoredMemory[] {
    return this.keywordTop(weights, query, k, undefined)
  }

  /**
   * Both candidate lists of a hybrid search from one scan: keyword candidates carry their cosine
   * (`similarity`) from it, so fusion need not compute it again from each row's own vector, which
   * sits elsewhere in the heap (docs/architecture.md, Reads).
   */
  hybridSearch(vector: Float32Array, vectorNorm: number, weights: QueryWeights, query: ResidentQuery, k: number): [ScoredMemory[], ScoredMemory[]] {
    const similarities = this.similarities(vector, vectorNorm)
    return [this.vectorTop(similarities, query, k), weights.terms.length === 0 ? [] : this.keywordTop(weights, query, k, similarities)]
  }

  /**
   * One row's cosine similarity to `vector`, from this scope's matrix, which a search's scan just
   * read (the row's own vector sits elsewhere in the heap); undefined for a row it does not hold.
   */
  similarity(row: ResidentRow, vector: Float32Array, vectorNorm: number): number | undefined {
    const entry = this.slotted.get(row)
    if (!entry || vector.length !== this.dimensions) return undefined
    const at = entry.slot * this.dimensions
    const [dot] = dotsInJs(this.matrix.subarray(at, at + this.dimensions), 1, this.dimensions, vector)
    const denominator = row.norm * vectorNorm
    return denominator > 0 ? (dot as number) / denominator : 0
  }

  /** Each slot's cosine similarity to `vector` (0 against a zero vector), in slot order. */
  private similarities(vector: Float32Array, vectorNorm: number): Float64Array {
    const { slots } = this
    // A vector of another model (a search racing a re-embed) would score against the wrong floats.
    if (slots.length > 0 && vector.length !== this.dimensions) throw new Error(`a ${vector.length}-dimension query against ${this.dimensions}-dimension rows`)
    // Divided in place: the kernel's result is a view valid until its next call, which only comes from another search.
    const similarities = dotProducts(this.matrix, slots.length, this.dimensions, vector)
    const { norms } = this
    for (let slot = 0; slot < slots.length; slot++) {
      const denominator = (norms[slot] as number) * vectorNorm
      similarities[slot] = denominator > 0 ? (similarities[slot] as number) / denominator : 0
    }
    return similarities
  }

  /** Adds a row's postings, under its document number. */
  private index(entry: Slotted): void {
    if (entry.doc >= this.docSlots.length) this.docSlots = grown(this.docSlots, Math.max(64, (entry.doc + 1) * 2))
    this.docSlots[entry.doc] = entry.slot
    for (const [term, tf] of entry.row.counts.terms) {
      let rows = this.postings.get(term)
      if (!rows) {
        rows = { docs: [], tfs: [] }
        this.postings.set(term, rows)
      }
      rows.docs.push(entry.doc)
      rows.tfs.push(tf)
    }
    this.livePostings += entry.row.counts.terms.size
  }

  /** Rebuilds the postings of the rows held, numbered by slot: emptying a scope row by row costs a pass over what is left each time half goes. */
  private reindex(): void {
    this.postings.clear()
    this.docSlots = new Int32Array(Math.max(64, this.slots.length * 2))
    this.nextDoc = 0
    this.livePostings = 0
    this.deadPostings = 0
    for (const entry of this.slots) {
      entry.doc = this.nextDoc++
      this.index(entry)
    }
  }

  /**
   * Whether a slot's row may be returned to a read with this query, from the arrays beside the
   * matrix: only a filter reads the row itself.
   */
  private admits(slot: number, { currentOnly, filter }: ResidentQuery): boolean {
    return (!currentOnly || this.current[slot] === 1) && (filter === undefined || matchesFilter((this.slots[slot] as Slotted).row.memory, filter))
  }

  private vectorTop(similarities: Float64Array, query: ResidentQuery, k: number): ScoredMemory[] {
    const best = new TopK(k, this.slots)
    const { slots, norms } = this
    let floor = Number.NEGATIVE_INFINITY
    for (let slot = 0; slot < slots.length; slot++) {
      const score = similarities[slot] as number
      // Most rows of a big scope stop here (a tie may still enter, by id).
      if (score < floor || norms[slot] === 0 || !this.admits(slot, query)) continue
      best.offer(slot, score)
      floor = best.floor
    }
    return best.hits(undefined)
  }

  private keywordTop({ terms, norm }: QueryWeights, query: ResidentQuery, k: number, similarities: Float64Array | undefined): ScoredMemory[] {
    // Scores by slot in a shared scratch array (a search runs start to end in one call): a Map of
    // rows to scores cost more than the BM25 arithmetic on scopes of 1,000.
    const { stamps, scores, stamp } = keywordScratch(this.slots.length)
    const { docSlots, lengths } = this
    const touched: number[] = []
    for (const { term, weight } of terms) {
      const rows = this.postings.get(term)
      if (!rows) continue
      const { docs, tfs } = rows
      for (let i = 0; i < docs.length; i++) {
        const slot = docSlots[docs[i] as number] as number
        if (slot < 0) continue
        const tf = tfs[i] as number
        if (stamps[slot] !== stamp) {
          stamps[slot] = stamp
          scores[slot] = 0
          touched.push(slot)
        }
        scores[slot] = (scores[slot] as number) + (weight * tf) / (tf + norm(lengths[slot] as number))
      }
    }
    const best = new TopK(k, this.slots)
    let floor = Number.NEGATIVE_INFINITY
    for (const slot of touched) {
      const score = scores[slot] as number
      if (score < floor || !this.admits(slot, query)) continue
      best.offer(slot, score)
      floor = best.floor
    }
    return best.hits(similarities)
  }

  /**
   * Each memory's BM25 for weighted terms (feedback's words, feedback.ts), term by term in the
   * order given, as the store path sums them: undefined for a memory this scope does not hold as
   * given (a write replaced or removed it since the candidates were found). A word's rows come
   * from its postings when it is rarer than the memories are many (a rare word is in few rows),
   * else from each memory's own term map, so a word costs at most one read per memory.
   */
  termScores(
    terms: ReadonlyArray<{ term: string; weight: number }>,
    norm: (length: number) => number,
    memories: readonly StoredMemory[],
  ): Array<number | undefined> {
    const { stamp, stamps, scores } = keywordScratch(this.slots.length)
    const { docSlots, lengths } = this
    const held = memories.map((memory) => {
      const row = this.rows.get(memory.id)
      return row?.memory === memory ? this.slotted.get(row) : undefined
    })
    for (const entry of held) {
      if (!entry) continue
      stamps[entry.slot] = stamp
      scores[entry.slot] = 0
    }
    for (const { term, weight } of terms) {
      const rows = this.postings.get(term)
      if (!rows) continue
      if (rows.docs.length <= held.length) {
        const { docs, tfs } = rows
        for (let i = 0; i < docs.length; i++) {
          const slot = docSlots[docs[i] as number] as number
          const tf = tfs[i] as number
          if (slot >= 0 && stamps[slot] === stamp) scores[slot] = (scores[slot] as number) + (weight * tf) / (tf + norm(lengths[slot] as number))
        }
      } else {
        for (const entry of held) {
          const tf = entry?.row.counts.terms.get(term)
          if (entry && tf !== undefined) scores[entry.slot] = (scores[entry.slot] as number) + (weight * tf) / (tf + norm(lengths[entry.slot] as number))
        }
      }
    }
    return held.map((entry) => entry && (scores[entry.slot] as number))
  }
}

/**
 * A row as one scope holds it: where its vector sits in the scope's matrix (rows are shared by the
 * scopes they belong to), and the number its postings know it by, which a slot move leaves alone.
 */
interface Slotted {
  row: ResidentRow
  slot: number
  doc: number
}

/**
 * One term's postings: the documents holding it and the term's frequency in each, in step.
 * Small-integer arrays rather than a map of rows: iterating a map of row entries cost ~200 ns a
 * posting (profiled), most of it reading each entry's objects.
 */
interface Postings {
  docs: number[]
  tfs: number[]
}

/** A copy of `array` in a new one of `length` elements (a slot array of a scope outgrowing it). */
function grown<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(array: T, length: number): T {
  const copy = new (array.constructor as new (length: number) => T)(length)
  copy.set(array)
  return copy
}

/** Keyword scores by slot; a slot's score counts for this search only while its stamp is the current one. */
const scratch = { scores: new Float64Array(0), stamps: new Uint32Array(0), stamp: 0 }

function keywordScratch(slots: number): typeof scratch {
  if (scratch.scores.length < slots) {
    const size = Math.max(slots, scratch.scores.length * 2, 1024)
    scratch.scores = new Float64Array(size)
    scratch.stamps = new Uint32Array(size)
    scratch.stamp = 0
  }
  scratch.stamp = scratch.stamp === 0xffffffff ? 1 : scratch.stamp + 1
  if (scratch.stamp === 1) scratch.stamps.fill(0)
  return scratch
}

function compareIds(a: StoredMemory, b: StoredMemory): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/**
 * A scope's rows in one order. A row is appended, and the array sorted when next read (rows
 * mostly arrive in order, and sorting a nearly sorted array takes about one pass): inserting each
 * row of a load in place would move half the array every time. Removals wait for the next read
 * too, which drops them in one pass (a splice each made emptying a scope quadratic, 10,000 rows:
 * 45 ms, 31 ms now, medians of a probe here), or for half the rows to be removed, as an order
 * that is never read (a scope searched but not listed) would otherwise keep every removed row.
 */
class SortedRows {
  private rows: StoredMemory[] = []
  private inOrder = true
  /** Rows removed since the last read, still in `rows`. */
  private readonly removed = new Set<StoredMemory>()

  constructor(private readonly compare: (a: StoredMemory, b: StoredMemory) => number) {}

  push(row: StoredMemory): void {
    // Removed and put back before a read: it is still in place.
    if (this.removed.delete(row)) return
    const last = this.rows.at(-1)
    if (last && this.compare(last, row) > 0) this.inOrder = false
    this.rows.push(row)
  }

  /** `row` must be one of the rows (ResidentScope removes only rows it holds). */
  remove(row: StoredMemory): void {
    this.removed.add(row)
    if (this.removed.size > 16 && this.removed.size * 2 > this.rows.length) this.dropRemoved()
  }

  sorted(): StoredMemory[] {
    this.dropRemoved()
    if (!this.inOrder) {
      this.rows.sort(this.compare)
      this.inOrder = true
    }
    return this.rows
  }

  private dropRemoved(): void {
    if (this.removed.size === 0) return
    const { removed } = this
    this.rows = this.rows.filter((row) => !removed.has(row))
    removed.clear()
  }

  /** Where `probe` is, or would go, in the sorted rows (the fields the order compares suffice). */
  position(probe: StoredMemory): number {
    const rows = this.sorted()
    let lo = 0
    let hi = rows.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.compare(rows[mid] as StoredMemory, probe) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
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

/**
 * The best `k` slots of a stream of scored slots, best first, equal scores in id order (as
 * `compareHits`): slots and scores in typed arrays, so a slot that cannot enter costs one
 * comparison, and no row is read but to order a tie, until the hits are made at the end.
 */
class TopK {
  private readonly scores: Float64Array
  private readonly slots: Int32Array
  private size = 0

  constructor(
    private readonly k: number,
    /** The scope's slots, read only to order a tie and to make the hits. */
    private readonly rows: readonly Slotted[],
  ) {
    this.scores = new Float64Array(k)
    this.slots = new Int32Array(k)
  }

  offer(slot: number, score: number): void {
    const { k, scores, slots } = this
    if (this.size === k && !this.ranksBefore(slot, score, k - 1)) return
    // Binary search: a scope of 100 offers most of its rows to a top 30.
    let lo = 0
    let hi = this.size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ranksBefore(slot, score, mid)) hi = mid
      else lo = mid + 1
    }
    for (let i = Math.min(this.size, k - 1); i > lo; i--) {
      scores[i] = scores[i - 1] as number
      slots[i] = slots[i - 1] as number
    }
    scores[lo] = score
    slots[lo] = slot
    if (this.size < k) this.size++
  }

  /** Whether `slot` with `score` ranks before the entry at `at`: a higher score, or the same and a smaller id. */
  private ranksBefore(slot: number, score: number, at: number): boolean {
    const other = this.scores[at] as number
    return score > other || (score === other && this.idOf(slot) < this.idOf(this.slots[at] as number))
  }

  private idOf(slot: number): string {
    return (this.rows[slot] as Slotted).row.memory.id
  }

  /** The score below which a slot cannot enter: the k-th best so far, once there are k. */
  get floor(): number {
    return this.size === this.k ? (this.scores[this.k - 1] as number) : Number.NEGATIVE_INFINITY
  }

  /** The hits, best first; each carries its slot's cosine from `similarities` when given (keyword candidates of a hybrid search). */
  hits(similarities: Float64Array | undefined): ScoredMemory[] {
    const hits: ScoredMemory[] = []
    for (let i = 0; i < this.size; i++) {
      const slot = this.slots[i] as number
      // One object shape for every hit, similarity or not.
      hits.push({ memory: (this.rows[slot] as Slotted).row.memory, score: this.scores[i] as number, similarity: similarities?.[slot] })
    }
    return hits
  }
}
