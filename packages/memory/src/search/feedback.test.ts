import { describe, expect, it } from 'vitest'
import { storedRow } from '../../test/helpers/fixtures.js'
import type { StoredMemory } from '../store/types.js'
import { bm25Scorer, CorpusStats, countTerms, type TermCounts } from './bm25.js'
import { applyFeedback, type FeedbackWord, feedbackTerms, feedbackWords, wordsBm25 } from './feedback.js'
import { type FusedHit, keywordWeight } from './fusion.js'
import { ResidentScope, residentRow } from './resident-scope.js'
import { tokenize } from './tokenizer.js'

const texts = {
  lake: 'We went to the lake, kayaking with the kids',
  kayak: 'The kayak rental was cheap this summer',
  work: 'Work was busy, a deadline every day',
  paint: 'I painted a sunrise over the lake last week',
  other: 'The kids loved the pizza place downtown',
  swim: 'Swimming in the lake at dawn is the best',
  trip: 'Our lake trip was fun',
}
type Id = keyof typeof texts
const doc = (id: string): TermCounts => countTerms(tokenize(texts[id as Id]))
const stats = new CorpusStats()
for (const id of Object.keys(texts)) stats.add(doc(id))
// The rest of the scope: "lake" is rare in it, as a topic's word is in a real one.
for (let i = 0; i < 30; i++) stats.add(countTerms(tokenize(`meeting number ${i} about the budget and the roadmap`)))

const hit = (id: Id, fused: number): FusedHit => ({
  memory: { id, text: texts[id] } as StoredMemory,
  explain: { vector: { score: 0, rank: null }, keyword: null, fused },
})

const shares = ({ words }: { words: FeedbackWord[] }) => new Map(words.map((w) => [w.term, w.share]))

describe('feedbackWords', () => {
  it("takes the best hits' words the query lacks, by share of the hits' weight times IDF", () => {
    const words = shares(feedbackWords([doc('lake'), doc('paint')], tokenize('where did they go'), stats))
    // "lake" is in both hits: the whole weight (share 1). Words of the first hit alone weigh 1 / 1.5, of the second 0.5 / 1.5.
    const lake = tokenize('lake')[0] as string
    expect(words.get(lake)).toBeCloseTo(1, 12)
    expect(words.get(tokenize('kayaking')[0] as string)).toBeCloseTo(1 / 1.5, 12)
    expect(words.get(tokenize('sunrise')[0] as string)).toBeCloseTo(0.5 / 1.5, 12)
    const many = countTerms(tokenize('alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar'))
    expect(feedbackWords([many], [], stats).words.length).toBe(feedbackTerms)
  })

  it('picks what a sort of every word would, though it skips the IDF of words that cannot enter', () => {
    let seed = 7
    const next = () => {
      seed = (seed * 16807) % 2147483647
      return (seed - 1) / 2147483646
    }
    // A skewed vocabulary: some words in many memories (low IDF), most in few.
    const word = () => `w${Math.floor(next() ** 3 * 400)}`
    const text = () => Array.from({ length: 5 + Math.floor(next() * 25) }, word).join(' ')
    const corpus = new CorpusStats()
    for (let i = 0; i < 300; i++) corpus.add(countTerms(tokenize(text())))
    for (let trial = 0; trial < 200; trial++) {
      const best = Array.from({ length: 1 + (trial % 3) }, () => countTerms(tokenize(text())))
      const query = tokenize(text()).slice(0, 4)
      const expected = new Map<string, number>()
      best.forEach((doc, i) => {
        for (const term of doc.terms.keys()) if (!query.includes(term)) expected.set(term, (expected.get(term) ?? 0) + 0.5 ** i)
      })
      const total = best.reduce((sum, _, i) => sum + 0.5 ** i, 0)
      const reference = [...expected]
        .map(([term, weights]) => ({ term, weight: (weights / total) * corpus.termWeight(term) }))
        .sort((a, b) => b.weight - a.weight || (a.term < b.term ? -1 : 1))
        .slice(0, feedbackTerms)
      expect(feedbackWords(best, query, corpus).words.map(({ term, weight }) => ({ term, weight }))).toEqual(reference)
    }
  })

  it('leaves out every query term', () => {
    expect([...shares(feedbackWords([doc('lake')], tokenize('lake kayaking kids'), stats)).keys()]).not.toEqual(expect.arrayContaining(tokenize('lake')))
  })
})

