import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type ModelSpecInput, SPEC_FILE } from '../models/model-spec.js'
import { GraphBuilder } from '../onnx/graph-builder.js'

/** Shape of a BERT encoder. `miniLmShape` is all-MiniLM-L6-v2's (and bge-small's, with 12 layers). */
export interface BertShape {
  layers: number
  hidden: number
  heads: number
  intermediate: number
  vocabSize: number
  maxPositions: number
}

export const miniLmShape: BertShape = { layers: 6, hidden: 384, heads: 12, intermediate: 1536, vocabSize: 30522, maxPositions: 512 }
export const tinyBertShape: BertShape = { layers: 2, hidden: 32, heads: 4, intermediate: 64, vocabSize: 30522, maxPositions: 512 }

export interface RandomBertOptions {
  /** Folder to write: config.json, tokenizer files, onnx/model.onnx, agentmem.json. */
  folder: string
  /** Folder whose tokenizer.json (and tokenizer_config.json etc.) are copied, e.g. ../shared/models/all-MiniLM-L6-v2. */
  tokenizerFrom: string
  shape: BertShape
  /** How the encoder's token states become a vector. Default `mean`; a cross-encoder (`head`) ignores it. */
  pooling?: 'mean' | 'cls'
  maxLength: number
  seed?: number
  id?: string
  /**
   * Also write `onnx/model_int8.onnx`: the same weights dynamically quantized the way ORT's
   * `quantize_dynamic` does it (see `buildBertGraph`), named in the spec's `quantizedOnnxFile`.
   */
  quantized?: boolean
  /**
   * `sequence-classification`: a cross-encoder (BertForSequenceClassification with one label):
   * pooler (dense + tanh on the first token) and classifier on top, output `logits` `[batch, 1]`,
   * spec `{ dimensions: 1, pooling: 'none', normalize: false }`. Default: the bare encoder.
   */
  head?: 'sequence-classification'
}

/** Where `writeRandomBertModel({ quantized: true })` puts the int8 graph. */
export const RANDOM_BERT_INT8_FILE = 'onnx/model_int8.onnx'

/**
 * Writes a BERT-architecture ONNX model with seeded random weights: the exact compute of a
 * real model of that shape (valid for speed and for parity between implementations), but
 * meaningless vectors. Real weights cannot be obtained on these machines.
 */
export async function writeRandomBertModel(options: RandomBertOptions): Promise<string> {
  const { folder, shape, seed = 42 } = options
  await mkdir(join(folder, 'onnx'), { recursive: true })
  for (const file of ['tokenizer.json', 'special_tokens_map.json', 'vocab.txt']) {
    await copyFile(join(options.tokenizerFrom, file), join(folder, file)).catch(() => {})
  }
  // Other libraries (transformers.js) truncate at model_max_length: make it this model's limit.
  await writeFile(
    join(folder, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: 'BertTokenizer',
      do_lower_case: true,
      model_max_length: options.maxLength,
      ...{ pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]' },
    }),
  )
  const classifier = options.head === 'sequence-classification'
  await writeFile(
    join(folder, 'config.json'),
    JSON.stringify({
      architectures: [classifier ? 'BertForSequenceClassification' : 'BertModel'],
      ...(classifier && { id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } }),
      model_type: 'bert',
      hidden_size: shape.hidden,
      num_hidden_layers: shape.layers,
      num_attention_heads: shape.heads,
      intermediate_size: shape.intermediate,
      vocab_size: shape.vocabSize,
      max_position_embeddings: shape.maxPositions,
      type_vocab_size: 2,
      hidden_act: 'gelu',
      layer_norm_eps: 1e-12,
      pad_token_id: 0,
    }),
  )
  const spec: ModelSpecInput = {
    id: options.id ?? `random-bert-${shape.layers}x${shape.hidden}${classifier ? '-cross-encoder' : ''}`,
    onnxFile: 'onnx/model.onnx',
    ...(classifier
      ? { dimensions: 1, pooling: 'none', normalize: false, outputName: 'logits' }
      : { dimensions: shape.hidden, pooling: options.pooling ?? 'mean' }),
    maxLength: options.maxLength,
    ...(options.quantized && { quantizedOnnxFile: RANDOM_BERT_INT8_FILE }),
  }
  await writeFile(join(folder, SPEC_FILE), JSON.stringify(spec, null, 2))
  await writeFile(join(folder, 'onnx', 'model.onnx'), buildBertGraph(shape, seed, false, classifier))
  if (options.quantized) await writeFile(join(folder, RANDOM_BERT_INT8_FILE), buildBertGraph(shape, seed, true, classifier))
  return folder
}

