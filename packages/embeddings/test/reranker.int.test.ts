import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createReranker, EmbeddingErrorCode, ModelRunner, type Reranker, readModelSpec } from '../src/index.js'
import { TextTokenizer } from '../src/inference/text-tokenizer.js'
import { miniLmTokenizer, sampleTexts, tempDir, writeTinyBert, writeTinyCrossEncoder } from './helpers/fixtures.js'

// Reference: transformers.js sequence classification on the same folder, strictly offline.
env.allowRemoteModels = false
env.allowLocalModels = true

let dir: Awaited<ReturnType<typeof tempDir>>
let folder: string
beforeAll(async () => {
  dir = await tempDir('reranker')
  env.localModelPath = dir.path
  folder = await writeTinyCrossEncoder(join(dir.path, 'tiny-cross-encoder'))
})
afterAll(() => dir[Symbol.asyncDispose]())

async function withReranker<T>(options: Parameters<typeof createReranker>[0], use: (reranker: Reranker) => Promise<T>): Promise<T> {
  const reranker = await createReranker({ modelPath: folder, progress: false, ...options })
  try {
    return await use(reranker)
  } finally {
    await reranker.close()
  }
}

const query = 'What food must I avoid?'
const documents = [...sampleTexts(9), 'Noted!', 'I am allergic to peanuts.']
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x))

describe('createReranker', () => {
  it('scores like transformers.js sequence classification, within 1e-4 of its logits', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained('tiny-cross-encoder')
    const model = await AutoModelForSequenceClassification.from_pretrained('tiny-cross-encoder', { dtype: 'fp32' })
    const inputs = tokenizer(
      documents.map(() => query),
      { text_pair: documents, padding: true, truncation: true },
    )
    const { logits } = (await model(inputs)) as { logits: { tolist(): number[][] } }
    const expected = logits.tolist().map(([logit]) => logit as number)
    await model.dispose()
    // Random weights, yet logits spread over units: a parity within 1e-4 is not a parity of constants.
    expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.2)

    const runner = await ModelRunner.load({ folder, spec: await readModelSpec(folder), intraOpThreads: 1 })
    const raw = await runner.score(documents.map((d) => [query, d] as const))
    await runner.release()
    expected.forEach((logit, i) => {
      expect(Math.abs((raw[i] as number) - logit)).toBeLessThan(1e-4)
    })

    await withReranker({ workers: 2, maxBatchSize: 3 }, async (reranker) => {
      expect(reranker.modelId).toBe('random-bert-2x32-cross-encoder')
      const scores = await reranker.score(query, documents)
      expect(scores).toHaveLength(documents.length)
      scores.forEach((score, i) => {
        expect(Math.abs(score - sigmoid(expected[i] as number))).toBeLessThan(1e-5)
      })
    })
  })

  it('gives the same scores whatever the batching and concurrency', async () => {
    const many = sampleTexts(60)
    await withReranker({ workers: 1, maxBatchSize: 64 }, async (reranker) => {
      const whole = await reranker.score(query, many)
      await withReranker({ workers: 2, maxBatchSize: 4 }, async (small) => {
        const concurrent = await Promise.all(many.map((document) => small.score(query, [document])))
        concurrent.forEach(([score], i) => {
          expect(Math.abs((score as number) - (whole[i] as number))).toBeLessThan(1e-5)
        })
        expect(small.stats()).toMatchObject({ queued: 0, busyWorkers: 0, workers: 2 })
      })
    })
  })

  it('validates input, answers an empty list with an empty list, aborts and closes', async () => {
    await withReranker({ workers: 1, maxBatchSize: 2, maxTextLength: 50 }, async (reranker) => {
      await expect(reranker.score(query, [])).resolves.toEqual([])
      await expect(reranker.score('', ['x'])).rejects.toMatchObject({ code: EmbeddingErrorCode.EmptyInput })
      await expect(reranker.score(query, ['ok', 42 as unknown as string])).rejects.toMatchObject({
        code: EmbeddingErrorCode.InvalidInput,
        details: { index: 1 },
      })
      await expect(reranker.score(query, ['x'.repeat(51)])).rejects.toMatchObject({ code: EmbeddingErrorCode.InputTooLong })
    })
    await withReranker({ workers: 1, maxBatchSize: 2 }, async (reranker) => {
      const controller = new AbortController()
      const call = reranker.score(query, sampleTexts(300), { signal: controller.signal })
      const other = reranker.score(query, ['still served'])
      setTimeout(() => controller.abort(), 1)
      await expect(call).rejects.toMatchObject({ code: EmbeddingErrorCode.Aborted })
      await expect(other).resolves.toHaveLength(1)
      expect(reranker.stats().queued).toBe(0)
    })
    const reranker = await createReranker({ modelPath: folder, progress: false, workers: 1 })
    const busy = reranker.score(query, sampleTexts(40))
    const closing = reranker.close()
    await expect(busy).resolves.toHaveLength(40)
    await closing
    await expect(reranker.score(query, ['x'])).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
  })

  it('replaces a crashed worker and retries its batch once', async () => {
    await withReranker({ workers: 2, maxBatchSize: 4 }, async (reranker) => {
      const before = await reranker.score(query, documents)
      const internal = reranker as unknown as { simulateWorkerCrash(lane: number): void }
      internal.simulateWorkerCrash(0)
      internal.simulateWorkerCrash(1)
      const after = await reranker.score(query, documents)
      after.forEach((score, i) => {
        expect(Math.abs(score - (before[i] as number))).toBeLessThan(1e-5)
      })
    })
  })

  it('needs a model: an unknown id or none lists the known rerankers', async () => {
    await expect(createReranker({ progress: false })).rejects.toMatchObject({
      code: EmbeddingErrorCode.UnknownModel,
      message: expect.stringContaining('ms-marco-MiniLM-L-6-v2'),
    })
    await expect(createReranker({ model: 'all-MiniLM-L6-v2', progress: false })).rejects.toMatchObject({ code: EmbeddingErrorCode.UnknownModel })
    await expect(createReranker({ modelPath: join(dir.path, 'nowhere'), progress: false })).rejects.toMatchObject({
      code: EmbeddingErrorCode.ModelNotFound,
      message: expect.stringContaining('model folder not found'),
    })
    // An embedding model is not a cross-encoder: say so, not ORT's "invalid output name".
    const encoder = await writeTinyBert(join(dir.path, 'plain-encoder'))
    await expect(createReranker({ modelPath: encoder, progress: false, workers: 1 })).rejects.toMatchObject({
      code: EmbeddingErrorCode.ModelLoadFailed,
      message: expect.stringMatching(/no output "logits".*cross-encoder/),
    })
  })
})

