import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createEmbedder, type Embedder, EmbeddingErrorCode, ensureStaticModel, readModelSpec } from '../src/index.js'
import { fitsInline, rankOneComplement, StaticWordVectors } from '../src/inference/static-word-vectors.js'
import { defaultCacheDir } from '../src/models/cache-dir.js'
import { SPEC_FILE } from '../src/models/model-spec.js'
import { wordTokenizer } from '../src/models/static-model.js'
import { GraphBuilder } from '../src/onnx/graph-builder.js'
import { sampleTexts, sharedDir, tempDir, writeTinyBert } from './helpers/fixtures.js'

/** Records the worker batches an embedder runs (its `embed.batch` debug events) and its warnings. */
function recorder() {
  const batches: number[] = []
  const events: string[] = []
  const logger = {
    debug: (event: string, fields?: Record<string, unknown>) => {
      events.push(event)
      if (event === 'embed.batch') batches.push(fields?.['size'] as number)
    },
    info: (event: string) => events.push(event),
    warn: (event: string) => events.push(event),
    error: (event: string) => events.push(event),
  }
  return { batches, events, logger }
}

function compare(actual: Float32Array, expected: Float32Array): { maxAbs: number; cosine: number } {
  let maxAbs = 0
  let dot = 0
  let na = 0
  let nb = 0
  expected.forEach((b, d) => {
    const a = actual[d] as number
    maxAbs = Math.max(maxAbs, Math.abs(a - b))
    dot += a * b
    na += a * a
    nb += b * b
  })
  return { maxAbs, cosine: na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb) }
}

function expectSameVectors(actual: Float32Array[], expected: Float32Array[], texts: readonly string[]) {
  expect(actual).toHaveLength(expected.length)
  let worstAbs = 0
  let worstCosine = 1
  actual.forEach((vector, i) => {
    const { maxAbs, cosine } = compare(vector, expected[i] as Float32Array)
    if (maxAbs > 1e-5) throw new Error(`text ${i} ${JSON.stringify(texts[i]?.slice(0, 80))}: max abs diff ${maxAbs}`)
    worstAbs = Math.max(worstAbs, maxAbs)
    worstCosine = Math.min(worstCosine, cosine)
  })
  expect(worstAbs).toBeLessThanOrEqual(1e-5)
  expect(worstCosine).toBeGreaterThanOrEqual(1 - 1e-6)
  return { worstAbs, worstCosine }
}

const locomo = JSON.parse(await readFile(join(sharedDir, 'data/locomo/locomo10.json'), 'utf8')) as {
  conversation: Record<string, unknown>
  qa: { question: string }[]
}[]
const turns = locomo.flatMap((sample) => Object.values(sample.conversation).filter(Array.isArray).flat() as { text: string }[]).map((turn) => turn.text)
const questions = locomo.flatMap((sample) => sample.qa.map((qa) => qa.question))

// 1,501 words, unknown ones among them, ending in a known word: truncated to its first 512 tokens.
const longText = Array.from({ length: 1501 }, (_, i) => ['memory', 'lisbon', 'river', 'dog', 'zzqxv'][i % 5]).join(' ')
const longTextCut = longText.split(' ').slice(0, 512).join(' ')
const edgeCases = [
  '\u0000\u0007\u001b', // control characters only: nothing left after normalisation
  '\u200b\ufeff', // zero-width characters only
  '\u0301\u0301', // combining marks only
  'zzqxv qwzzk 12345 678', // unknown words and numbers only
  '#', // one punctuation mark
  longText, // 1,500 tokens: truncated to 512
  `${longText} tail words that are cut off`,
  'Привет, мир! Как дела?',
  '東京に住んでいます。日本語を勉強しています。',
  'Café naïve résumé façade Zoë',
  'İstanbul straße ＡＢＣ ｆｕｌｌｗｉｄｔｈ',
  'مرحبا بالعالم',
  'I ❤️ Lisbon 🙂🙂 and 👩‍👩‍👧 too',
  'CAPITALS and MiXeD case WORDS',
  "don't won't it's (parenthesised) [bracketed] {braced} -- dashes... ellipsis",
  'tab\tseparated\nnew\r\nlines   and   spaces',
  'a'.repeat(101), // longer than the tokenizer's 100-character word limit
]

