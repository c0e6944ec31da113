import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as lancedb from '@lancedb/lancedb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenize } from '../src/search/tokenizer.js'

/*
 * tokenize() must make the terms the store's full-text index makes. Each check asks the real index (same FTS options as
 * lancedb-vector-store.ts) and compares what it returns with what tokenize() predicts.
 */

const locomo: unknown = JSON.parse(readFileSync(new URL('../../../../shared/data/locomo/locomo10.json', import.meta.url), 'utf8'))

function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value)
  else if (Array.isArray(value)) for (const item of value) strings(item, out)
  else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) strings(item, out)
  return out
}

const locomoTexts = strings(locomo)

/** Cases the conversations lack: one row each, several tokens allowed. */
const tricky = [
  // apostrophes, hyphens, underscores and other separators
  "don't",
  "O'Brien",
  "rock'n'roll",
  "it's",
  'e-mail',
  'co-op',
  'under_score',
  'snake_case_name',
  'C++',
  '3.14',
  '1,000,000',
  'a.b.c',
  'tab\tnew\nline',
  'emoji😀word',
  '🎉party',
  'party🎉',
  '👍',
  // digits and mixed tokens
  '3d',
  '1234',
  'h3llo',
  'y3s',
  '42nd',
  '2023',
  'covid19',
  // case
  'ALLCAPS',
  'MiXeD',
  'Running',
  'RUNNING',
  // accents, ligatures, other scripts (folding comes after stemming and stop words)
  'café',
  'cafe',
  'CAFÉ',
  'cafés',
  'naïve',
  'naive',
  'naïvely',
  'Über',
  'über',
  'uber',
  'Ü',
  'résumé',
  'resume',
  'façade',
  'straße',
  'strasse',
  'ẞ',
  'ﬁne',
  'fine',
  'Æsir',
  'æsir',
  'Øresund',
  'łódź',
  'İstanbul',
  'istanbul',
  'ΟΔΟΣ',
  'οδος',
  'οδοσ',
  'Ελληνικά',
  'Привет',
  'привет',
  'йогурт',
  'иогурт',
  '日本語',
  '東京タワー',
  '中文',
  '한국어',
  'مرحبا',
  'שלום',
  '٣٤',
  '½',
  '12',
  '¼',
  'x²',
  'x2',
  'H₂O',
  'Ⅻ',
  'xii',
  '①',
  '⓶',
  '𝐀𝐁𝐂',
  'nöt',
  'thé',
  'e\u0301galite\u0301',
  // very long tokens: Lance drops 40 UTF-8 bytes or more, measured before lower-casing
  'a'.repeat(39),
  'a'.repeat(40),
  'b'.repeat(41),
  'é'.repeat(19),
  'é'.repeat(20),
  'İ'.repeat(19),
  'Ⱥ'.repeat(19),
  '日'.repeat(13),
  '日'.repeat(14),
  '𝐀'.repeat(9),
  '𝐀'.repeat(10),
  `short ${'z'.repeat(45)} word`,
  // stop words (NLTK's list, checked after stemming), words whose stem is one, and near misses
  'the',
  'THE',
  'and',
  'being',
  'having',
  'doing',
  'does',
  'doe',
  'only',
  'very',
  'once',
  'during',
  'because',
  'yourselves',
  'ourselves',
  'mostly',
  'ours',
  'others',
  'willing',
  'underlying',
  'canned',
  'outs',
  'ifs',
  'its',
  'thens',
  'owned',
  'sames',
  'nor',
  'ma',
  'mightn',
  'mustn',
  'needn',
  'shan',
  'would',
  'could',
  'also',
  'however',
  'therefore',
  'us',
  'via',
  'among',
  // Porter2 special cases
  'skies',
  'sky',
  'dying',
  'lying',
  'tying',
  'news',
  'howe',
  'howes',
  'atlas',
  'cosmos',
  'bias',
  'andes',
  'inning',
  'innings',
  'outing',
  'canning',
  'herring',
  'earring',
  'proceed',
  'exceed',
  'succeed',
  'succeeding',
  'generous',
  'generate',
  'communism',
  'arsenal',
  'idly',
  'gently',
  'ugly',
  'early',
  'singly',
  'yes',
  'yesterday',
  'sayyid',
]

/** Every letter or digit of the Latin, letterlike, number-form, enclosed, full-width and math blocks that changes under lower-casing or NFKD. */
function unicodeProbes(): string[] {
  const ranges = [
    [0x80, 0x24f],
    [0x370, 0x3ff],
    [0x1d00, 0x1eff],
    [0x2070, 0x218f],
    [0x2460, 0x24ff],
    [0x2c60, 0x2c7f],
    [0x3220, 0x32ff],
    [0xa720, 0xa7ff],
    [0xfb00, 0xfb06],
    [0xfc5e, 0xfc63],
    [0xff10, 0xff5a],
    [0x1d400, 0x1d4ff],
  ] as const
  const probes: string[] = []
  for (const [from, to] of ranges)
    for (let code = from; code <= to; code++) {
      const char = String.fromCodePoint(code)
      if (/^[\p{Alphabetic}\p{N}]$/u.test(char) && (char.toLowerCase() !== char || char.normalize('NFKD') !== char)) probes.push(char)
    }
  // What those fold to, spelled in ASCII.
  for (const letter of 'bcefghjklnpqruvwxz') probes.push(letter)
  probes.push(...'0123456789'.split(''), 'ae', 'oe', 'th', 'ss', 'ij', 'dz', 'lj', 'nj', 'ff', 'fi', 'fl', 'ffi', 'st', '10', '13', '14', '20', '34')
  probes.push('ii', 'iii', 'iv', 'vi', 'vii', 'viii', 'ix', 'xi')
  return probes
}

