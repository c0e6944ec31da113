import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmbedder, type Embedder, EmbeddingErrorCode, ModelRunner, noopLogger, readModelSpec } from '../src/index.js'
import { sampleTexts, tempDir, writeTinyBert } from './helpers/fixtures.js'

let dir: Awaited<ReturnType<typeof tempDir>>
let folder: string

beforeAll(async () => {
  dir = await tempDir('embedder')
  folder = await writeTinyBert(join(dir.path, 'tiny'))
})
afterAll(() => dir[Symbol.asyncDispose]())

async function withEmbedder<T>(options: Parameters<typeof createEmbedder>[0], use: (embedder: Embedder) => Promise<T>): Promise<T> {
  const embedder = await createEmbedder({ modelPath: folder, progress: false, ...options })
  try {
    return await use(embedder)
  } finally {
    await embedder.close()
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((max, x, i) => Math.max(max, Math.abs(x - (b[i] as number))), 0)
}

describe('createEmbedder with a local model folder', () => {
  it('returns unit vectors equal to a direct run, whatever the batching', async () => {
    const texts = sampleTexts(50)
    const runner = await ModelRunner.load({ folder, spec: await readModelSpec(folder), intraOpThreads: 1 })
    const reference = await Promise.all(texts.map(async (text) => (await runner.embed([text])).slice()))
    await runner.release()

    await withEmbedder({ workers: 2, maxBatchSize: 8 }, async (embedder) => {
      expect(embedder.dimensions).toBe(32)
      const batched = await embedder.embed(texts)
      const concurrent = (await Promise.all(texts.map((text) => embedder.embed([text])))).map(([v]) => v as Float32Array)
      texts.forEach((_, i) => {
        const expected = reference[i] as Float32Array
        expect(maxAbsDiff(batched[i] as Float32Array, expected)).toBeLessThan(1e-5)
        expect(maxAbsDiff(concurrent[i] as Float32Array, expected)).toBeLessThan(1e-5)
      })
      const norm = Math.hypot(...(batched[0] as Float32Array))
      expect(norm).toBeCloseTo(1, 5)
    })
  })

  it('returns the same vectors at 1, 8 and 64 callers: solo runs on lane 0, one batch per lane under load', async () => {
    const texts = sampleTexts(64)
    const runner = await ModelRunner.load({ folder, spec: await readModelSpec(folder), intraOpThreads: 1 })
    const reference = await Promise.all(texts.map(async (text) => (await runner.embed([text])).slice()))
    await runner.release()

    const batches: { lane: number; solo: boolean; size: number }[] = []
    const logger = { ...noopLogger, debug: (event: string, fields?: Record<string, unknown>) => event === 'embed.batch' && batches.push(fields as never) }
    await withEmbedder({ workers: 2, threadsPerWorker: 1, logger }, async (embedder) => {
      expect(embedder.stats().soloThreads).toBe(2) // reported by worker 0 once it loaded that session
      for (const callers of [1, 8, 64]) {
        batches.length = 0
        let next = 0
        await Promise.all(
          Array.from({ length: callers }, async () => {
            while (next < texts.length) {
              const i = next++
              const [vector] = await embedder.embed([texts[i] as string])
              expect(maxAbsDiff(vector as Float32Array, reference[i] as Float32Array), `text ${i} at ${callers} callers`).toBeLessThan(1e-5)
            }
          }),
        )
        if (callers === 1) expect(batches.every((b) => b.solo && b.lane === 0 && b.size === 1)).toBe(true)
        else expect(new Set(batches.filter((b) => !b.solo).map((b) => b.lane))).toEqual(new Set([0, 1]))
      }
    })
    await withEmbedder({ workers: 2, threadsPerWorker: 1, soloSession: false, logger }, async (embedder) => {
      batches.length = 0
      await embedder.embed(['a lone text'])
      expect(embedder.stats().soloThreads).toBe(0)
      expect(batches).toMatchObject([{ solo: false }])
    })
  })

  it('applies the query and passage prefixes of the spec', async () => {
    await withEmbedder({ spec: { queryPrefix: 'query: ', passagePrefix: 'passage: ' } }, async (embedder) => {
      const [query] = await embedder.embed(['where do I live'], { kind: 'query' })
      const [passage] = await embedder.embed(['where do I live'], { kind: 'passage' })
      const [explicit] = await embedder.embed(['query: where do I live'], { kind: 'passage' })
      // 'passage: query: ...' is not 'query: ...', so compare against a no-prefix embedder below.
      expect(maxAbsDiff(query as Float32Array, passage as Float32Array)).toBeGreaterThan(1e-3)
      expect(explicit).toBeDefined()
    })
    await withEmbedder({}, async (plain) => {
      const [prefixed] = await plain.embed(['query: where do I live'])
      await withEmbedder({ spec: { queryPrefix: 'query: ' } }, async (embedder) => {
        const [query] = await embedder.embed(['where do I live'], { kind: 'query' })
        expect(maxAbsDiff(query as Float32Array, prefixed as Float32Array)).toBeLessThan(1e-6)
      })
    })
  })

  it('rejects bad input with typed errors and keeps working', async () => {
    await withEmbedder({ maxTextLength: 50 }, async (embedder) => {
      await expect(embedder.embed([])).rejects.toMatchObject({ code: EmbeddingErrorCode.EmptyInput })
      await expect(embedder.embed(['ok', '  '])).rejects.toMatchObject({ code: EmbeddingErrorCode.EmptyInput, details: { index: 1 } })
      await expect(embedder.embed(['ok', 42 as unknown as string])).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidInput, details: { index: 1 } })
      await expect(embedder.embed('text' as unknown as string[])).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidInput })
      await expect(embedder.embed(['x'.repeat(51)])).rejects.toMatchObject({ code: EmbeddingErrorCode.InputTooLong })
      await expect(embedder.embed(['x'], { kind: 'document' as 'query' })).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidInput })
      // Texts the tokenizer finds odd still embed: emoji, control characters, other scripts.
      const vectors = await embedder.embed(['🙂🙂', '\u0000\u0007 bell', 'Привет, мир', '東京に住んでいます'])
      expect(vectors.every((v) => v.every(Number.isFinite))).toBe(true)
    })
  })

  it('truncates texts longer than the model limit instead of failing', async () => {
    await withEmbedder({ spec: { maxLength: 16 } }, async (embedder) => {
      const long = 'word '.repeat(500)
      const [a] = await embedder.embed([long])
      const [b] = await embedder.embed([`${'word '.repeat(14)}tail that is cut off`])
      expect(maxAbsDiff(a as Float32Array, b as Float32Array)).toBeLessThan(1e-5)
    })
  })

  it('fails a call with QUEUE_FULL when the queue is full, and serves the rest', async () => {
    await withEmbedder({ workers: 1, maxQueue: 100, maxBatchSize: 4 }, async (embedder) => {
      const accepted = embedder.embed(sampleTexts(90))
      const rejected = embedder.embed(sampleTexts(20))
      await expect(rejected).rejects.toMatchObject({ code: EmbeddingErrorCode.QueueFull })
      await expect(accepted).resolves.toHaveLength(90)
    })
  })

  it('aborts a call: queued texts are dropped and the call rejects with ABORTED', async () => {
    await withEmbedder({ workers: 1, maxBatchSize: 2 }, async (embedder) => {
      const controller = new AbortController()
      const call = embedder.embed(sampleTexts(400), { signal: controller.signal })
      const other = embedder.embed(['still served'])
      setTimeout(() => controller.abort(), 1)
      await expect(call).rejects.toMatchObject({ code: EmbeddingErrorCode.Aborted })
      await expect(other).resolves.toHaveLength(1)
      expect(embedder.stats().queued).toBe(0)
      const already = AbortSignal.abort()
      await expect(embedder.embed(['x'], { signal: already })).rejects.toMatchObject({ code: EmbeddingErrorCode.Aborted })
    })
  })

  it('replaces crashed workers and retries their batches once', async () => {
    await withEmbedder({ workers: 2, maxBatchSize: 4 }, async (embedder) => {
      const texts = sampleTexts(400)
      const internal = embedder as unknown as { simulateWorkerCrash(lane: number): void }
      internal.simulateWorkerCrash(0)
      internal.simulateWorkerCrash(1)
      const vectors = await embedder.embed(texts)
      expect(vectors).toHaveLength(400)
      const again = await embedder.embed(texts.slice(0, 3))
      expect(maxAbsDiff(again[0] as Float32Array, vectors[0] as Float32Array)).toBeLessThan(1e-5)
      expect(embedder.stats().workers).toBe(2)
    })
  })

  it('does not restart without end a worker that cannot load its model: the next batch tries once more, and fails typed', async () => {
    await using dir = await tempDir('reload')
    const copy = await writeTinyBert(dir.path)
    const embedder = await createEmbedder({ modelPath: copy, progress: false, workers: 1, maxBatchSize: 4 })
    try {
      const [before] = await embedder.embed(['before'])
      expect(embedder.stats().workerStarts).toBe(1)
      // The model file is replaced under the running embedder; then its worker dies.
      const model = await readFile(join(copy, 'onnx/model.onnx'))
      await writeFile(join(copy, 'onnx/model.onnx'), 'this is not a protobuf')
      ;(embedder as unknown as { simulateWorkerCrash(lane: number): void }).simulateWorkerCrash(0)
      await expect(embedder.embed(['after'])).rejects.toMatchObject({ code: EmbeddingErrorCode.ModelLoadFailed })
      const starts = embedder.stats().workerStarts
      // Idle, nothing starts: a worker that failed to load is not replaced by another that fails too.
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(embedder.stats().workerStarts).toBe(starts)
      await expect(embedder.embed(['again'])).rejects.toMatchObject({ code: EmbeddingErrorCode.ModelLoadFailed })
      expect(embedder.stats().workerStarts).toBe(starts + 1)
      // The model is back: the next batch's load succeeds, and the lane serves again.
      await writeFile(join(copy, 'onnx/model.onnx'), model)
      const [after] = await embedder.embed(['before'])
      expect(Array.from(after as Float32Array)).toEqual(Array.from(before as Float32Array))
    } finally {
      await embedder.close()
    }
  })

  it('close() drains in-flight calls, then refuses new ones with CLOSED', async () => {
    const embedder = await createEmbedder({ modelPath: folder, progress: false, workers: 1, maxBatchSize: 4 })
    const busy = embedder.embed(sampleTexts(200))
    const closing = embedder.close()
    await expect(embedder.embed(['late'])).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
    await expect(busy).resolves.toHaveLength(200)
    await closing
  })

  it('serves repeated texts from the LRU cache with identical vectors', async () => {
    await withEmbedder({ cacheSize: 10 }, async (embedder) => {
      const [first] = await embedder.embed(['cached text'])
      const [second] = await embedder.embed(['cached text'])
      const [asQuery] = await embedder.embed(['cached text'], { kind: 'query' })
      expect(Array.from(second as Float32Array)).toEqual(Array.from(first as Float32Array))
      expect(embedder.stats()).toMatchObject({ cacheHits: 1, cacheMisses: 2 })
      ;(second as Float32Array)[0] = 42 // mutating a result must not poison the cache
      const [third] = await embedder.embed(['cached text'])
      expect((third as Float32Array)[0]).toBe((first as Float32Array)[0])
      expect(asQuery).toBeDefined()
    })
  })
})