describe('the in-process fast path of the offline default model', () => {
  let folder: string
  let direct: StaticWordVectors
  let fast: Embedder
  let workers: Embedder
  const fastLog = recorder()

  beforeAll(async () => {
    folder = await ensureStaticModel(defaultCacheDir())
    direct = await StaticWordVectors.load(folder, await readModelSpec(folder))
    fast = await createEmbedder({ workers: 1, progress: false, logger: fastLog.logger })
    workers = await createEmbedder({ workers: 1, progress: false, inlineMaxTexts: 0 })
  })
  afterAll(async () => {
    await fast?.close()
    await workers?.close()
  })

  it('computes every LoCoMo turn and question and the edge cases as the ORT workers do (max abs diff <= 1e-5, cosine >= 1 - 1e-6)', async () => {
    const texts = [...turns, ...questions, ...edgeCases]
    expect(turns.length).toBeGreaterThan(5000)
    const reference = await workers.embed(texts)
    const ours = texts.map((text) => (direct.embed([text])[0] as Float32Array).slice())
    const { worstAbs, worstCosine } = expectSameVectors(ours, reference, texts)
    console.log(`fast path vs ORT workers, ${texts.length} texts: worst max abs diff ${worstAbs.toExponential(2)}, worst cosine ${worstCosine}`)

    // Several texts per call give the same vectors as one each.
    expectSameVectors(direct.embed(texts.slice(0, 8)), reference.slice(0, 8), texts)

    // Edge cases: nothing known embeds to an exact zero vector on both paths; truncation keeps the first 512 tokens.
    const edge = (text: string) => ours[texts.indexOf(text)] as Float32Array
    for (const text of edgeCases.slice(0, 4)) expect(Array.from(edge(text)).every((x) => x === 0)).toBe(true)
    expect(compare(edge(longText), direct.embed([longTextCut])[0] as Float32Array).maxAbs).toBe(0)
    expect(compare(edge(`${longText} tail words that are cut off`), edge(longText)).maxAbs).toBe(0)
    expect(Math.hypot(...edge('Привет, мир! Как дела?'))).toBeCloseTo(1, 5)
  })

  it('answers small calls on the calling thread, through embed(), with the workers’ vectors', async () => {
    const before = fastLog.batches.length
    expect(fast.stats().workers).toBe(0) // no worker starts before a call needs one
    const calls = questions.slice(0, 64)
    const viaFast = await Promise.all(calls.map((q, i) => fast.embed(i % 2 ? [q] : [q, calls[(i + 1) % calls.length] as string], { kind: 'query' })))
    expect(fastLog.batches.length).toBe(before) // no worker batch ran
    expect(fast.stats().workers).toBe(0)
    const viaWorkers = await Promise.all(calls.map((q, i) => workers.embed(i % 2 ? [q] : [q, calls[(i + 1) % calls.length] as string], { kind: 'query' })))
    expectSameVectors(viaFast.flat(), viaWorkers.flat(), calls)
  })

  it('sends large calls to the workers once they are ready: more than 8 texts, more than 256 characters (1,024 of plain ASCII), or a word longer than 24 characters (outside plain ASCII)', async () => {
    const sent = async (texts: string[]) => {
      const before = fastLog.batches.length
      const vectors = await fast.embed(texts)
      expect(vectors).toHaveLength(texts.length)
      return fastLog.batches.length > before
    }
    const short = Array.from({ length: 9 }, (_, i) => `a short text ${i}`)
    expect(await sent(short.slice(0, 8))).toBe(false)
    expect(fast.stats().workers).toBe(0)
    // The first call too big starts the workers; until they are ready, calls of up to 128 texts
    // and 4,096 characters still run here (a few ms, not seconds of waiting), bigger ones wait.
    expect(await sent(short)).toBe(false)
    await vi.waitFor(() => expect(fast.stats().workers).toBe(1), { timeout: 5_000, interval: 20 }) // a second later
    expect(await sent(['é '.repeat(2048)])).toBe(false) // 4,096 characters
    expect(await sent(Array.from({ length: 129 }, (_, i) => `text ${i}`))).toBe(true)
    // Once a worker is ready, everything beyond the allowance goes to the workers.
    expect(await sent(short)).toBe(true)
    // Plain ASCII, which the offline default's tokenizer reads in one pass, counts a quarter.
    expect(await sent(['x '.repeat(512)])).toBe(false) // 1,024 characters
    expect(await sent(['x '.repeat(512), 'y'])).toBe(true)
    expect(await sent([`my key is ${'a1'.repeat(50)}`])).toBe(false) // a 100-character word
    // An added token sends the text through the library, whose cost grows with a long word's length squared.
    expect(await sent([`[UNK] my key is ${'a1'.repeat(50)}`])).toBe(true)
    // Anything else counts each character, and its words' length.
    expect(await sent(['é '.repeat(128)])).toBe(false) // 256 characters
    expect(await sent(['é '.repeat(128), 'y'])).toBe(true)
    expect(await sent([`my kéy is ${'a1'.repeat(12)}`])).toBe(false) // a 24-character word
    expect(await sent([`my kéy is ${'a1'.repeat(12)}b`])).toBe(true)
    expect(await sent(['東京都'.repeat(20)])).toBe(false) // CJK ideographs are a token each
    expect(await sent(['ひらがな'.repeat(7)])).toBe(true) // kana are one long word

    // A bulk call is queued on the workers; small calls made meanwhile do not wait behind it.
    const order: string[] = []
    const bulk = fast.embed(turns.slice(0, 2000)).then(() => order.push('bulk'))
    const small = fast.embed(['where does Caroline live?'], { kind: 'query' }).then(() => order.push('small'))
    await Promise.all([bulk, small])
    expect(order).toEqual(['small', 'bulk'])
  })

  it('starts every worker on the first call too big to run inline; until all are ready, calls of up to 128 texts and 4,096 characters still run inline', async () => {
    const log = recorder()
    await using two = await createEmbedder({ workers: 2, progress: false, logger: log.logger })
    expect(await two.embed(Array.from({ length: 9 }, (_, i) => `a short text ${i}`))).toHaveLength(9)
    await vi.waitFor(() => expect(two.stats().workers).toBe(2), { timeout: 5_000, interval: 20 }) // a second later
    expect(await two.embed(Array.from({ length: 128 }, (_, i) => `text ${i}`))).toHaveLength(128)
    expect(await two.embed(['é '.repeat(2048)])).toHaveLength(1)
    expect(log.batches).toEqual([]) // all inline
    expect(await two.embed([`${'é '.repeat(2048)}x`])).toHaveLength(1) // 4,097 characters: waits for a worker
    expect(log.batches).toEqual([1])
  })

  it('closes an embedder whose workers never started, and refuses calls after', async () => {
    await using idle = await createEmbedder({ workers: 2, progress: false })
    expect(await idle.embed(['one short text'])).toHaveLength(1)
    // Too big for the inline path, so it starts the workers, but only a second later: a CLI
    // command that closes before then never pays for them.
    expect(await idle.embed(Array.from({ length: 9 }, (_, i) => `text ${i}`))).toHaveLength(9)
    expect(idle.stats()).toMatchObject({ workers: 0, busyWorkers: 0 })
    await idle.close()
    await expect(idle.embed(['late'])).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
    await expect(idle.embed(Array.from({ length: 9 }, (_, i) => `text ${i}`))).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
    expect(idle.stats().workers).toBe(0)
  })

  // Last in this block: it closes `fast`.
  it('rejects bad input, aborted calls and calls after close() with the same typed errors as the worker path', async () => {
    for (const embedder of [fast, workers]) {
      await expect(embedder.embed([])).rejects.toMatchObject({ code: EmbeddingErrorCode.EmptyInput })
      await expect(embedder.embed(['ok', '  '])).rejects.toMatchObject({ code: EmbeddingErrorCode.EmptyInput, details: { index: 1 } })
      await expect(embedder.embed(['ok', 42 as unknown as string])).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidInput, details: { index: 1 } })
      await expect(embedder.embed('text' as unknown as string[])).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidInput })
      await expect(embedder.embed(['x'.repeat(100_001)])).rejects.toMatchObject({ code: EmbeddingErrorCode.InputTooLong })
      await expect(embedder.embed(['x'], { kind: 'document' as 'query' })).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidInput })
      await expect(embedder.embed(['x'], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: EmbeddingErrorCode.Aborted })
    }
    const before = fastLog.batches.length
    const inFlight = fast.embed(turns.slice(0, 300)) // on the worker
    const closed = fast.close()
    await expect(fast.embed(['late'])).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
    await expect(inFlight).resolves.toHaveLength(300)
    await closed
    await expect(fast.embed(['later still'])).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
    expect(fastLog.batches.length).toBeGreaterThan(before)
  })
})

