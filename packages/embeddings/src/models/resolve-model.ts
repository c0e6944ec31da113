import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import type { ResolvedEmbedderOptions } from '../options.js'
import { ensureHubModel } from './hub-download.js'
import { type ModelSpec, readModelSpec } from './model-spec.js'
import type { ProgressListener } from './progress.js'
import { knownModels } from './registry.js'
import { ensureStaticModel, STATIC_MODEL_ID } from './static-model.js'

export interface ResolvedModel {
  folder: string
  spec: ModelSpec
}

/** Turns `model` / `modelPath` / nothing into a local folder and the spec to run it with. */
export async function resolveModel(options: ResolvedEmbedderOptions, onProgress?: ProgressListener): Promise<ResolvedModel> {
  const { model, modelPath, spec: overrides = {} } = options
  if (model !== undefined && model !== STATIC_MODEL_ID && !(model in knownModels)) {
    throw new EmbeddingError(
      EmbeddingErrorCode.UnknownModel,
      `unknown model "${model}"; known: ${[STATIC_MODEL_ID, ...Object.keys(knownModels)].join(', ')} (for any other model pass modelPath)`,
      { details: { model } },
    )
  }
  const known = model === undefined ? undefined : knownModels[model]
  if (modelPath !== undefined) {
    return { folder: modelPath, spec: await readModelSpec(modelPath, { ...known?.spec, ...overrides }) }
  }
  const folder = known
    ? await ensureHubModel(known, { cacheDir: options.cacheDir, endpoint: options.hubEndpoint, token: options.hubToken, onProgress })
    : await ensureStaticModel(options.cacheDir, onProgress)
  return { folder, spec: await readModelSpec(folder, { ...known?.spec, ...overrides }) }
}
