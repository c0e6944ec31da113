import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureStaticModel } from '../src/index.js'
import { TextTokenizer } from '../src/inference/text-tokenizer.js'
import { defaultCacheDir } from '../src/models/cache-dir.js'
import { wordTokenizer } from '../src/models/static-model.js'
import { miniLmTokenizer, sharedDir } from './helpers/fixtures.js'

const locomo = JSON.parse(await readFile(join(sharedDir, 'data/locomo/locomo10.json'), 'utf8')) as {
  conversation: Record<string, unknown>
  qa: { question: string }[]
}[]
const turns = locomo.flatMap((sample) => Object.values(sample.conversation).filter(Array.isArray).flat() as { text: string }[]).map((turn) => turn.text)
const questions = locomo.flatMap((sample) => sample.qa.map((qa) => qa.question))

/** Seeded texts over all 128 ASCII characters (or only those the shortcut takes), leaning to words so that known ones occur. */
function randomAscii(count: number, words: readonly string[], { onlyShortcut = false } = {}): string[] {
  let seed = onlyShortcut ? 43 : 42
  const next = () => {
    seed = (seed * 16807) % 2147483647
    return (seed - 1) / 2147483646
  }
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T
  const separators = [' ', ' ', ' ', '\t', '\n', '\r\n', '  ', ...(onlyShortcut ? [] : ['\u000b', '\u000c', '\u007f', '\u0000', '\u001f'])]
  const specials = ['[unk]', '[Pad]', 'x'.repeat(99), 'y'.repeat(100), 'z'.repeat(101), "don't", 'e-mail', '3.14', ...(onlyShortcut ? [] : ['[UNK]', '[PAD]'])]
  const printable = () => String.fromCharCode(0x21 + Math.floor(next() * 94))
  const anyAscii = () => String.fromCharCode(Math.floor(next() * 128))
  return Array.from({ length: count }, () => {
    let text = ''
    const parts = 1 + Math.floor(next() * 12)
    for (let p = 0; p < parts; p++) {
      const roll = next()
      if (roll < 0.55) text += next() < 0.3 ? pick(words).toUpperCase() : pick(words)
      else if (roll < 0.75) text += printable()
      else if (roll < 0.85) text += onlyShortcut ? printable() : anyAscii()
      else if (roll < 0.9) text += pick(specials)
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
    expect([tokenizer.readsInOnePass('Hello, world!\tok'), tokenizer.readsInOnePass('[UNK] hi'), tokenizer.readsInOnePass('héllo')]).toEqual([
      true,
      false,
      false,
    ])
    const words = turns
      .slice(0, 500)
      .flatMap((turn) => turn.split(/\s+/))
      .filter((word) => /^[\x20-\x7e]+$/.test(word))
    const shortcut = randomAscii(3000, words, { onlyShortcut: true })
    // What the shortcut takes: printable ASCII, tab, line feed, carriage return, no added token.
    expect(shortcut.every((text) => /^[\x20-\x7e\t\n\r]*$/.test(text) && !text.includes('[UNK]') && !text.includes('[PAD]'))).toBe(true)
    expect(shortcut.filter((text) => /[a-z]{101}/.test(text)).length).toBeGreaterThan(20) // over-long words
    expect(shortcut.filter((text) => text.includes('[unk]')).length).toBeGreaterThan(20)
    const texts = [
      ...turns,
      ...questions,
      ...shortcut,
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
    // Texts ending in an unknown word or a literal [PAD]: special tokens here, but no template's closing one to keep.
    for (const end of [' zzqxv', ' [PAD]']) {
      const ending = `${text}${end}`
      expect([0, 1]).toContain(library.encode(ending).ids.at(-1))
      expect(tokenizer.encode(ending, 512)).toEqual(library.encode(ending).ids.slice(0, 512))
    }
  })

  it("keeps a template's closing token when truncating (MiniLM: [SEP]), and only that", async () => {
    const tokenizer = await TextTokenizer.load(miniLmTokenizer)
    const library = new Tokenizer(JSON.parse(await readFile(join(miniLmTokenizer, 'tokenizer.json'), 'utf8')), {})
    const sep = library.encode('').ids.at(-1) as number
    const text = 'Lisbon river memory, dog! '.repeat(100)
    const ids = tokenizer.encode(text, 128)
    expect(ids).toHaveLength(128)
    expect(ids.at(-1)).toBe(sep)
    expect(ids.slice(0, 127)).toEqual(library.encode(text).ids.slice(0, 127))
  })

  it('leaves BERT vocabularies (continuation pieces, a template) to the library', async () => {
    const tokenizer = await TextTokenizer.load(miniLmTokenizer)
    expect(tokenizer.readsInOnePass('hello world')).toBe(false)
    const library = new Tokenizer(JSON.parse(await readFile(join(miniLmTokenizer, 'tokenizer.json'), 'utf8')), {})
    for (const text of questions.slice(0, 50)) expect(tokenizer.encode(text, 100_000)).toEqual(library.encode(text).ids)
  })
})

/** A word-level tokenizer.json like the offline default's, with `change` applied. */
function wordLevelJson(change: (json: ReturnType<typeof wordTokenizer>) => void) {
  const json = wordTokenizer(['cat', 'dog', 'bar', 'foo', 'ca', 'a', 'b', '!', '.', 'unk', 'pad', 'undefinedx'])
  change(json)
  return json
}

describe('TextTokenizer.encode on other word-level tokenizer files', () => {
  const folders: string[] = []
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true })
  })
  const load = async (json: object) => {
    const folder = await mkdtemp(join(tmpdir(), 'agentmem-tokenizer-'))
    folders.push(folder)
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(json))
    return { tokenizer: await TextTokenizer.load(folder), library: new Tokenizer(json, {}) }
  }
  const texts = ['<UNK>', '<unk>', 'a\tb', 'a b', 'FOOBAR', 'foo bar', 'qwerty zzzz cat', 'cat!', 'cats', 'cax', 'Cat. DOG!', '[unk] [PAD]', '', ' \n ']
  type Json = ReturnType<typeof wordTokenizer>
  const added = (json: Json, content: string, extra: object = {}) =>
    json.added_tokens.push({ ...(json.added_tokens[1] as Json['added_tokens'][number]), id: 20 + json.added_tokens.length, content, ...extra })

  // Each changes one thing a word-level file may hold: the shortcut must match the library or step aside.
  const variants: Record<string, (json: Json) => void> = {
    'the default shape': () => {},
    'no lowercasing': (json) => {
      json.normalizer.lowercase = false
    },
    'lowercasing said as 1': (json) => {
      ;(json.normalizer as { lowercase: unknown }).lowercase = 1
    },
    'lowercase added tokens a text may normalise to': (json) => {
      added(json, '<unk>')
      added(json, 'a b')
    },
    'an added token that does not say whether it is normalised': (json) => {
      added(json, 'foo', { special: false, normalized: undefined })
    },
    'unknown words fused': (json) => {
      ;(json.model as { fuse_unk?: boolean }).fuse_unk = true
    },
    'a word limit of 0': (json) => {
      json.model.max_input_chars_per_word = 0
    },
    'an added token that looks like a continuation piece': (json) => {
      added(json, '##s')
    },
    'no continuation prefix': (json) => {
      delete (json.model as { continuing_subword_prefix?: string }).continuing_subword_prefix
    },
  }
  for (const [name, change] of Object.entries(variants)) {
    it(`gives the library's ids: ${name}`, async () => {
      const { tokenizer, library } = await load(wordLevelJson(change))
      for (const text of texts) expect(tokenizer.encode(text, 100_000), JSON.stringify(text)).toEqual(library.encode(text).ids)
    })
  }
})
