import { describe, expect, it } from 'vitest'
import type { StoredMemory } from '../store/types.js'
import { isLowInformation } from './filler.js'
import { byFusedScore, fuseHybrid, outsiderCeiling, sortByFusedScore } from './fusion.js'

const memory = (id: string, text: string, vector: number[]): StoredMemory => ({
  id,
  tenantId: 't',
  userId: 'u',
  agentId: null,
  runId: null,
  role: null,
  text,
  dedupKey: id,
  metadata: {},
  createdAt: 0,
  updatedAt: 0,
  validTo: null,
  vector: Float32Array.from(vector),
})

describe('isLowInformation', () => {
  it('flags texts made only of acknowledgement, greeting and stop words', () => {
    for (const text of [
      'Noted!',
      'Got it, thanks!',
      'Sure, I will remember that.',
      'Of course!',
      'OK',
      'Good morning!',
      'Hello, how are you?',
      '👍',
      'Yes, exactly.',
    ]) {
      expect([text, isLowInformation(memory('f', text, [1, 0]))]).toEqual([text, true])
    }
  })

  it('never flags a text with one content word, a negation, or many terms', () => {
    for (const text of [
      'I am allergic to peanuts',
      'Noted: no peanuts',
      'Good morning! I moved to Porto',
      'Call me at 7pm',
      'Thanks for the tip about the bakery',
      'Please remind me in the morning',
      "I can't see well at night",
      'Mornings are good, evenings are not',
      'I am not happy',
      'No, I do not',
      'Yes yes yes, sure, great, good, nice, cool, perfect',
    ]) {
      expect([text, isLowInformation(memory('x', text, [1, 0]))]).toEqual([text, false])
    }
  })
})

describe('fuseHybrid with the filler prior', () => {
  const query = Float32Array.from([1, 0])
  const noted = memory('a', 'Noted!', [0.9, Math.sqrt(1 - 0.81)])
  const fact = memory('b', 'I am allergic to peanuts', [0.6, 0.8])

  it('ranks an acknowledgement below a fact it would otherwise beat, and says why', () => {
    const hits = [
      { memory: noted, score: 0.9 },
      { memory: fact, score: 0.6 },
    ]
    expect(fuseHybrid(query, hits, [], 1).map((h) => h.memory.id)).toEqual(['a', 'b'])
    const fused = fuseHybrid(query, hits, [], 0.5)
    expect(fused.map((h) => h.memory.id)).toEqual(['b', 'a'])
    expect(fused[1]?.explain).toMatchObject({ filler: true, fused: expect.closeTo(0.3 * 0.9 * 0.5, 6) })
    expect(fused[0]?.explain.filler).toBeUndefined()
    expect(fused[0]?.explain.fused).toBeCloseTo(0.3 * 0.6, 6)
  })

  it('demotes a keyword match on filler words too, and still returns filler when nothing else matches', () => {
    const morning = memory('c', 'Good morning!', [0.5, Math.sqrt(0.75)])
    const pills = memory('d', 'My pills are taken every morning', [0.45, Math.sqrt(1 - 0.2025)])
    const ranked = fuseHybrid(
      query,
      [
        { memory: morning, score: 0.5 },
        { memory: pills, score: 0.45 },
      ],
      [
        { memory: morning, score: 3.4 },
        { memory: pills, score: 2.1 },
      ],
      0.5,
    )
    expect(ranked.map((h) => h.memory.id)).toEqual(['d', 'c'])
    const alone = fuseHybrid(query, [{ memory: morning, score: 0.5 }], [{ memory: morning, score: 3.4 }], 0.5)
    expect(alone.map((h) => h.memory.id)).toEqual(['c'])
  })

  it('never lifts a negative score', () => {
    const opposite = memory('e', 'Noted!', [-1, 0])
    expect(fuseHybrid(query, [{ memory: opposite, score: -1 }], [], 0.5)[0]?.explain).toMatchObject({ fused: expect.closeTo(-0.3, 6), filler: true })
  })
})

describe('outsiderCeiling', () => {
  const hit = (score: number) => ({ memory: memory(`m${score}`, 'x', [1]), score })
  it('bounds what a memory in neither candidate list can score', () => {
    const keyword = [hit(4), hit(2)]
    // A full vector list's weakest member bounds the rest; a short one left out nothing.
    expect(outsiderCeiling([hit(0.5), hit(-0.2)], keyword, 2)).toBeCloseTo(0.7 * 0.5 + 0.3 * -0.2, 5)
    expect(outsiderCeiling([hit(0.5)], keyword, 2)).toBe(Number.NEGATIVE_INFINITY)
    // A query read as nothing: every row's cosine is 0.
    expect(outsiderCeiling([], keyword, 2, false)).toBeCloseTo(0.7 * 0.5, 5)
    // Rows read as nothing are never vector candidates but score cosine 0, above a negative weakest.
    expect(outsiderCeiling([hit(0.5), hit(-0.2)], keyword, 2, true, true)).toBeCloseTo(0.7 * 0.5, 5)
    expect(outsiderCeiling([hit(0.5)], keyword, 2, true, true)).toBeCloseTo(0.7 * 0.5, 5)
    expect(outsiderCeiling([hit(0.5), hit(0.4)], keyword, 2, true, true)).toBeCloseTo(0.7 * 0.5 + 0.3 * 0.4, 5)
  })
})

describe('sortByFusedScore', () => {
  it('orders as the built-in sort with byFusedScore does: equal scores by id, random and nearly sorted lists', () => {
    let seed = 11
    const next = () => {
      seed = (seed * 16807) % 2147483647
      return (seed - 1) / 2147483646
    }
    for (const size of [0, 1, 2, 3, 10, 50, 128]) {
      for (let trial = 0; trial < 20; trial++) {
        // Few distinct scores, so that many hits tie and the id decides.
        const hits = Array.from({ length: size }, (_, i) => ({
          memory: { id: `m${Math.floor(next() * 1e6)}-${i}` } as StoredMemory,
          explain: { vector: { score: 0, rank: null }, keyword: null, fused: Math.floor(next() * 8) / 8 },
        }))
        // Nearly in order too, as after feedback and context: sorted, then a few hits moved.
        if (trial % 2 === 1 && size > 1) {
          hits.sort(byFusedScore)
          for (let swap = 0; swap < 3; swap++) {
            const [a, b] = [Math.floor(next() * size), Math.floor(next() * size)]
            ;[hits[a], hits[b]] = [hits[b] as (typeof hits)[number], hits[a] as (typeof hits)[number]]
          }
        }
        const expected = [...hits].sort(byFusedScore)
        expect(sortByFusedScore(hits)).toEqual(expected)
      }
    }
  })
})
