import { stem } from 'porter2'

/*
 * The index terms of a text, made exactly as the LanceDB full-text index on `memories.text` makes them:
 * `Index.fts({ stem: true, removeStopWords: true, asciiFolding: true })` in @lancedb/lancedb 0.37.1 (Lance 10.0.0),
 * every other option at its default. Steps, in Lance's order:
 *   1. split into maximal runs of Unicode alphanumerics (tantivy SimpleTokenizer: Rust `char::is_alphanumeric`,
 *      i.e. Alphabetic or a number Nd/Nl/No); everything else, `_`, `'`, `-`, emoji and combining marks included, separates;
 *   2. drop a token of 40 UTF-8 bytes or more, measured before lower-casing (RemoveLongFilter, default limit 40);
 *   3. lower-case character by character (Rust `char::to_lowercase`: no final-sigma rule);
 *   4. stem with Snowball English (Porter2, rust-stemmers);
 *   5. drop the stem if it is an English stop word: the check comes after stemming, so "being" ("be") and
 *      "mostly" ("most") are dropped while "does" ("doe") and "only" ("onli") are kept;
 *   6. fold to ASCII character by character: NFKD, keep its ASCII part, spell out the Latin letters NFKD leaves alone
 *      (æ ð đ ħ ı ĸ ł ŋ ø œ ß þ ŧ); a character left with nothing (CJK, Greek, Cyrillic, a lone mark) stays as it is.
 * Lance 10's source is not public here, so steps 5 and 6 were measured against the real index (the vocabulary of
 * test/tokenizer.int.test.ts, 280k English words and every BMP letter or digit that folds or changes case): its stop
 * words are NLTK's list, not tantivy's 33 Lucene words, and its folding is NFKD-based, not Lucene's ASCIIFoldingFilter
 * (½ → "12", ⓶ unchanged, ĸ → "k").
 * Stems come from porter2, which agreed with Lance on all 280k words; wink-porter2-stemmer does not (it stems "howe"
 * and rewrites the digit 3: "2023" → "202i"). Character classes and case/NFKD tables are Node's ICU, Lance's are Rust's:
 * they can differ only for characters added in the newest Unicode version.
 */

/** Lance drops tokens whose UTF-8 length is at least this. */
const MAX_TOKEN_BYTES = 40

/**
 * NLTK's English stop-word list (nltk_data corpora/stopwords/english, 179 words), which Lance 10 uses for English.
 * Entries with an apostrophe can never equal a token; they are kept so that the list stays NLTK's.
 */
const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his himself she she's " +
    "her hers herself it it's its itself they them their theirs themselves what which who whom this that that'll these those am is are " +
    'was were be been being have has had having do does did doing a an the and but if or because as until while of at by for with about ' +
    'against between into through during before after above below to from up down in out on off over under again further then once here ' +
    'there when where why how all any both each few more most other some such no nor not only own same so than too very s t can will just ' +
    "don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't " +
    "haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won " +
    "won't wouldn wouldn't"
  ).split(' '),
)

/**
 * Letters without a compatibility decomposition that Lance's folding still spells in ASCII. Tokens are lower case by
 * then; the two capitals are what NFKD makes of ᴭ and ꟸ.
 */
const FOLD_LETTERS: ReadonlyMap<string, string> = new Map([
  ['æ', 'ae'],
  ['ð', 'd'],
  ['đ', 'd'],
  ['ħ', 'h'],
  ['ı', 'i'],
  ['ĸ', 'k'],
  ['ł', 'l'],
  ['ŋ', 'n'],
  ['ø', 'o'],
  ['œ', 'oe'],
  ['ß', 'ss'],
  ['þ', 'th'],
  ['ŧ', 't'],
  ['Æ', 'AE'],
  ['Ħ', 'H'],
])

/** Rust `char::is_alphanumeric`, for one code point. */
const WORD_CHAR = /^[\p{Alphabetic}\p{N}]$/u
const ASCII_WORD = Uint8Array.from({ length: 0x80 }, (_, code) => (WORD_CHAR.test(String.fromCharCode(code)) ? 1 : 0))
const NON_ASCII = /[\u0080-\uffff]/

/**
 * Raw token → its term, or null when Lance drops it. Memory texts repeat their words, so most
 * tokens hit. Two generations: when the young map is full it becomes the old one, and a token
 * found there moves back. Evicting the oldest key of one Map one at a time instead made every
 * miss walk the deleted entries at the map's front: with unique tokens (numbers, names) a text
 * took 100 µs, not 2, once 100,000 tokens had been seen.
 */
let youngTerms = new Map<string, string | null>()
let oldTerms = new Map<string, string | null>()
const TERMS_PER_GENERATION = 50_000

/** The index terms of `text`, in order, repeats kept: their count is the document length Lance's BM25 uses. */
export function tokenize(text: string): string[] {
  const terms: string[] = []
  // A hand-written scan: about twice as fast as matchAll with a Unicode property regex, which matters on every write and query.
  let start = -1
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    let width = 1
    let word: boolean
    if (code < 0x80) word = ASCII_WORD[code] === 1
    else {
      if (code >= 0xd800 && code <= 0xdbff) {
        const next = text.charCodeAt(i + 1)
        if (next >= 0xdc00 && next <= 0xdfff) width = 2
      }
      word = WORD_CHAR.test(text.slice(i, i + width))
    }
    if (word) {
      if (start < 0) start = i
    } else if (start >= 0) {
      addTerm(terms, text.slice(start, i))
      start = -1
    }
    i += width - 1
  }
  if (start >= 0) addTerm(terms, text.slice(start))
  return terms
}

function addTerm(terms: string[], token: string): void {
  // Long tokens (hashes, base64, URLs glued together) are dropped before they can fill the cache.
  if (token.length >= MAX_TOKEN_BYTES || utf8Length(token) >= MAX_TOKEN_BYTES) return
  let term = youngTerms.get(token)
  if (term === undefined) {
    term = oldTerms.get(token)
    if (term === undefined) term = analyse(token)
    if (youngTerms.size >= TERMS_PER_GENERATION) {
      oldTerms = youngTerms
      youngTerms = new Map()
    }
    youngTerms.set(token, term)
  }
  if (term !== null) terms.push(term)
}

/** Steps 3 to 6 for one token that passed the length filter. */
function analyse(token: string): string | null {
  const ascii = !NON_ASCII.test(token)
  // String#toLowerCase would turn a word-final Σ into ς; Rust lower-cases each character on its own.
  const lower = ascii ? token.toLowerCase() : token.replaceAll('Σ', 'σ').toLowerCase()
  const stemmed = stem(lower)
  if (STOP_WORDS.has(stemmed)) return null
  return ascii || !NON_ASCII.test(stemmed) ? stemmed : foldToAscii(stemmed)
}

function foldToAscii(term: string): string {
  let out = ''
  for (const char of term) {
    if (char.charCodeAt(0) < 0x80) {
      out += char
      continue
    }
    let folded = ''
    for (const part of char.normalize('NFKD')) {
      if (part.charCodeAt(0) < 0x80) folded += part
      else folded += FOLD_LETTERS.get(part) ?? ''
    }
    out += folded === '' ? char : folded
  }
  return out
}

/** UTF-8 byte length without allocating; a surrogate pair counts 4. */
function utf8Length(token: string): number {
  let bytes = token.length
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) bytes += 1
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 2
      i++
    } else bytes += 2
  }
  return bytes
}