const FTS = { stem: true, removeStopWords: true, asciiFolding: true }

let dir: string
let db: lancedb.Connection

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmem-tokenizer-'))
  db = await lancedb.connect(dir)
})
afterAll(async () => {
  db.close()
  await rm(dir, { recursive: true, force: true })
})

async function indexedTable(name: string, rows: Record<string, unknown>[]): Promise<lancedb.Table> {
  const table = await db.createTable(name, rows)
  await table.createIndex('text', { config: lancedb.Index.fts(FTS) })
  await table.optimize()
  return table
}

async function fts(table: lancedb.Table, query: string, limit: number): Promise<{ id: number; score: number }[]> {
  const rows = await table
    .query()
    .fullTextSearch(query, { columns: ['text'] })
    .select(['id', '_score'])
    .limit(limit)
    .toArray()
  return rows.map((row) => ({ id: Number(row.id), score: Number(row._score) }))
}

describe('tokenize matches the LanceDB full-text index', () => {
  it('finds, for every word of LoCoMo and every tricky case, the rows Lance finds', async () => {
    const words = new Set<string>()
    for (const text of locomoTexts) for (const match of text.matchAll(/[\p{Alphabetic}\p{N}]+/gu)) words.add(match[0])
    const rows = [...new Set([...words, ...tricky, ...unicodeProbes()])]
    expect(rows.length).toBeGreaterThan(12_000)
    const table = await indexedTable(
      'words',
      rows.map((text, id) => ({ id, text })),
    )

    const terms = rows.map((row) => tokenize(row))
    const rowsByTerm = new Map<string, number[]>()
    terms.forEach((rowTerms, id) => {
      for (const term of new Set(rowTerms)) rowsByTerm.set(term, [...(rowsByTerm.get(term) ?? []), id])
    })
    const predicted = (query: string): Set<number> => new Set(tokenize(query).flatMap((term) => rowsByTerm.get(term) ?? []))

    // One query word per distinct term set (if Lance agrees on each, the partitions agree), plus every row that has no term.
    const probes: number[] = []
    const seen = new Set<string>()
    terms.forEach((rowTerms, id) => {
      const key = rowTerms.join(' ')
      if (rowTerms.length === 0 || !seen.has(key)) probes.push(id)
      seen.add(key)
    })

    // Many words per query keep this fast; a batch that disagrees is asked again word by word to name the culprits.
    const mismatches: string[] = []
    const batchSize = 40
    for (let start = 0; start < probes.length; start += batchSize) {
      const batch = probes.slice(start, start + batchSize).map((id) => rows[id] as string)
      const query = batch.join(' ')
      const found = new Set((await fts(table, query, rows.length)).map((hit) => hit.id))
      const expected = predicted(query)
      if (found.size === expected.size && [...found].every((id) => expected.has(id))) continue
      for (const word of batch) {
        const lance = new Set((await fts(table, word, rows.length)).map((hit) => hit.id))
        const ours = predicted(word)
        const onlyLance = [...lance].filter((id) => !ours.has(id)).map((id) => rows[id])
        const onlyOurs = [...ours].filter((id) => !lance.has(id)).map((id) => rows[id])
        if (onlyLance.length > 0 || onlyOurs.length > 0)
          mismatches.push(
            `${JSON.stringify(word)} → ${JSON.stringify(tokenize(word))}: only Lance ${JSON.stringify(onlyLance.slice(0, 5))}, only ours ${JSON.stringify(onlyOurs.slice(0, 5))}`,
          )
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([])
  })

  it('gives the term frequencies and document lengths behind Lance _score (BM25 k1 1.2, b 0.75)', async () => {
    const docs = locomoTexts.filter((text) => text.length > 20 && text.length < 600).slice(0, 400)
    const table = await indexedTable(
      'bm25',
      docs.map((text, id) => ({ id, text })),
    )
    const docTerms = docs.map((text) => tokenize(text))
    const documentFrequency = new Map<string, number>()
    for (const terms of docTerms) for (const term of new Set(terms)) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1)
    const averageLength = docTerms.reduce((sum, terms) => sum + terms.length, 0) / docs.length

    // Lance counts a repeated query term once per repeat; the document length is its term count after stop words.
    const bm25 = (queryTerms: string[], terms: string[]): number => {
      const norm = 1.2 * (1 - 0.75 + (0.75 * terms.length) / averageLength)
      let score = 0
      for (const term of queryTerms) {
        const tf = terms.filter((t) => t === term).length
        const n = documentFrequency.get(term) ?? 0
        if (tf > 0) score += (Math.log(1 + (docs.length - n + 0.5) / (n + 0.5)) * tf * 2.2) / (tf + norm)
      }
      return score
    }

    const queries = [
      'painting',
      'camping with the kids',
      'adoption agency support group',
      'charity race',
      'pottery class',
      'LGBTQ community',
      'What did Melanie paint',
      'being there for my family',
      'book book books',
      'Caroline went hiking',
    ]
    let hits = 0
    const off: string[] = []
    for (const query of queries) {
      const queryTerms = tokenize(query)
      for (const hit of await fts(table, query, docs.length)) {
        hits++
        const expected = bm25(queryTerms, docTerms[hit.id] as string[])
        if (Math.abs(expected - hit.score) > 1e-5 * Math.max(1, expected))
          off.push(`${query} / ${JSON.stringify(docs[hit.id])}: Lance ${hit.score}, ours ${expected}`)
      }
    }
    expect(hits).toBeGreaterThan(50)
    expect(off.slice(0, 10)).toEqual([])
  })
})
