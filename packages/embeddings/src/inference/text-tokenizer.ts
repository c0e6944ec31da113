import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'

interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean; normalized?: boolean }[]
  padding?: { pad_id?: number } | null
  normalizer?: { type?: string; clean_text?: unknown; lowercase?: unknown } | null
  pre_tokenizer?: { type?: string } | null
  post_processor?: unknown
  model?: {
    type?: string
    vocab?: Record<string, number> | unknown
    unk_token?: string
    continuing_subword_prefix?: unknown
    max_input_chars_per_word?: number
    fuse_unk?: unknown
  }
}

/** How a word-level pipeline (see `wordLevelShape`) treats a word. */
interface WordLevel {
  lowercase: boolean
  maxWordChars: number
  unknownId: number
  /** Added tokens are cut out of the raw text before anything else: a text holding one goes through the library. */
  addedTokens: readonly string[]
}

/** A batch ready for a BERT-style graph: row-major `[batch, seqLen]` int64 tensors. */
export interface EncodedBatch {
  batch: number
  seqLen: number
  inputIds: BigInt64Array
  attentionMask: BigInt64Array
  tokenTypeIds: BigInt64Array
}

/**
 * Wraps a `tokenizer.json` read by the Hugging Face tokenizers library. Truncation and
 * padding are ours: files such as MiniLM's embed a fixed 128 padding we must not apply.
 */
export class TextTokenizer {
  readonly #tokenizer: Tokenizer
  /** The id the template closes every text with (`[SEP]`, `</s>`), kept when truncating; undefined without a template. */
  readonly #closingId: number | undefined
  readonly #padId: number
  /** Added tokens (specials such as `<s>`, `[SEP]`) by text: a model's vocabulary may not hold them. */
  readonly #addedIds: Map<string, number>
  readonly #unknownId: number
  readonly #wordLevel: WordLevel | undefined

  private constructor(json: TokenizerJson, config: object) {
    this.#tokenizer = new Tokenizer(json, config)
    const vocab = json.model?.vocab as Record<string, number> | undefined
    this.#padId = json.padding?.pad_id ?? vocab?.['[PAD]'] ?? 0
    this.#addedIds = new Map((json.added_tokens ?? []).map((t) => [t.content, t.id]))
    this.#unknownId = this.#addedIds.get('[UNK]') ?? this.#addedIds.get('<unk>') ?? vocab?.['[UNK]'] ?? this.#padId
    this.#wordLevel = wordLevelShape(json, config)
    this.#closingId = closingToken(this.#tokenizer, new Set((json.added_tokens ?? []).filter((t) => t.special).map((t) => t.id)))
  }

  /** Whether `encode` reads this text in one pass (`#asciiWordIds`) rather than through the library. */
  readsInOnePass(text: string): boolean {
    return this.#onePassShape(text) !== undefined
  }

  /** The id batches are padded with. */
  get padId(): number {
    return this.#padId
  }

  static async load(folder: string): Promise<TextTokenizer> {
    const json = JSON.parse(await readFile(join(folder, 'tokenizer.json'), 'utf8')) as TokenizerJson
    let config: object = {}
    try {
      config = JSON.parse(await readFile(join(folder, 'tokenizer_config.json'), 'utf8'))
    } catch {
      // tokenizer_config.json is optional; tokenizer.json alone defines the pipeline.
    }
    return new TextTokenizer(json, config)
  }

  /** Token ids of one text, truncated to `maxLength` while keeping the template's closing token. */
  encode(text: string, maxLength: number): number[] {
    const ids = this.#asciiWordIds(text) ?? this.#tokenizer.encode(text).ids
    if (ids.length <= maxLength) return ids
    const last = ids[ids.length - 1] as number
    return last === this.#closingId ? [...ids.slice(0, maxLength - 1), last] : ids.slice(0, maxLength)
  }

  /** Encodes and pads to the longest text of this batch (never to a fixed length). */
  encodeBatch(texts: readonly string[], maxLength: number): EncodedBatch {
    return this.#pad(texts.map((text) => ({ ids: this.encode(text, maxLength) })))
  }

