import { join } from 'node:path'
import { env, pipeline } from '@huggingface/transformers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmbedder } from '../src/index.js'
import { TextTokenizer } from '../src/inference/text-tokenizer.js'
import { sampleTexts, tempDir, writeTinyBert } from './helpers/fixtures.js'

// Reference: transformers.js feature extraction on the same folder, strictly offline.
env.allowRemoteModels = false
env.allowLocalModels = true

let dir: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  dir = await tempDir('parity')
  env.localModelPath = dir.path
})
afterAll(() => dir[Symbol.asyncDispose]())

const longText = Array.from({ length: 300 }, (_, i) => `word${i % 17}`).join(' ') // 600 word pieces
const inputs = [...sampleTexts(6), longText, 'Hi.']
/**
 * transformers.js truncates after adding special tokens, dropping the closing [SEP]; Hugging
 * Face tokenizers and sentence-transformers (what these models were trained with) keep it,
 * and so do we. The reference therefore gets the long text already cut to what fits.
 */
const longTextCut = longText.split(' ').slice(0, 63).join(' ') // 63 words x 2 pieces + [CLS] + [SEP] = 128
const referenceInputs = inputs.map((text) => (text === longText ? longTextCut : text))

describe.each(['mean', 'cls'] as const)('parity with transformers.js (%s pooling)', (pooling) => {
  it('gives the same vectors within 1e-4 for short, truncated and mixed-length batches', async () => {
    const name = `tiny-${pooling}`
    await writeTinyBert(join(dir.path, name), pooling, 128)
    const extractor = await pipeline('feature-extraction', name, { dtype: 'fp32' })
    await using embedder = await createEmbedder({ modelPath: join(dir.path, name), progress: false, maxBatchSize: 3 })

    const tokenizer = await TextTokenizer.load(join(dir.path, name))
    expect(tokenizer.encode(longText, 128)).toEqual(tokenizer.encode(longTextCut, 128))

    const ours = await embedder.embed(inputs)
    // Both truncate at 128 tokens: ours from agentmem.json, transformers.js from tokenizer_config.json.
    const reference = await extractor(referenceInputs, { pooling, normalize: true })
    const expected = reference.tolist() as number[][]
    let worst = 0
    inputs.forEach((_, i) => {
      const row = expected[i] as number[]
      ;(ours[i] as Float32Array).forEach((value, d) => {
        worst = Math.max(worst, Math.abs(value - (row[d] as number)))
      })
    })
    expect(worst).toBeLessThan(1e-4)
    await extractor.dispose()
  })
})