describe('pair tokenisation', () => {
  it('keeps a short query whole and cuts a long document so the pair fills maxLength, specials kept', async () => {
    const tokenizer = await TextTokenizer.load(miniLmTokenizer)
    const long = Array.from({ length: 300 }, (_, i) => `word${i % 17}`).join(' ')
    const { ids, typeIds } = tokenizer.encodePair('allergic to what', long, 64)
    expect(ids).toHaveLength(64)
    expect(ids[0]).toBe(101) // [CLS]
    expect(ids.slice(1, 4)).toEqual(tokenizer.encode('allergic to what', 64).slice(1, 4))
    expect(ids[4]).toBe(102) // [SEP] after the whole query
    expect(ids.at(-1)).toBe(102) // the closing [SEP] stays
    expect(typeIds.slice(0, 5).every((t) => t === 0)).toBe(true)
    expect(typeIds.slice(5).every((t) => t === 1)).toBe(true)
    // Both too long: each keeps half of the budget (64 - 3 specials).
    const both = tokenizer.encodePair(long, long, 64)
    expect(both.typeIds.filter((t) => t === 0)).toHaveLength(1 + 30 + 1)
    expect(both.ids).toHaveLength(64)
  })

  it('budgets for a template with four special tokens, as XLM-R pairs have (<s> a </s></s> b </s>)', async () => {
    const json = JSON.parse(await readFile(join(miniLmTokenizer, 'tokenizer.json'), 'utf8'))
    const sep = { SpecialToken: { id: '[SEP]', type_id: 0 } }
    json.post_processor.pair.splice(2, 0, sep) // [CLS] A [SEP] [SEP] B [SEP]
    const folder = join(dir.path, 'four-specials')
    await mkdir(folder, { recursive: true })
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(json))
    const tokenizer = await TextTokenizer.load(folder)
    const long = Array.from({ length: 300 }, (_, i) => `word${i % 17}`).join(' ')
    const { ids } = tokenizer.encodePair('allergic to what', long, 64)
    expect(ids).toHaveLength(64)
    expect(ids.slice(0, 6)).toEqual([101, ...tokenizer.encode('allergic to what', 64).slice(1, 4), 102, 102])
    expect(ids.at(-1)).toBe(102)
  })
})