/**
 * The graph of a BERT encoder. `quantize` rewrites it the way ORT's `quantize_dynamic` does
 * with its defaults (int8 weights, symmetric, one scale per tensor; uint8 activations): each
 * MatMul by a weight becomes DynamicQuantizeLinear(x) -> MatMulInteger -> Cast -> Mul by both
 * scales (bias Add unchanged), and each embedding Gather reads an int8 table followed by
 * DequantizeLinear. Attention's activation-by-activation MatMuls stay float, as ORT leaves them.
 * Weights are drawn in the same order either way, so both graphs hold the same model.
 */
function buildBertGraph(shape: BertShape, seed: number, quantize: boolean, classifier: boolean): Uint8Array {
  const { hidden: H, heads, intermediate: I } = shape
  const headDim = H / heads
  const random = gaussian(seed)
  const g = new GraphBuilder()
  let n = 0
  const values = (dims: number[], std: number) => Float32Array.from({ length: dims.reduce((a, b) => a * b) }, () => random() * std)
  // BERT's initialisation (std 0.02) leaves every token state close to its embedding, so the first
  // token's state barely depends on the text: a cross-encoder draws wider, as trained weights are.
  const std = classifier ? 0.2 : 0.02
  const weight = (dims: number[], scale = std) => g.constant(`w${n++}`, dims, values(dims, scale))
  /** An int8 copy of a weight (zero point 0) and its scale. */
  const int8Weight = (dims: number[]) => {
    const { data, scale } = quantizeSymmetric(values(dims, std))
    const name = `w${n++}`
    return {
      q: g.constant(`${name}_quantized`, dims, data),
      scale: g.constant(`${name}_scale`, [], [scale]),
      zero: g.constant(`${name}_zero`, [], new Int8Array(1)),
    }
  }
  const fill = (length: number, value: number) => g.constant(`c${n++}`, [length], new Float32Array(length).fill(value))
  const layerNorm = (x: string) => g.op('LayerNormalization', [x, fill(H, 1), fill(H, 0)], { axis: -1, epsilon: { float: 1e-12 } })
  const matMulByWeight = (x: string, inDim: number, outDim: number) => {
    if (!quantize) return g.op('MatMul', [x, weight([inDim, outDim])])
    const w = int8Weight([inDim, outDim])
    const [xq, xScale, xZero] = g.opOutputs('DynamicQuantizeLinear', [x], 3) as [string, string, string]
    const product = g.op('Cast', [g.op('MatMulInteger', [xq, w.q, xZero, w.zero])], { to: 1 })
    return g.op('Mul', [product, g.op('Mul', [xScale, w.scale])])
  }
  const dense = (x: string, inDim: number, outDim: number) => g.op('Add', [matMulByWeight(x, inDim, outDim), weight([outDim], 0.01)])
  const embed = (rows: number, indices: string) => {
    if (!quantize) return g.op('Gather', [weight([rows, H]), indices])
    const table = int8Weight([rows, H])
    return g.op('DequantizeLinear', [g.op('Gather', [table.q, indices]), table.scale, table.zero])
  }

  const ids = g.input('input_ids', 'int64', ['batch', 'sequence'])
  const mask = g.input('attention_mask', 'int64', ['batch', 'sequence'])
  const types = g.input('token_type_ids', 'int64', ['batch', 'sequence'])

  const seqLen = g.op('Gather', [g.op('Shape', [ids]), g.ints('one', [1])])
  const positions = g.op('Range', [
    g.constant('zero', [], BigInt64Array.from([0n])),
    g.op('Squeeze', [seqLen]),
    g.constant('step', [], BigInt64Array.from([1n])),
  ])
  const embeddings = g.op('Add', [g.op('Add', [embed(shape.vocabSize, ids), embed(shape.maxPositions, positions)]), embed(2, types)])
  let x = layerNorm(embeddings)

  // Additive attention bias: 0 where attended, -10000 on padding, shaped [batch, 1, 1, seq].
  const maskFloat = g.op('Cast', [mask], { to: 1 })
  const bias = g.op('Unsqueeze', [
    g.op('Mul', [g.op('Sub', [g.constant('one_f', [], [1]), maskFloat]), g.constant('neg', [], [-10000])]),
    g.ints('axes12', [1, 2]),
  ])
  const splitHeads = g.ints('split_heads', [0, 0, heads, headDim])
  const mergeHeads = g.ints('merge_heads', [0, 0, H])
  const scale = g.constant('scale', [], [1 / Math.sqrt(headDim)])

  for (let layer = 0; layer < shape.layers; layer++) {
    const project = (perm: number[]) => g.op('Transpose', [g.op('Reshape', [dense(x, H, H), splitHeads])], { perm })
    const q = project([0, 2, 1, 3])
    const k = project([0, 2, 3, 1])
    const v = project([0, 2, 1, 3])
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), bias])
    const context = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v])
    const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), mergeHeads])
    x = layerNorm(g.op('Add', [x, dense(merged, H, H)]))
    const up = dense(x, H, I)
    const gelu = g.op('Mul', [
      g.op('Mul', [up, g.constant(`half${layer}`, [], [0.5])]),
      g.op('Add', [g.op('Erf', [g.op('Div', [up, g.constant(`sqrt2_${layer}`, [], [Math.SQRT2])])]), g.constant(`one${layer}`, [], [1])]),
    ])
    x = layerNorm(g.op('Add', [x, dense(gelu, I, H)]))
  }
  if (classifier) {
    // BertPooler on the first token, then the one-label classifier. Their weights are drawn
    // wider than the encoder's (std 1/sqrt(H)) so logits spread over a few units, as trained
    // rerankers' do, instead of all sitting near 0 where any scoring would look alike.
    const first = g.op('Gather', [x, g.constant('first_token', [], BigInt64Array.from([0n]))], { axis: 1 })
    const headDense = (input: string, outDim: number) => g.op('Add', [g.op('MatMul', [input, weight([H, outDim], 1 / Math.sqrt(H))]), weight([outDim], 0.01)])
    g.op('Identity', [headDense(g.op('Tanh', [headDense(first, H)]), 1)], {}, 'logits')
    g.output('logits', 'float32', ['batch', 1])
    return g.encode('random-bert-cross-encoder')
  }
  g.op('Identity', [x], {}, 'last_hidden_state')
  g.output('last_hidden_state', 'float32', ['batch', 'sequence', H])
  return g.encode('random-bert')
}

/** int8 values in [-127, 127] with zero point 0 and the one scale that maps the largest magnitude to 127. */
function quantizeSymmetric(values: Float32Array): { data: Int8Array; scale: number } {
  let max = 0
  for (const v of values) max = Math.max(max, Math.abs(v))
  const scale = max > 0 ? max / 127 : 1
  // Math.round rounds halves up, ORT half to even: a weight exactly halfway is vanishingly rare in random floats.
  return { data: Int8Array.from(values, (v) => Math.max(-127, Math.min(127, Math.round(v / scale)))), scale }
}

/** Seeded standard normal samples (mulberry32 + Box-Muller), so a model is reproducible. */
function gaussian(seed: number): () => number {
  let state = seed >>> 0
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform())
}
