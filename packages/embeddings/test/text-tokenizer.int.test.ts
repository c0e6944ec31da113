import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureStaticModel } from '../src/index.js'
import { TextTokenizer } from '../src/inference/text-tokenizer.js'
import { defaultCacheDir } from '../src/models/cache-dir.js'
import { miniLmTokenizer, sharedDir } from './helpers/fixtures.js'

const locomo = JSON.parse(await readFile(join(sharedDir, 'data/locomo/locomo10.json'), 'utf8')) as {
  conversation: Record<string, unknown>
  qa: { question: string }[]
}[]
const turns = locomo.flatMap((sample) => Object.values(sample.conversation).filter(Array.isArray).flat() as { text: string }[]).map((turn) => turn.text)
const questions = locomo.flatMap((sample) => sample.qa.map((qa) => qa.question))

/** Seeded texts over all 128 ASCII characters, leaning to words so that known ones occur. */
function randomAscii(count: number, words: readonly string[]): string[] {
  let seed = 42
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T
  const separators = [' ', ' ', ' ', '\t', '\n', '\r\n', '  ', '\u000b', '\u000c', '\u007f', '\u0000', '\u001f']
  return Array.from({ length: count }, () => {
    let text = ''
    const parts = 1 + Math.floor(next() * 12)
    for (let p = 0; p < parts; p++) {
      const roll = next()
      if (roll < 0.55) text += next() < 0.3 ? pick(words).toUpperCase() : pick(words)
      else if (roll < 0.75)
        text += String.fromCharCode(0x21 + Math.floor(next() * 94)) // any printable
      else if (roll < 0.85)
        text += String.fromCharCode(Math.floor(next() * 128)) // anything ASCII
      else if (roll < 0.9) text += pick(['[UNK]', '[PAD]', '[unk]', 'x'.repeat(99), 'y'.repeat(101), "don't", 'e-mail', '3.14'])
      text += pick(separators)
    }
    return text
  })
}

describe('TextTokenizer.encode', () => {
  let folder: string
  beforeAll(async () => {
    folder = await ensureStaticModel(defaultCacheDir())
  })

  it('gives the library’s ids on the offline default’s word-level pipeline: LoCoMo, random ASCII, and texts it leaves to the library', async () => {
    const tokenizer = await TextTokenizer.load(folder)
    const library = new Tokenizer(JSON.parse(await readFile(join(folder, 'tokenizer.json'), 'utf8')), {})
    expect(tokenizer.wordLevel).toBe(true)
    const words = turns.slice(0, 500).flatMap((turn) => turn.split(/\s+/))
    const texts = [
      ...turns,
      ...questions,
      ...randomAscii(3000, words),
      '',
      '   ',
      'Café naïve ＡＢＣ', // not ASCII: the library's path
      '東京に住んでいます。',
    ]
    let unknown = 0
    for (const text of texts) {
      const ids = tokenizer.encode(text, 100_000)
      expect(ids, JSON.stringify(text)).toEqual(library.encode(text).ids)
      unknown += ids.filter((id) => id === 1).length
    }
    expect(unknown).toBeGreaterThan(0) // unknown words, over-long words and [UNK] itself were met
  })

  it('truncates after the fast path as after the library', async () => {
    const tokenizer = await TextTokenizer.load(folder)
    const library = new Tokenizer(JSON.parse(await readFile(join(folder, 'tokenizer.json'), 'utf8')), {})
    const text = 'Lisbon river memory, dog! '.repeat(100)
    expect(tokenizer.encode(text, 512)).toEqual(library.encode(text).ids.slice(0, 512))
  })

  it('leaves BERT vocabularies (continuation pieces, a template) to the library', async () => {
    const tokenizer = await TextTokenizer.load(miniLmTokenizer)
    expect(tokenizer.wordLevel).toBe(false)
    const library = new Tokenizer(JSON.parse(await readFile(join(miniLmTokenizer, 'tokenizer.json'), 'utf8')), {})
    for (const text of questions.slice(0, 50)) expect(tokenizer.encode(text, 100_000)).toEqual(library.encode(text).ids)
  })
})