  /**
   * One (query, document) pair as a cross-encoder reads it, through the tokenizer's own pair
   * template (`[CLS] a [SEP] b [SEP]` for BERT, `<s> a </s></s> b </s>` for XLM-R). Too long, it
   * is cut longest-first: the shorter text keeps up to half the budget, the longer gets the
   * rest, and the template's special tokens always stay.
   */
  encodePair(first: string, second: string, maxLength: number): { ids: number[]; typeIds: number[] } {
    const whole = this.#tokenizer.encode(first, { text_pair: second, return_token_type_ids: true })
    if (whole.ids.length <= maxLength) return { ids: whole.ids, typeIds: whole.token_type_ids }
    let a = this.#tokenizer.tokenize(first)
    let b = this.#tokenizer.tokenize(second)
    const budget = Math.max(0, maxLength - (whole.ids.length - a.length - b.length))
    const half = Math.floor(budget / 2)
    if (a.length <= b.length) {
      a = a.slice(0, Math.min(a.length, half))
      b = b.slice(0, budget - a.length)
    } else {
      b = b.slice(0, Math.min(b.length, half))
      a = a.slice(0, budget - b.length)
    }
    const processed = this.#tokenizer.post_processor?.post_process(a, b, true)
    const tokens: string[] = processed?.tokens ?? [...a, ...b]
    return {
      ids: tokens.map((token) => this.#addedIds.get(token) ?? this.#tokenizer.token_to_id(token) ?? this.#unknownId),
      typeIds: processed?.token_type_ids ?? tokens.map(() => 0),
    }
  }

  /** Pairs encoded and padded to the longest of this batch, with their token types. */
  encodePairBatch(pairs: readonly (readonly [string, string])[], maxLength: number): EncodedBatch {
    return this.#pad(pairs.map(([first, second]) => this.encodePair(first, second, maxLength)))
  }

  /**
   * The library's ids for a word-level pipeline, computed in one pass when the text is
   * printable ASCII (tab, line feed and carriage return allowed) and neither holds nor
   * normalises to an added token: then BertNormalizer only lowercases and turns those three
   * into spaces, BertPreTokenizer cuts runs of letters and digits and makes each other
   * printable character a word, and a WordPiece vocabulary without continuation pieces maps a
   * word to its id or to the unknown one. Anything else returns undefined and goes through the
   * library. A query is tokenized on every search, and the library costs ~7x this (regex
   * passes, per-character arrays).
   * test/text-tokenizer.int.test.ts checks both agree on LoCoMo, random ASCII and other
   * word-level tokenizer files.
   */
  #asciiWordIds(text: string): number[] | undefined {
    const shape = this.#onePassShape(text)
    if (!shape) return undefined
    const source = shape.lowercase ? text.toLowerCase() : text
    const ids: number[] = []
    let start = -1
    const word = (end: number) => {
      const w = source.slice(start, end)
      ids.push(w.length > shape.maxWordChars ? shape.unknownId : (this.#tokenizer.token_to_id(w) ?? shape.unknownId))
      start = -1
    }
    for (let i = 0; i < source.length; i++) {
      const c = source.charCodeAt(i)
      const alphanumeric = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
      if (alphanumeric) {
        if (start < 0) start = i
        continue
      }
      if (start >= 0) word(i)
      if (c > 0x20) ids.push(this.#tokenizer.token_to_id(source[i] as string) ?? shape.unknownId)
    }
    if (start >= 0) word(source.length)
    return ids
  }

  /** The word-level shape when `#asciiWordIds` may read this text: plain ASCII that neither holds nor normalises to an added token. */
  #onePassShape(text: string): WordLevel | undefined {
    const shape = this.#wordLevel
    if (!shape || !isPlainAscii(text)) return undefined
    for (const added of shape.addedTokens) {
      if (text.includes(added)) return undefined
      // The library also reads a text that normalises to exactly an added token as that token.
      if (added.length === text.length) {
        const normalised = (shape.lowercase ? text.toLowerCase() : text).replace(/[\t\n\r]/g, ' ')
        if (added === normalised) return undefined
      }
    }
    return shape
  }

  #pad(rows: readonly { ids: readonly number[]; typeIds?: readonly number[] }[]): EncodedBatch {
    const seqLen = Math.max(1, ...rows.map((r) => r.ids.length))
    const size = rows.length * seqLen
    const inputIds = new BigInt64Array(size).fill(BigInt(this.#padId))
    const attentionMask = new BigInt64Array(size)
    const tokenTypeIds = new BigInt64Array(size)
    rows.forEach(({ ids, typeIds }, r) => {
      for (let t = 0; t < ids.length; t++) {
        inputIds[r * seqLen + t] = BigInt(ids[t] as number)
        attentionMask[r * seqLen + t] = 1n
        tokenTypeIds[r * seqLen + t] = BigInt(typeIds?.[t] ?? 0)
      }
    })
    return { batch: rows.length, seqLen, inputIds, attentionMask, tokenTypeIds }
  }
}

/** Printable ASCII, tab, line feed and carriage return only: what a word-level tokenizer reads in one pass (`#asciiWordIds`). */
function isPlainAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7e || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) return false
  }
  return true
}

