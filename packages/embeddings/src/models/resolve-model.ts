import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import { type CreateEmbedderOptions, type ResolvedEmbedderOptions, resolveOptions } from '../options.js'
import { ensureHubModel } from './hub-download.js'
import { type ModelSpec, readModelSpec } from './model-spec.js'
import type { ProgressListener } from './progress.js'
import { type KnownModel, knownModels } from './registry.js'
import { ensureStaticModel, STATIC_MODEL_ID, staticModelSpec } from './static-model.js'

export interface ResolvedModel {
  folder: string
  spec: ModelSpec
}

/** The registry entry of `model`; undefined for the offline default. Unknown ids are refused. */
function knownModel(model: string | undefined): KnownModel | undefined {
  if (model !== undefined && model !== STATIC_MODEL_ID && !(model in knownModels)) {
    throw new EmbeddingError(
      EmbeddingErrorCode.UnknownModel,
      `unknown model "${model}"; known: ${[STATIC_MODEL_ID, ...Object.keys(knownModels)].join(', ')} (for any other model pass modelPath)`,
      { details: { model } },
    )
  }
  return model === undefined ? undefined : knownModels[model]
}

/** Turns `model` / `modelPath` / nothing into a local folder and the spec to run it with. */
export async function resolveModel(options: ResolvedEmbedderOptions, onProgress?: ProgressListener): Promise<ResolvedModel> {
  const { model, modelPath, spec: overrides = {} } = options
  const known = knownModel(model)
  if (modelPath !== undefined) {
    return { folder: modelPath, spec: await readModelSpec(modelPath, { ...known?.spec, ...overrides }) }
  }
  const folder = known
    ? await ensureHubModel(known, { cacheDir: options.cacheDir, endpoint: options.hubEndpoint, token: options.hubToken, onProgress })
    : await ensureStaticModel(options.cacheDir, onProgress)
  return { folder, spec: await readModelSpec(folder, { ...known?.spec, ...overrides }) }
}

/**
 * The model id and dimensions `createEmbedder(options)` would run, without building, downloading
 * or loading anything (a `modelPath` folder's spec files are read). For callers that must name
 * the model, e.g. to open a store, but may never embed.
 */
export async function describeModel(options: CreateEmbedderOptions = {}): Promise<{ modelId: string; dimensions: number }> {
  const { model, modelPath, spec: overrides = {} } = resolveOptions(options)
  const known = knownModel(model)
  if (modelPath !== undefined) {
    const spec = await readModelSpec(modelPath, { ...known?.spec, ...overrides })
    return { modelId: spec.id, dimensions: spec.dimensions }
  }
  const base = known?.spec ?? staticModelSpec
  return { modelId: overrides.id ?? base.id, dimensions: overrides.dimensions ?? base.dimensions }
}
