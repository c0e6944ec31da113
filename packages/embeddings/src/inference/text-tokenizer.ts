import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'

interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[]
  padding?: { pad_id?: number } | null
  model?: { vocab?: Record<string, number> | unknown }
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
  readonly #specialIds: Set<number>
  readonly #padId: number

  private constructor(json: TokenizerJson, config: object) {
    this.#tokenizer = new Tokenizer(json, config)
    this.#specialIds = new Set((json.added_tokens ?? []).filter((t) => t.special).map((t) => t.id))
    const vocab = json.model?.vocab as Record<string, number> | undefined
    this.#padId = json.padding?.pad_id ?? vocab?.['[PAD]'] ?? 0
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

  /** Token ids of one text, truncated to `maxLength` while keeping a closing special token. */
  encode(text: string, maxLength: number): number[] {
    const ids = this.#tokenizer.encode(text).ids
    if (ids.length <= maxLength) return ids
    const last = ids[ids.length - 1] as number
    return this.#specialIds.has(last) ? [...ids.slice(0, maxLength - 1), last] : ids.slice(0, maxLength)
  }

  /** Encodes and pads to the longest text of this batch (never to a fixed length). */
  encodeBatch(texts: readonly string[], maxLength: number): EncodedBatch {
    const rows = texts.map((text) => this.encode(text, maxLength))
    const seqLen = Math.max(1, ...rows.map((r) => r.length))
    const size = rows.length * seqLen
    const inputIds = new BigInt64Array(size).fill(BigInt(this.#padId))
    const attentionMask = new BigInt64Array(size)
    rows.forEach((row, r) => {
      for (let t = 0; t < row.length; t++) {
        inputIds[r * seqLen + t] = BigInt(row[t] as number)
        attentionMask[r * seqLen + t] = 1n
      }
    })
    return { batch: rows.length, seqLen, inputIds, attentionMask, tokenTypeIds: new BigInt64Array(size) }
  }
}