describe('which models get the fast path', () => {
  it('a static word-vector graph with a dense projection: the same vectors on both paths', async () => {
    await using dir = await tempDir('static-dense')
    const folder = await writeTinyStaticModel(dir.path)
    const log = recorder()
    await using fast = await createEmbedder({ modelPath: folder, workers: 1, progress: false, logger: log.logger })
    await using workers = await createEmbedder({ modelPath: folder, workers: 1, progress: false, inlineMaxTexts: 0 })
    const texts = [...sampleTexts(20), 'alpha beta gamma', 'Alpha, BETA; delta!', 'unknown words only', 'alpha '.repeat(40)]
    const viaFast = (await Promise.all(texts.map((text) => fast.embed([text])))).flat()
    expect(log.batches).toEqual([])
    expect(log.events).toContain('embed.inline.ready')
    expectSameVectors(viaFast, await workers.embed(texts), texts)
  })

  it('starts a worker that could not load its model again on the next call too big to run inline, once the model is back', async () => {
    await using dir = await tempDir('static-reload')
    const folder = await writeTinyStaticModel(dir.path)
    const log = recorder()
    await using embedder = await createEmbedder({ modelPath: folder, workers: 1, progress: false, logger: log.logger })
    const nine = Array.from({ length: 9 }, (_, i) => `alpha beta ${i}`)
    // The inline path has the model; the file on disk breaks before the worker starts.
    const model = await readFile(join(folder, 'model.onnx'))
    await writeFile(join(folder, 'model.onnx'), 'this is not a protobuf')
    expect(await embedder.embed(nine)).toHaveLength(9) // inline, and starts the worker a second later
    await vi.waitFor(() => expect(log.events).toContain('embed.workers.start_failed'), { timeout: 10_000, interval: 50 })
    expect(embedder.stats().workerStarts).toBe(1)
    await writeFile(join(folder, 'model.onnx'), model)
    expect(await embedder.embed(nine)).toHaveLength(9)
    // That lane's worker is started again (no batch had to ask for it) and serves the next big call.
    await vi.waitFor(() => expect(embedder.stats().workerStarts).toBe(2), { timeout: 10_000, interval: 50 })
    expect(await embedder.embed([`${'é '.repeat(2048)}x`])).toHaveLength(1) // 4,097 characters: a worker's
    expect(log.batches).toEqual([1])
    expect(embedder.stats().workerStarts).toBe(2)
  })

  it('a folder that says static-word-vectors but holds another graph keeps every call on the workers, with a warning', async () => {
    await using dir = await tempDir('static-liar')
    const folder = await writeTinyBert(join(dir.path, 'tiny'))
    await writeFile(join(folder, 'config.json'), JSON.stringify({ model_type: 'static-word-vectors', hidden_size: 32 }))
    const log = recorder()
    await using embedder = await createEmbedder({ modelPath: folder, workers: 1, progress: false, logger: log.logger })
    expect(log.events).toContain('embed.inline.unavailable')
    await expect(embedder.embed(['still works'])).resolves.toHaveLength(1)
    expect(log.batches).toEqual([1])
  })

  it('a transformer folder never loads it', async () => {
    await using dir = await tempDir('static-bert')
    const folder = await writeTinyBert(join(dir.path, 'tiny'))
    const log = recorder()
    await using embedder = await createEmbedder({ modelPath: folder, workers: 1, progress: false, logger: log.logger })
    await embedder.embed(['one text'])
    expect(log.events).not.toContain('embed.inline.ready')
    expect(log.events).not.toContain('embed.inline.unavailable')
    expect(log.batches).toEqual([1])
  })
})

