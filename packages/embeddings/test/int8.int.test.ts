import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmbedder, describeModel, EmbeddingErrorCode, type KnownModel, knownModels, ModelRunner, readModelSpec } from '../src/index.js'
import { RANDOM_BERT_INT8_FILE, tinyBertShape, writeRandomBertModel } from '../src/testing/random-bert.js'
import { miniLmTokenizer, sampleTexts, tempDir } from './helpers/fixtures.js'

/**
 * int8 models: the random-weight generator's dynamically quantized graph runs real integer
 * kernels; `quantized: true` (or the `-int8` id) runs it through the pool with the same
 * guarantees, under its own id; models without an int8 graph are refused with a typed error.
 */

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0
  for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number)
  return dot // both unit length
}

let dir: Awaited<ReturnType<typeof tempDir>>
let folder: string

beforeAll(async () => {
  dir = await tempDir('int8')
  folder = await writeRandomBertModel({
    folder: join(dir.path, 'model'),
    tokenizerFrom: miniLmTokenizer,
    shape: tinyBertShape,
    pooling: 'mean',
    maxLength: 128,
    quantized: true,
  })
})
afterAll(() => dir[Symbol.asyncDispose]())

describe('int8 models', () => {
  it('writes the quantized graph the way ORT’s dynamic quantization does: integer MatMuls for every weight, int8 embedding tables', async () => {
    const graph = onnxProto.onnx.ModelProto.decode(await readFile(join(folder, RANDOM_BERT_INT8_FILE))).graph
    const ops = (graph?.node ?? []).map((node) => node.opType)
    const count = (op: string) => ops.filter((o) => o === op).length
    // 6 weight MatMuls per layer (Q, K, V, output, up, down); attention's two stay float.
    expect(count('MatMulInteger')).toBe(6 * tinyBertShape.layers)
    expect(count('DynamicQuantizeLinear')).toBe(6 * tinyBertShape.layers)
    expect(count('MatMul')).toBe(2 * tinyBertShape.layers)
    expect(count('DequantizeLinear')).toBe(3)
    const int8 = (graph?.initializer ?? []).filter((t) => t.dataType === onnxProto.onnx.TensorProto.DataType.INT8)
    expect(int8.filter((t) => t.name?.endsWith('_quantized'))).toHaveLength(6 * tinyBertShape.layers + 3)
    expect((await readModelSpec(folder)).quantizedOnnxFile).toBe(RANDOM_BERT_INT8_FILE)
  })

  it('runs the int8 graph through the pool under the -int8 id: a raw session’s vectors, close to fp32', async () => {
    const texts = sampleTexts(40)
    await using int8 = await createEmbedder({ modelPath: folder, quantized: true, workers: 2, progress: false })
    await using fp32 = await createEmbedder({ modelPath: folder, workers: 1, progress: false })
    expect(int8.modelId).toBe('random-bert-2x32-int8')
    expect(fp32.modelId).toBe('random-bert-2x32')
    expect(await describeModel({ modelPath: folder, quantized: true })).toEqual({ modelId: 'random-bert-2x32-int8', dimensions: 32 })

    // Dynamic quantization scales each batch's activations by that batch's range, so a text's
    // int8 vector depends a little on its batch-mates: one call at a time matches a raw session
    // exactly; concurrent calls (micro-batched) stay within the fidelity bound below.
    const spec = await readModelSpec(folder)
    const raw = await ModelRunner.load({ folder, spec: { ...spec, onnxFile: RANDOM_BERT_INT8_FILE }, intraOpThreads: 1 })
    for (const text of texts.slice(0, 10)) {
      const [vector] = (await int8.embed([text])) as [Float32Array]
      const expected = await raw.embed([text])
      expect(Math.max(...vector.map((x, d) => Math.abs(x - (expected[d] as number))))).toBeLessThan(1e-5)
    }
    await raw.release()
    const pooled = await Promise.all(texts.map(async (text) => (await int8.embed([text]))[0] as Float32Array))

    // Fidelity: the same weights in fp32. Measured on this tiny model: min cosine 0.99997.
    const full = await fp32.embed(texts)
    const similarities = pooled.map((vector, i) => cosine(vector, full[i] as Float32Array))
    console.log(`tiny random BERT, int8 vs fp32 over ${texts.length} texts: min cosine ${Math.min(...similarities).toFixed(5)}`)
    expect(Math.min(...similarities)).toBeGreaterThan(0.999)
    expect(Math.min(...similarities)).toBeLessThan(1) // really a different graph
  })

  it('refuses quantized for models without an int8 graph, with a typed error', async () => {
    await expect(createEmbedder({ quantized: true, progress: false })).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidOptions })
    await expect(createEmbedder({ model: 'bge-small-en-v1.5', quantized: true, progress: false })).rejects.toMatchObject({
      code: EmbeddingErrorCode.InvalidOptions,
      message: expect.stringContaining('bge-small-en-v1.5 has no int8 graph'),
    })
    await expect(describeModel({ model: 'bge-small-en-v1.5-int8' })).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidOptions })
    await expect(createEmbedder({ model: 'nope-int8', progress: false })).rejects.toMatchObject({ code: EmbeddingErrorCode.UnknownModel })

    await using plain = await tempDir('int8-plain')
    const fp32Only = await writeRandomBertModel({ folder: plain.path, tokenizerFrom: miniLmTokenizer, shape: tinyBertShape, pooling: 'mean', maxLength: 64 })
    await expect(createEmbedder({ modelPath: fp32Only, quantized: true, progress: false })).rejects.toMatchObject({ code: EmbeddingErrorCode.InvalidOptions })
  })

  it('fetches a registry model’s int8 file instead of its fp32 one for `<id>-int8`', async () => {
    await using cache = await tempDir('int8-hub')
    const requests: string[] = []
    const served: Record<string, string> = {
      'config.json': join(folder, 'config.json'),
      'tokenizer.json': join(folder, 'tokenizer.json'),
      'onnx/model.onnx': join(folder, 'onnx/model.onnx'),
      'onnx/model_int8.onnx': join(folder, RANDOM_BERT_INT8_FILE),
    }
    const server: Server = createServer(async (req, res) => {
      requests.push(req.url ?? '')
      const path = /^\/test\/int8\/resolve\/r1\/(.+)$/.exec(req.url ?? '')?.[1]
      const file = path && served[path]
      if (!file) return void res.writeHead(404).end()
      res.writeHead(200).end(await readFile(file))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const model: KnownModel = {
      spec: { id: 'test-int8', dimensions: 32, maxLength: 128, pooling: 'mean' },
      hub: {
        repo: 'test/int8',
        revision: 'r1',
        files: [{ path: 'config.json' }, { path: 'tokenizer.json' }, { path: 'onnx/model.onnx' }],
        quantized: { path: 'onnx/model_int8.onnx' },
      },
    }
    knownModels['test-int8'] = model
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      await using embedder = await createEmbedder({ model: 'test-int8-int8', hubEndpoint: endpoint, cacheDir: cache.path, workers: 1, progress: false })
      expect(embedder.modelId).toBe('test-int8-int8')
      expect(await embedder.embed(['hello there'])).toHaveLength(1)
      expect(requests.sort()).toEqual([
        '/test/int8/resolve/r1/config.json',
        '/test/int8/resolve/r1/onnx/model_int8.onnx',
        '/test/int8/resolve/r1/tokenizer.json',
      ])
    } finally {
      delete knownModels['test-int8']
      server.close()
    }
  })
})
