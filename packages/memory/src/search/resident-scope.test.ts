import { describe, expect, it } from 'vitest'
import { storedRow } from '../../test/helpers/fixtures.js'
import type { FilterNode } from '../filters.js'
import { seededRandom } from '../testing/index.js'
import { bm25Scorer, CorpusStats, countTerms } from './bm25.js'
import { matchesFilter } from './filter-match.js'
import { fuseHybrid } from './fusion.js'
import { type ResidentRow, ResidentScope, residentRow } from './resident-scope.js'
import { tokenize } from './tokenizer.js'

describe('ResidentScope', () => {
  const all = { filter: undefined, currentOnly: false }

  it('ranks by cosine after rows move slots, and refuses a query of other dimensions', () => {
    const scope = new ResidentScope()
    const row = (id: string, vector: number[]) => residentRow({ ...storedRow(id, `text ${id}`), vector: Float32Array.from(vector) })
    const a = row('a', [1, 0, 0])
    scope.put(a)
    scope.put(row('b', [0, 1, 0]))
    const c = row('c', [1.2, 1.6, 0]) // norm 2: the similarity divides by it
    scope.put(c)
    scope.remove('a') // 'c' takes a's slot
    expect(scope.similarity(c, Float32Array.of(0, 1, 0), 1)).toBeCloseTo(0.8, 6)
    expect(scope.similarity(a, Float32Array.of(0, 1, 0), 1)).toBeUndefined()
    const hits = scope.vectorSearch(Float32Array.of(0, 1, 0), 1, all, 2)
    expect(hits.map((h) => [h.memory.id, Number(h.score.toFixed(6))])).toEqual([
      ['b', 1],
      ['c', 0.8],
    ])
    expect(() => scope.vectorSearch(Float32Array.of(0, 1), 1, all, 2)).toThrow('a 2-dimension query against 3-dimension rows')
  })

  it("gives keyword candidates of a hybrid search the cosine of the vector scan, which fusion uses rather than the row's own vector", () => {
    const scope = new ResidentScope()
    const stats = new CorpusStats()
    // Rows of norm 2: the scan divides by it, a dot of the row's own vector would not.
    const row = (id: string, text: string, vector: number[]) => residentRow({ ...storedRow(id, text), vector: Float32Array.from(vector) })
    for (const r of [row('a', 'kayak lake', [0, 2, 0]), row('b', 'kayak river', [2, 0.2, 0]), row('c', 'hiking', [1.2, 1.6, 0])]) {
      scope.put(r)
      stats.add(countTerms(tokenize(r.memory.text)))
    }
    scope.remove('a') // slots move: c takes a's
    scope.put(row('a', 'kayak lake', [0, 2, 0]))
    const query = Float32Array.of(0, 1, 0)
    const [vectorHits, keywordHits] = scope.hybridSearch(query, 1, stats.weights(tokenize('kayak')), all, 2)
    expect(vectorHits.map((h) => h.memory.id)).toEqual(['a', 'c'])
    const similarity = Object.fromEntries(keywordHits.map((h) => [h.memory.id, h.similarity]))
    expect(similarity['a']).toBeCloseTo(1, 6)
    expect(similarity['b']).toBeCloseTo(0.2 / Math.hypot(2, 0.2), 6)
    const fused = fuseHybrid(query, vectorHits, keywordHits, 1)
    // b is keyword-only: its cosine is the scan's (the dot of its own vector, not unit length, is 0.2),
    expect(fused.find((h) => h.memory.id === 'b')?.explain.vector.score).toBeCloseTo(0.2 / Math.hypot(2, 0.2), 6)
    expect(fused.find((h) => h.memory.id === 'b')?.explain.vector.rank).toBeNull()
    // and a keyword-only hit with a similarity is scored by it, not by the dot of its own vector.
    const [ownDot] = fuseHybrid(query, [], [{ memory: row('d', 'kayak', [0, 3, 0]).memory, score: 1, similarity: 0.25 }], 1)
    expect(ownDot?.explain.vector.score).toBe(0.25)
  })

  it('lets a row that ties the k-th score in by id, in the vector and the keyword top-k alike', () => {
    const scope = new ResidentScope()
    const stats = new CorpusStats()
    const row = (id: string, vector: number[]) => residentRow({ ...storedRow(id, 'kayak'), vector: Float32Array.from(vector) })
    for (const r of [row('a', [1, 0]), row('z', [2, 0]), row('m', [0, 1]), row('b', [3, 0])]) {
      scope.put(r)
      stats.add(r.counts)
    }
    scope.remove('a') // 'b', equal to 'z' in cosine and BM25 with a smaller id, moves to a slot before it
    scope.put(row('a', [1, 0])) // and 'a', smallest of all, comes last
    const [vectorHits, keywordHits] = scope.hybridSearch(Float32Array.of(1, 0), 1, stats.weights(['kayak']), all, 1)
    expect(vectorHits.map((h) => h.memory.id)).toEqual(['a'])
    expect(keywordHits.map((h) => h.memory.id)).toEqual(['a'])
    expect(scope.vectorSearch(Float32Array.of(1, 0), 1, all, 2).map((h) => h.memory.id)).toEqual(['a', 'b'])
  })

  it('finds no keyword candidates for a query without terms', () => {
    const scope = new ResidentScope()
    scope.put(residentRow({ ...storedRow('a', 'kayak'), vector: Float32Array.of(1, 0) }))
    const [vectorHits, keywordHits] = scope.hybridSearch(Float32Array.of(1, 0), 1, new CorpusStats().weights([]), all, 3)
    expect(vectorHits).toHaveLength(1)
    expect(keywordHits).toEqual([])
  })

  it('lists in id order through removals, rows put back before a read, and rows replaced by a new image', () => {
    const scope = new ResidentScope()
    const images = new Map(['c', 'a', 'd', 'b'].map((id) => [id, residentRow({ ...storedRow(id, `note ${id}`), vector: Float32Array.of(1, 0) })]))
    for (const row of images.values()) scope.put(row)
    const ids = () => scope.list(all, undefined, 10).map((m) => m.id)
    expect(ids()).toEqual(['a', 'b', 'c', 'd'])
    scope.remove('b')
    scope.put(images.get('b') as ResidentRow) // the same row again, before any read
    scope.remove('c')
    expect(ids()).toEqual(['a', 'b', 'd'])
    scope.put(residentRow({ ...storedRow('a', 'note a, edited'), vector: Float32Array.of(0, 1) }))
    scope.remove('d')
    expect(scope.list(all, undefined, 10).map((m) => m.text)).toEqual(['note a, edited', 'note b'])
    expect(scope.list(all, 'a', 10).map((m) => m.id)).toEqual(['b'])
  })

  it('keeps no more than about twice its rows in an order never read, however often they are replaced', () => {
    const scope = new ResidentScope()
    const image = (id: string, round: number) => residentRow({ ...storedRow(id, `note ${id} round ${round}`), vector: Float32Array.of(1, 0) })
    for (let round = 0; round < 10; round++) for (let i = 0; i < 100; i++) scope.put(image(`r${i}`, round))
    // Searched, never listed: neither order was read.
    const held = scope as unknown as Record<'idOrder' | 'threadOrder', { rows: unknown[] }>
    expect(held.idOrder.rows.length).toBeLessThanOrEqual(200)
    expect(held.threadOrder.rows.length).toBeLessThanOrEqual(200)
    expect(scope.list(all, undefined, 1_000).map((m) => m.text)).toEqual(Array.from({ length: 100 }, (_, i) => `note r${i} round 9`).sort())
  })

  it('ranks exactly as plain cosine and BM25 over the rows it holds, through puts, replacements, removals that move slots and emptying', () => {
    const random = seededRandom(7)
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`)
    // Some words in most rows, most in few: long postings and short ones.
    const text = () => Array.from({ length: 1 + Math.floor(random() * 8) }, () => words[Math.floor(random() ** 2 * words.length)]).join(' ')
    const scope = new ResidentScope()
    const held = new Map<string, ResidentRow>()
    const current: FilterNode = { kind: 'compare', op: 'eq', field: { kind: 'metadata', key: 'tag' }, value: 'a' }
    for (let step = 0; step < 4_000; step++) {
      const id = `m${Math.floor(random() * 300)}`
      if (step === 2_000) {
        // Emptied row by row, then filled again.
        for (const gone of [...held.keys()]) scope.remove(gone)
        held.clear()
      } else if (random() < 0.3) {
        scope.remove(id)
        held.delete(id)
      } else {
        const memory = {
          ...storedRow(id, text()),
          metadata: { tag: random() < 0.5 ? 'a' : 'b' },
          validTo: random() < 0.2 ? 1 : null,
          vector: Float32Array.of(random() - 0.5, random() - 0.5, random() - 0.5),
        }
        const row = residentRow(memory)
        scope.put(row)
        held.set(id, row)
      }
      if (step % 500 !== 499) continue
      const stats = new CorpusStats()
      for (const row of held.values()) stats.add(row.counts)
      for (let q = 0; q < 20; q++) {
        const query = { filter: q % 2 === 0 ? undefined : current, currentOnly: q % 4 < 2 }
        const admitted = [...held.values()].filter(
          (row) => (!query.currentOnly || row.memory.validTo === null) && (query.filter === undefined || matchesFilter(row.memory, query.filter)),
        )
        const best = (hits: Array<{ id: string; score: number }>) => hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, 10)
        const weights = stats.weights(tokenize(text()))
        const bm25 = bm25Scorer(weights)
        const vector = Float32Array.of(random() - 0.5, random() - 0.5, random() - 0.5)
        const norm = Math.hypot(...vector)
        const cosine = (row: ResidentRow) => row.memory.vector.reduce((dot, x, i) => dot + x * (vector[i] as number), 0) / (row.norm * norm)
        const [vectorHits, keywordHits] = scope.hybridSearch(vector, norm, weights, query, 10)
        const expectedVector = best(admitted.map((row) => ({ id: row.memory.id, score: cosine(row) })))
        expect(vectorHits.map((h) => h.memory.id)).toEqual(expectedVector.map((h) => h.id))
        for (const [i, h] of vectorHits.entries()) expect(h.score).toBeCloseTo((expectedVector[i] as { score: number }).score, 12)
        const expectedKeyword = best(admitted.map((row) => ({ id: row.memory.id, score: bm25(row.counts) })).filter((hit) => hit.score > 0))
        expect(keywordHits.map((h) => ({ id: h.memory.id, score: h.score }))).toEqual(expectedKeyword)
        // Keyword candidates carry the scan's cosine of their own row.
        for (const h of keywordHits) expect(h.similarity).toBeCloseTo(cosine(held.get(h.memory.id) as ResidentRow), 12)
        const memories = [...held.values()].slice(0, 50).map((row) => row.memory)
        expect(scope.termScores(weights.terms, weights.norm, memories)).toEqual(memories.map((m) => bm25((held.get(m.id) as ResidentRow).counts)))
      }
    }
  })
})