describe('helpers', () => {
  it('rankOneComplement finds u in I - u·uᵀ and refuses other matrices', () => {
    const dims = 6
    const raw = Array.from({ length: dims }, (_, i) => Math.sin(i + 1) * (i === 3 ? 1e-3 : 1))
    const length = Math.hypot(...raw)
    const u = raw.map((x) => x / length)
    const projection = Float64Array.from({ length: dims * dims }, (_, k) =>
      Math.fround((Math.floor(k / dims) === k % dims ? 1 : 0) - (u[Math.floor(k / dims)] as number) * (u[k % dims] as number)),
    )
    const found = rankOneComplement(projection, dims) as Float64Array
    expect(found).toBeDefined()
    // Up to sign, to float32's relative precision, the small component (u[3] ~ 1e-3) included.
    const sign = Math.sign((found[0] as number) * (u[0] as number))
    const worst = Math.max(...u.map((x, i) => Math.abs((found[i] as number) - sign * x) / Math.abs(x)))
    expect(worst).toBeLessThan(1e-6)
    projection[1] = (projection[1] as number) + 1e-3
    expect(rankOneComplement(projection, dims)).toBeUndefined()
    expect(
      rankOneComplement(
        Float64Array.from({ length: 4 }, (_, k) => (k === 0 || k === 3 ? 1 : 0)),
        2,
      ),
    ).toBeUndefined() // the identity
  })

  it('fitsInline counts characters and long words', () => {
    expect(fitsInline(['a'.repeat(100), 'b'.repeat(20)], 256)).toBe(false) // a 100-letter word
    expect(fitsInline(['hello world', 'x'.repeat(24)], 256)).toBe(true)
    expect(fitsInline(['hello world'], 10)).toBe(false)
    expect(fitsInline(['élan-vital'.repeat(3)], 256)).toBe(true)
    // Texts the tokenizer reads in one pass count a quarter, long words allowed.
    const onePass = (text: string) => /^[\x20-\x7e\t\n\r]*$/.test(text) && !text.includes('[UNK]')
    expect(fitsInline(['a'.repeat(100), 'b'.repeat(20)], 256, onePass)).toBe(true)
    expect(fitsInline(['word '.repeat(200), 'tab\tand\nlines'], 256, onePass)).toBe(true) // 1,015 characters
    expect(fitsInline(['word '.repeat(205)], 256, onePass)).toBe(false)
    expect(fitsInline(['word '.repeat(100), 'élan'], 256, onePass)).toBe(true) // 125 + 4
    expect(fitsInline(['word '.repeat(100), 'é'.repeat(130)], 256, onePass)).toBe(false) // 125 + 130
    expect(fitsInline([`${'a'.repeat(30)}é`], 256, onePass)).toBe(false) // not one pass: the word counts
    expect(fitsInline([`[UNK] ${'a'.repeat(30)}`], 256, onePass)).toBe(false)
    expect(fitsInline(['bell\u0007'.repeat(20)], 256, onePass)).toBe(true) // 100 characters, counted whole
    expect(fitsInline(['bell\u0007'.repeat(60)], 256, onePass)).toBe(false)
  })
})