/**
 * Whether the pipeline is word-level: BertNormalizer (cleaning text) and BertPreTokenizer
 * around a WordPiece vocabulary with no continuation pieces (nor added tokens that look like
 * one) and no fusing of unknown words, no post-processor, and added tokens matched on the raw
 * text. The offline default's tokenizer is exactly this (models/static-model.ts
 * `wordTokenizer`); BERT models have `##` pieces and templates.
 */
function wordLevelShape(json: TokenizerJson, config: object): WordLevel | undefined {
  const { normalizer, pre_tokenizer: preTokenizer, post_processor: postProcessor, model } = json
  const options = config as { remove_space?: unknown; do_lowercase_and_remove_accent?: unknown }
  if (normalizer?.type !== 'BertNormalizer' || normalizer.clean_text !== true || preTokenizer?.type !== 'BertPreTokenizer') return undefined
  if (postProcessor || options.remove_space || options.do_lowercase_and_remove_accent) return undefined
  if (model?.type !== 'WordPiece' || typeof model.vocab !== 'object' || model.vocab === null || model.unk_token === undefined) return undefined
  // fuse_unk merges runs of unknown words into one id; a limit under 1 makes punctuation unknown too.
  const maxWordChars = model.max_input_chars_per_word ?? 100
  if (model.fuse_unk || !(maxWordChars >= 1)) return undefined
  const added = json.added_tokens ?? []
  // As the library reads them: an added token is normalised unless it says otherwise or is special.
  if (added.some((token) => token.normalized ?? !token.special)) return undefined
  const vocab = model.vocab as Record<string, number>
  const prefix = model.continuing_subword_prefix
  if (typeof prefix !== 'string') return undefined
  for (const piece in vocab) if (piece.startsWith(prefix)) return undefined
  if (added.some((token) => token.content.startsWith(prefix))) return undefined
  const unknownId = added.find((token) => token.content === model.unk_token)?.id ?? vocab[model.unk_token]
  if (unknownId === undefined) return undefined
  return { lowercase: Boolean(normalizer.lowercase), maxWordChars, unknownId, addedTokens: added.map((token) => token.content) }
}

/**
 * The special token the post-processor closes every text with: the last id of an empty text's
 * encoding, if special (BERT: `[CLS] [SEP]`, XLM-R: `<s> </s>`). A special token the text itself
 * ends with (a literal `[PAD]`, an unknown word's `[UNK]`) is a word like any other.
 */
function closingToken(tokenizer: Tokenizer, specialIds: ReadonlySet<number>): number | undefined {
  try {
    const last = tokenizer.encode('').ids.at(-1)
    return last !== undefined && specialIds.has(last) ? last : undefined
  } catch {
    return undefined
  }
}
