import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'

/**
 * How to run one model folder (Hugging Face layout): which ONNX file, how to pool the
 * token states, whether to normalise, and the prefixes a retrieval model expects.
 */
export const modelSpecSchema = z.object({
  id: z.string().min(1),
  /** Path of the ONNX graph inside the folder. */
  onnxFile: z.string().min(1).default('onnx/model.onnx'),
  /** Path of the same model with int8 weights, run instead with `quantized: true`. */
  quantizedOnnxFile: z.string().min(1).optional(),
  dimensions: z.number().int().positive(),
  /** Token budget per text, special tokens included; longer texts are truncated. */
  maxLength: z.number().int().positive(),
  /**
   * `mean`: attention-masked mean of `last_hidden_state`; `cls`: its first token;
   * `none`: the graph already returns one vector per text (e.g. `sentence_embedding`).
   */
  pooling: z.enum(['mean', 'cls', 'none']),
  normalize: z.boolean().default(true),
  queryPrefix: z.string().default(''),
  passagePrefix: z.string().default(''),
  /** Graph output to read; by default `last_hidden_state`, else `sentence_embedding`, else the first. */
  outputName: z.string().optional(),
  /** Texts per model run this model does best with (createEmbedder's `maxBatchSize` overrides it). Default 8. */
  batchSize: z.number().int().positive().max(1024).optional(),
})
export type ModelSpec = z.infer<typeof modelSpecSchema>
export type ModelSpecInput = z.input<typeof modelSpecSchema>

/** A self-describing model folder carries its spec in this file. */
export const SPEC_FILE = 'agentmem.json'

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new EmbeddingError(EmbeddingErrorCode.ModelLoadFailed, `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    })
  }
}

const hfConfigSchema = z.object({
  hidden_size: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive().optional(),
})
const sentenceTransformersPoolingSchema = z.object({
  pooling_mode_cls_token: z.boolean().optional(),
  pooling_mode_mean_tokens: z.boolean().optional(),
})

/**
 * Works out the spec of a local folder: its own `agentmem.json` wins, then explicit
 * overrides, then what `config.json` and sentence-transformers' `1_Pooling/config.json` say.
 */
export async function readModelSpec(folder: string, overrides: Partial<ModelSpecInput> = {}): Promise<ModelSpec> {
  // Every model has one: a folder without it is no model folder (an empty or mistyped path), which
  // the spec's own errors ("dimensions: expected number") did not say.
  if (!existsSync(join(folder, 'tokenizer.json'))) {
    throw new EmbeddingError(
      EmbeddingErrorCode.ModelNotFound,
      `model file missing: ${join(folder, 'tokenizer.json')} (a model folder has tokenizer.json, config.json and an ONNX file)`,
      {
        details: { folder, file: 'tokenizer.json' },
      },
    )
  }
  const own = (await readJson(join(folder, SPEC_FILE))) as Partial<ModelSpecInput> | undefined
  const config = hfConfigSchema.safeParse((await readJson(join(folder, 'config.json'))) ?? {})
  const pooling = sentenceTransformersPoolingSchema.safeParse((await readJson(join(folder, '1_Pooling', 'config.json'))) ?? {})
  const inferred: Partial<ModelSpecInput> = {
    id: folder.split(/[\\/]/).filter(Boolean).at(-1) ?? 'local-model',
    dimensions: config.success ? config.data.hidden_size : undefined,
    maxLength: config.success && config.data.max_position_embeddings ? Math.min(config.data.max_position_embeddings, 512) : undefined,
    pooling: pooling.success && pooling.data.pooling_mode_cls_token ? 'cls' : 'mean',
  }
  const parsed = modelSpecSchema.safeParse({ ...inferred, ...own, ...dropUndefined(overrides) })
  if (!parsed.success) {
    throw new EmbeddingError(
      EmbeddingErrorCode.ModelLoadFailed,
      `cannot work out how to run the model in ${folder} (${z.prettifyError(parsed.error)}); add an ${SPEC_FILE} or pass dimensions/maxLength/pooling`,
      { cause: parsed.error, details: { folder } },
    )
  }
  return parsed.data
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
