import { access } from 'node:fs/promises'
import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import { type CreateEmbedderOptions, type ResolvedEmbedderOptions, resolveOptions } from '../options.js'
import { ensureHubModel } from './hub-download.js'
import { type ModelSpec, readModelSpec } from './model-spec.js'
import type { ProgressListener } from './progress.js'
import { type KnownModel, knownModels, knownRerankers } from './registry.js'
import { ensureStaticModel, STATIC_MODEL_ID, staticModelSpec } from './static-model.js'

export interface ResolvedModel {
  folder: string
  spec: ModelSpec
}

/** Suffix of a model id whose int8 graph runs (`quantized: true`). */
export const INT8_SUFFIX = '-int8'

/** Which models a call may name: embedders (with the offline default) or rerankers (cross-encoders, no offline one). */
export type ModelKind = 'embedder' | 'reranker'

/** What to run: the registry entry of `model` (undefined for the offline default) and whether its int8 graph. */
function selectModel(
  requested: string | undefined,
  modelPath: string | undefined,
  quantizedOption: boolean,
  kind: ModelKind = 'embedder',
): { known: KnownModel | undefined; quantized: boolean } {
  const registry = kind === 'embedder' ? knownModels : knownRerankers
  const base = requested?.endsWith(INT8_SUFFIX) ? requested.slice(0, -INT8_SUFFIX.length) : undefined
  const [model, quantized] = base !== undefined && base in registry ? [base, true] : [requested, quantizedOption]
  const offline = kind === 'embedder' ? [STATIC_MODEL_ID] : []
  if (model === undefined ? kind === 'reranker' && !modelPath : !offline.includes(model) && !(model in registry)) {
    throw new EmbeddingError(
      EmbeddingErrorCode.UnknownModel,
      `unknown ${kind === 'embedder' ? 'model' : 'reranker'} "${model ?? ''}"; known: ${[...offline, ...Object.keys(registry)].join(', ')} (for any other model pass modelPath; the server's --${kind === 'embedder' ? 'model' : 'reranker'}-path)`,
      { details: { model } },
    )
  }
  const known = model === undefined ? undefined : registry[model]
  // A local folder says for itself whether it has an int8 graph; the registry and the offline model are known now.
  if (quantized && !modelPath && !known?.hub.quantized) throw noInt8(known?.spec.id ?? STATIC_MODEL_ID)
  return { known, quantized }
}

function noInt8(model: string): EmbeddingError {
  return new EmbeddingError(
    EmbeddingErrorCode.InvalidOptions,
    `model ${model} has no int8 graph: drop quantized, or pass modelPath with an agentmem.json naming its quantizedOnnxFile`,
    { details: { model } },
  )
}

/** The spec that runs the int8 graph, under its own id so a store never mixes fp32 and int8 vectors. */
function int8Spec(spec: ModelSpec): ModelSpec {
  if (!spec.quantizedOnnxFile) throw noInt8(spec.id)
  return { ...spec, id: `${spec.id}${INT8_SUFFIX}`, onnxFile: spec.quantizedOnnxFile }
}

/** Turns `model` / `modelPath` / nothing into a local folder and the spec to run it with. */
export async function resolveModel(options: ResolvedEmbedderOptions, onProgress?: ProgressListener, kind: ModelKind = 'embedder'): Promise<ResolvedModel> {
  const { modelPath, spec: overrides = {} } = options
  const { known, quantized } = selectModel(options.model, modelPath, options.quantized, kind)
  const run = (spec: ModelSpec) => (quantized ? int8Spec(spec) : spec)
  // A local copy of a registry model's folder holds its int8 file where the hub repository does.
  const int8Path = known?.hub.quantized && { quantizedOnnxFile: known.hub.quantized.path }
  if (modelPath !== undefined) {
    await access(modelPath).catch((cause: unknown) => {
      throw new EmbeddingError(EmbeddingErrorCode.ModelNotFound, `model folder not found: ${modelPath}`, { cause, details: { folder: modelPath } })
    })
    return { folder: modelPath, spec: run(await readModelSpec(modelPath, { ...known?.spec, ...int8Path, ...overrides })) }
  }
  if (!known) {
    const folder = await ensureStaticModel(options.cacheDir, onProgress)
    return { folder, spec: await readModelSpec(folder, overrides) }
  }
  const int8File = known.hub.quantized
  // The int8 graph is fetched instead of the fp32 one, never both.
  const fp32File = known.spec.onnxFile ?? 'onnx/model.onnx'
  const files = quantized && int8File ? [...known.hub.files.filter((f) => f.path !== fp32File), int8File] : known.hub.files
  const folder = await ensureHubModel(
    { ...known, hub: { ...known.hub, files } },
    { cacheDir: options.cacheDir, endpoint: options.hubEndpoint, token: options.hubToken, onProgress },
  )
  const spec = await readModelSpec(folder, { ...known.spec, ...int8Path, ...overrides })
  return { folder, spec: run(spec) }
}

/**
 * The model id and dimensions `createEmbedder(options)` would run, without building, downloading
 * or loading anything (a `modelPath` folder's spec files are read). For callers that must name
 * the model, e.g. to open a store, but may never embed.
 */
export async function describeModel(options: CreateEmbedderOptions = {}): Promise<{ modelId: string; dimensions: number }> {
  const resolved = resolveOptions(options)
  const { modelPath, spec: overrides = {} } = resolved
  const { known, quantized } = selectModel(resolved.model, modelPath, resolved.quantized)
  const suffix = quantized ? INT8_SUFFIX : ''
  if (modelPath !== undefined) {
    const int8Path = known?.hub.quantized && { quantizedOnnxFile: known.hub.quantized.path }
    const spec = await readModelSpec(modelPath, { ...known?.spec, ...int8Path, ...overrides })
    return { modelId: (quantized ? int8Spec(spec) : spec).id, dimensions: spec.dimensions }
  }
  const base = known?.spec ?? staticModelSpec
  return { modelId: (overrides.id ?? base.id) + suffix, dimensions: overrides.dimensions ?? base.dimensions }
}