/** A static word-vector folder with 8 dimensions, a few words and a dense (not rank-one) projection. */
async function writeTinyStaticModel(root: string): Promise<string> {
  const folder = join(root, 'tiny-static')
  await mkdir(folder, { recursive: true })
  const words = ['alpha', 'beta', 'gamma', 'delta', 'i', 'moved', 'to', 'lisbon', 'in', 'may', 'my', 'sister', 'is', 'a', 'nurse', ',', '.', '(', ')', '1']
  const dims = 8
  let seed = 7
  const random = () => {
    seed = (seed * 16807) % 2147483647
    return (seed - 1) / 2147483646 - 0.5
  }
  const table = Float32Array.from({ length: (words.length + 2) * dims }, (_, k) => (k < 2 * dims ? 0 : random()))
  const projection = Float32Array.from({ length: dims * dims }, () => random())
  const g = new GraphBuilder()
  const ids = g.input('input_ids', 'int64', ['batch', 'sequence'])
  const tokens = g.op('Gather', [g.constant('word_vectors', [words.length + 2, dims], table), ids])
  const summed = g.op('ReduceSum', [tokens, g.ints('sum_axes', [1])], { keepdims: 0 })
  const projected = g.op('MatMul', [summed, g.constant('projection', [dims, dims], projection)])
  const norm = g.op('ReduceL2', [projected], { axes: [1], keepdims: 1 })
  const safeNorm = g.op('Max', [norm, g.constant('epsilon', [1], [1e-12])])
  g.op('Div', [projected, safeNorm], {}, 'sentence_embedding')
  g.output('sentence_embedding', 'float32', ['batch', dims])
  await writeFile(join(folder, 'model.onnx'), g.encode('tiny-static'))
  await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(wordTokenizer(words)))
  await writeFile(join(folder, 'config.json'), JSON.stringify({ model_type: 'static-word-vectors', hidden_size: dims }))
  const spec = {
    id: 'tiny-static',
    onnxFile: 'model.onnx',
    dimensions: dims,
    maxLength: 16,
    pooling: 'none',
    normalize: false,
    outputName: 'sentence_embedding',
  }
  await writeFile(join(folder, SPEC_FILE), JSON.stringify(spec))
  return folder
}
