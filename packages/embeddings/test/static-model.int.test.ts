import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmbedder, describeModel, type Embedder, STATIC_MODEL_ID } from '../src/index.js'
import { buildFolderAtomically } from '../src/models/cache-dir.js'
import { staticModelFolder } from '../src/models/static-model.js'
import { sharedDir, tempDir } from './helpers/fixtures.js'

let cache: Awaited<ReturnType<typeof tempDir>>
let embedder: Embedder
const progress: number[] = []

beforeAll(async () => {
  cache = await tempDir('static')
  embedder = await createEmbedder({ cacheDir: cache.path, progress: (event) => progress.push(event.done) })
})
afterAll(async () => {
  await embedder.close()
  await cache[Symbol.asyncDispose]()
})

function spearman(a: number[], b: number[]): number {
  const rank = (values: number[]) => {
    const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0])
    const ranks = new Array<number>(values.length)
    for (let i = 0; i < order.length; ) {
      let j = i
      while (j + 1 < order.length && order[j + 1]?.[0] === order[i]?.[0]) j++
      for (let k = i; k <= j; k++) ranks[(order[k] as readonly [number, number])[1]] = (i + j) / 2
      i = j + 1
    }
    return ranks
  }
  const [ra, rb] = [rank(a), rank(b)]
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length
  const [ma, mb] = [mean(ra), mean(rb)]
  let cov = 0
  let va = 0
  let vb = 0
  ra.forEach((x, i) => {
    const y = rb[i] as number
    cov += (x - ma) * (y - mb)
    va += (x - ma) ** 2
    vb += (y - mb) ** 2
  })
  return cov / Math.sqrt(va * vb)
}

describe('the offline default model', () => {
  it('builds on first use with progress, into a folder of the standard layout', async () => {
    expect(embedder.modelId).toBe(STATIC_MODEL_ID)
    expect(embedder.dimensions).toBe(100)
    expect(progress.at(-1)).toBe(4)
    const files = await readdir(staticModelFolder(cache.path))
    expect(files.sort()).toEqual(['agentmem.json', 'config.json', 'model.onnx', 'tokenizer.json'])
  })

  it('reaches STS-B dev Spearman >= 0.68', async () => {
    const rows = (await readFile(join(sharedDir, 'data/stsb/sts-dev.csv'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'))
    const gold = rows.map((cols) => Number(cols[4]))
    const left = await embedder.embed(rows.map((cols) => cols[5] as string))
    const right = await embedder.embed(rows.map((cols) => cols[6] as string))
    const predicted = left.map((a, i) => a.reduce((sum, x, d) => sum + x * ((right[i] as Float32Array)[d] as number), 0))
    const score = spearman(predicted, gold)
    expect(rows).toHaveLength(1500)
    expect(score).toBeGreaterThanOrEqual(0.68)
  })

  it('is reused from the cache on the next start, not rebuilt', async () => {
    const before = (await stat(join(staticModelFolder(cache.path), 'model.onnx'))).mtimeMs
    const events: number[] = []
    await using again = await createEmbedder({ cacheDir: cache.path, progress: (event) => events.push(event.done) })
    expect(again.dimensions).toBe(100)
    expect(events).toEqual([])
    expect((await stat(join(staticModelFolder(cache.path), 'model.onnx'))).mtimeMs).toBe(before)
  })

  it("runs batches of its spec's batchSize (32) unless maxBatchSize says otherwise", async () => {
    const sizes = async (options: { maxBatchSize?: number }) => {
      const batches: number[] = []
      const logger = {
        debug: (event: string, fields?: Record<string, unknown>) => event === 'embed.batch' && batches.push(fields?.['size'] as number),
        info() {},
        warn() {},
        error() {},
      }
      await using e = await createEmbedder({ cacheDir: cache.path, workers: 1, logger, ...options })
      // More than a fresh embedder runs inline while its workers start (128 texts).
      await e.embed(Array.from({ length: 200 }, (_, i) => `sentence number ${i}`))
      return Math.max(...batches)
    }
    expect(await sizes({})).toBe(32)
    expect(await sizes({ maxBatchSize: 8 })).toBe(8)
  })

  it('is named by describeModel without building, downloading or loading anything', async () => {
    await using empty = await tempDir('describe')
    expect(await describeModel({ cacheDir: empty.path })).toEqual({ modelId: embedder.modelId, dimensions: embedder.dimensions })
    expect(await describeModel({ cacheDir: empty.path, model: 'all-MiniLM-L6-v2' })).toEqual({ modelId: 'all-MiniLM-L6-v2', dimensions: 384 })
    expect(await readdir(empty.path)).toEqual([])
    await expect(describeModel({ model: 'no-such-model' })).rejects.toMatchObject({ code: 'EMBEDDINGS_UNKNOWN_MODEL' })
  })

  it('embeds unknown words and numbers to a zero vector instead of failing', async () => {
    const [vector] = await embedder.embed(['1234 zzqxv'])
    expect(Array.from(vector as Float32Array).every((x) => x === 0)).toBe(true)
  })
})

describe('buildFolderAtomically', () => {
  it('leaves nothing behind when the build crashes midway', async () => {
    await using dir = await tempDir('atomic')
    const target = join(dir.path, 'model')
    await expect(
      buildFolderAtomically(target, async (tmp) => {
        await readFile(join(tmp, 'missing-file')) // fails after the temp folder exists
      }),
    ).rejects.toThrow()
    expect(await readdir(dir.path)).toEqual([])
  })
})
