import { describe, expect, it } from 'vitest'
import { bm25Scorer, CorpusStats, countTerms } from './bm25.js'
import { tokenize } from './tokenizer.js'

function corpus(texts: string[]): { stats: CorpusStats; docs: ReturnType<typeof countTerms>[] } {
  const stats = new CorpusStats()
  const docs = texts.map((text) => countTerms(tokenize(text)))
  for (const doc of docs) stats.add(doc)
  return { stats, docs }
}

describe('engine BM25', () => {
  it('barely penalises length: a turn that says more about the term is not buried under a short mention', () => {
    const { stats, docs } = corpus([
      'Caroline: peanuts',
      'Caroline: I carry an epinephrine pen because peanuts, even traces in bakery sauces, close my throat within minutes',
      'Melanie: we painted the lake at sunrise',
      'Melanie: the kids loved camping',
    ])
    const score = bm25Scorer(stats.weights(tokenize('What is Caroline allergic to? peanuts')))
    const [short = 0, long = 0] = docs.map(score)
    // Same term frequencies; the long turn has 7x the short one's terms. With the textbook b = 0.75
    // it scores about 0.45x the short one; with the engine's weak normalisation, within 20%.
    expect(long / short).toBeGreaterThan(0.8)
    expect(long).toBeLessThan(short)
  })

  it('scores a repeated query term again and ignores texts without any query term', () => {
    const { stats, docs } = corpus(['pottery class on Friday', 'a charity race', 'pottery, pottery everywhere'])
    const once = bm25Scorer(stats.weights(tokenize('pottery')))
    const twice = bm25Scorer(stats.weights(tokenize('pottery pottery')))
    const [friday = 0, race = 0, everywhere = 0] = docs.map(once)
    expect(docs.map(twice)[0]).toBeCloseTo(2 * friday, 12)
    expect(race).toBe(0)
    expect(everywhere).toBeGreaterThan(friday)
  })
})