describe('applyFeedback', () => {
  const lift = (before: Record<string, number>, query: string) =>
    applyFeedback(
      Object.entries(before).map(([id, fused]) => hit(id as Id, fused)),
      { counts: (memory) => doc(memory.id) },
      tokenize(query),
      stats,
      { bestKeyword: 2, weight: 0.3, fillerWeight: 0.5 },
    )

  it("lifts candidates that share the best hits' words above those that do not", () => {
    // The best three all speak of the lake; "trip" does too, "work" does not.
    const before: Record<string, number> = { lake: 1, paint: 0.9, swim: 0.8, work: 0.5, trip: 0.45 }
    const ranked = lift(before, 'what did she do in the summer')
    const ids = ranked.map((h) => h.memory.id)
    expect(ids.indexOf('trip')).toBeLessThan(ids.indexOf('work'))
    expect(ranked.find((h) => h.memory.id === 'work')?.explain.feedback).toBeUndefined()
    for (const h of ranked) expect(h.explain.fused).toBeCloseTo((before[h.memory.id] ?? Number.NaN) + (h.explain.feedback ?? 0), 12)
    expect(ranked.map((h) => h.explain.fused)).toEqual(ranked.map((h) => h.explain.fused).sort((a, b) => b - a))
  })

  it("scores a hit by weight times its BM25 for the words, each by its share, over the best keyword score, in fusion's keyword weight", () => {
    const [trip] = lift({ lake: 1, paint: 0.9, swim: 0.8, trip: 0.45 }, 'what did she do in the summer').filter((h) => h.memory.id === 'trip')
    const words = shares(feedbackWords([doc('lake'), doc('paint'), doc('swim')], tokenize('what did she do in the summer'), stats))
    const lake = tokenize('lake')[0] as string
    // Of trip's words only "lake" is among them.
    expect(trip?.explain.feedback).toBeCloseTo((0.3 * keywordWeight * (words.get(lake) as number) * bm25Scorer(stats.weights([lake]))(doc('trip'))) / 2, 12)
  })

  it('changes nothing without a keyword candidate or a word beyond the query', () => {
    const none = applyFeedback([hit('lake', 1)], { counts: (memory) => doc(memory.id) }, tokenize('kids'), stats, {
      bestKeyword: 0,
      weight: 0.3,
      fillerWeight: 0.5,
    })
    expect(none[0]?.explain).toEqual({ vector: { score: 0, rank: null }, keyword: null, fused: 1 })
    const ranked = lift({ work: 1 }, texts.work)
    expect(ranked[0]?.explain).toEqual({ vector: { score: 0, rank: null }, keyword: null, fused: 1 })
  })

  it("scores alike from the resident index's postings and from the hits' term counts, to the last bit", () => {
    const scope = new ResidentScope()
    for (const id of Object.keys(texts)) scope.put(residentRow({ ...storedRow(id, texts[id as Id]), vector: Float32Array.of(1, 0) }))
    const { words, norm } = feedbackWords([doc('lake'), doc('paint'), doc('swim')], tokenize('what did she do'), stats)
    const held = (id: string) => scope.rows.get(id)?.memory as StoredMemory
    const ids = Object.keys(texts)
    const fromScope = scope.termScores(words, norm, ids.map(held))
    expect(fromScope).toEqual(ids.map((id) => wordsBm25(doc(id), words, norm)))
    // Rare words come from the postings, common ones from each row's terms: both ways, the same bits.
    expect(scope.termScores(words, norm, [held('trip')])).toEqual([wordsBm25(doc('trip'), words, norm)])
    expect(fromScope[ids.indexOf('trip')]).toBeGreaterThan(0)
    expect(fromScope[ids.indexOf('work')]).toBe(0)
    // A row the scope does not hold as found (a write replaced or removed it): the caller scores its text.
    expect(scope.termScores(words, norm, [{ ...held('trip') }, storedRow('elsewhere', texts.trip)])).toEqual([undefined, undefined])
  })

  it('gives a filler memory fillerWeight of its feedback, as of its own score', () => {
    const filler = hit('trip', 0.45)
    filler.explain.filler = true
    const plain = hit('trip', 0.45)
    const best = [hit('lake', 1), hit('paint', 0.9), hit('swim', 0.8)]
    const options = { bestKeyword: 2, weight: 0.3, fillerWeight: 0.5 }
    const counts = { counts: (memory: StoredMemory) => doc(memory.id) }
    applyFeedback([...best, plain], counts, [], stats, options)
    applyFeedback([...best.map((h) => hit(h.memory.id as Id, h.explain.fused)), filler], counts, [], stats, options)
    expect(plain.explain.feedback).toBeGreaterThan(0)
    expect(filler.explain.feedback).toBeCloseTo((plain.explain.feedback as number) * 0.5, 12)
  })
})
