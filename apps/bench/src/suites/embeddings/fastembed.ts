import { existsSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Contender } from './measure.js'

export const FASTEMBED = 'G fastembed-js'

/**
 * fastembed-js as its users run it: the model folder laid out where its catalogue expects
 * all-MiniLM-L6-v2 (`<cacheDir>/fast-all-MiniLM-L6-v2/model.onnx` and tokenizer files), so it
 * loads without a download. It pads every text to the model's maximum length and pools the first
 * token. Single texts go through `queryEmbed`, batches through `embed(texts, 32)`.
 */
export async function fastembedContender(folder: string): Promise<Contender> {
  const { EmbeddingModel, FlagEmbedding } = await import('fastembed')
  const cacheDir = join(folder, '..', 'fastembed-cache')
  const modelDir = join(cacheDir, EmbeddingModel.AllMiniLML6V2)
  if (!existsSync(join(modelDir, 'model.onnx'))) {
    await mkdir(modelDir, { recursive: true })
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      await copyFile(join(folder, file), join(modelDir, file))
    await copyFile(join(folder, 'onnx', 'model.onnx'), join(modelDir, 'model.onnx'))
  }
  const model = await FlagEmbedding.init({ model: EmbeddingModel.AllMiniLML6V2, cacheDir, showDownloadProgress: false })
  return {
    embedOne: (text) => model.queryEmbed(text),
    embedAll: async (texts) => {
      for await (const _batch of model.embed(texts, 32)) {
        // consumed batch by batch, as its users iterate it
      }
    },
    close: async () => {},
  }
}