describe('model loading errors', () => {
  it('reports an unknown model id with the known ones', async () => {
    await expect(createEmbedder({ model: 'no-such-model', progress: false })).rejects.toMatchObject({
      code: EmbeddingErrorCode.UnknownModel,
      message: expect.stringContaining('all-MiniLM-L6-v2'),
    })
  })

  it('reports an empty folder as MODEL_NOT_FOUND, naming tokenizer.json (not a spec it could not work out)', async () => {
    await using empty = await tempDir('bare')
    await expect(createEmbedder({ modelPath: empty.path, progress: false })).rejects.toMatchObject({
      code: EmbeddingErrorCode.ModelNotFound,
      details: { folder: empty.path, file: 'tokenizer.json' },
    })
  })

  it('reports a folder without model.onnx as MODEL_NOT_FOUND', async () => {
    await using empty = await tempDir('empty')
    await writeFile(join(empty.path, 'agentmem.json'), JSON.stringify({ id: 'x', dimensions: 8, maxLength: 8, pooling: 'mean' }))
    await writeFile(join(empty.path, 'tokenizer.json'), '{}')
    await expect(createEmbedder({ modelPath: empty.path, progress: false })).rejects.toMatchObject({ code: EmbeddingErrorCode.ModelNotFound })
  })

  it('reports a corrupt model file as MODEL_LOAD_FAILED', async () => {
    await using corrupt = await tempDir('corrupt')
    const copy = await writeTinyBert(corrupt.path)
    await writeFile(join(copy, 'onnx/model.onnx'), 'this is not a protobuf')
    await expect(createEmbedder({ modelPath: copy, progress: false })).rejects.toMatchObject({ code: EmbeddingErrorCode.ModelLoadFailed })
  })

  it('reports a spec whose dimensions do not match the model at start', async () => {
    await expect(createEmbedder({ modelPath: folder, progress: false, spec: { dimensions: 384 } })).rejects.toMatchObject({
      code: EmbeddingErrorCode.DimensionMismatch,
    })
  })

  it('rejects invalid options with INVALID_OPTIONS', async () => {
    await expect(createEmbedder({ workers: 0 })).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidOptions })
  })
})
