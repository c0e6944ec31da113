import { describe, expect, it } from 'vitest'
import { normaliseEvidence } from './data.js'
import { pairedDifference, scoreRanking, summarise } from './metrics.js'

describe('normaliseEvidence', () => {
  const known = new Set(['D8:6', 'D9:17', 'D11:26', 'D30:5', 'D4:4'])
  it('splits packed ids, repairs the malformed ones and drops ids that are not in the conversation', () => {
    expect(normaliseEvidence(['D8:6; D9:17', 'D:11:26', 'D30:05', 'D', 'D10:19', 'D4:4 D4:4'], known)).toEqual(['D8:6', 'D9:17', 'D11:26', 'D30:5', 'D4:4'])
  })
})

describe('scoreRanking', () => {
  it('scores recall, hit, nDCG and MRR against the evidence', () => {
    const ranked = [['a'], ['x'], ['b'], ['y']]
    const s = scoreRanking(ranked, ['b', 'a', 'c'])
    expect(s.recall1).toBeCloseTo(1 / 3)
    expect(s.recall5).toBeCloseTo(2 / 3)
    expect(s.recall20).toBeCloseTo(2 / 3)
    expect(s.hit10).toBe(1)
    expect(s.mrr).toBe(1)
    expect(s.ndcg10).toBeCloseTo((1 + 1 / Math.log2(4)) / (1 + 1 / Math.log2(3) + 1 / Math.log2(4)))
  })

  it('gives zero when nothing relevant is retrieved, and counts a merged memory once per id it covers', () => {
    expect(scoreRanking([['x'], ['y']], ['a'])).toMatchObject({ recall10: 0, hit10: 0, ndcg10: 0, mrr: 0 })
    const merged = scoreRanking([['x'], ['a', 'b']], ['a', 'b'])
    expect(merged.recall1).toBe(0)
    expect(merged.recall5).toBe(1)
    expect(merged.mrr).toBe(0.5)
  })
})

describe('bootstrap', () => {
  it('brackets the mean, and a constant sample has a zero-width interval', () => {
    const scores = Array.from({ length: 200 }, (_, i) => scoreRanking([[i % 2 === 0 ? 'a' : 'x']], ['a']))
    const summary = summarise(scores, 500)
    expect(summary.recall1.mean).toBe(50)
    expect(summary.recall1.lo).toBeLessThan(50)
    expect(summary.recall1.hi).toBeGreaterThan(50)
    expect(summary.hit10.lo).toBeGreaterThan(35)
    expect(pairedDifference([1, 1, 1], [0, 0, 0], 100)).toEqual({ mean: 100, lo: 100, hi: 100 })
  })
})
