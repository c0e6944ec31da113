import { open, readFile } from 'node:fs/promises'
import { endianness } from 'node:os'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import type { ModelSpec } from '../models/model-spec.js'
import { normalizeRows } from './pooling.js'
import { TextTokenizer } from './text-tokenizer.js'

const { onnx } = onnxProto
type Tensor = onnxProto.onnx.ITensorProto
type Node = onnxProto.onnx.INodeProto

/** `config.json` `model_type` of a folder whose graph is a word-vector lookup (the offline default). */
export const STATIC_MODEL_TYPE = 'static-word-vectors'

/** Whether the folder says it holds a static word-vector model (its `config.json` `model_type`). */
export async function isStaticWordVectorModel(folder: string): Promise<boolean> {
  try {
    const config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8')) as { model_type?: unknown }
    return config?.model_type === STATIC_MODEL_TYPE
  } catch {
    return false
  }
}

/**
 * Longest word (run of ASCII letters and digits or non-ASCII characters) a call may hold to
 * be computed inline: the tokenizer looks an unknown word up once per prefix, so its cost
 * grows with the square of the word's length (a 100-letter hash costs ~2 µs a character,
 * prose ~0.25).
 */
const INLINE_MAX_WORD = 24

/**
 * Whether texts are cheap enough to embed on the caller's thread: few characters, no long words.
 * A text the tokenizer reads in one pass (`readsInOnePass`: plain ASCII, no added token, on a
 * word-level tokenizer) counts a quarter of its characters and may hold long words: one lookup a
 * word (measured: ~0.2 µs a character against ~0.8 through the library for accented prose, ~1.7
 * for CJK, and more for long unknown words, whose cost grows with their length squared).
 */
export function fitsInline(texts: readonly string[], maxChars: number, readsInOnePass?: (text: string) => boolean): boolean {
  let cost = 0
  for (const text of texts) {
    if (cost + (readsInOnePass ? text.length / 4 : text.length) > maxChars) return false
    const onePass = readsInOnePass?.(text) ?? false
    cost += onePass ? text.length / 4 : text.length
    if (cost > maxChars || (!onePass && hasLongWord(text))) return false
  }
  return true
}

function hasLongWord(text: string): boolean {
  let run = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // ASCII other than letters and digits splits words; so do CJK ideographs (a token each).
    const separator =
      c < 0x80
        ? !((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))
        : (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff)
    run = separator ? 0 : run + 1
    if (run > INLINE_MAX_WORD) return true
  }
  return false
}

/**
 * The ONNX graph of a static word-vector model (Gather -> ReduceSum -> MatMul -> L2
 * normalise, see models/static-model.ts) computed in plain JS on the calling thread.
 *
 * A text costs a tokenizer pass, one 100-float row addition per token and the projection
 * (2 x 100 multiply-adds when it is the SIF recipe's I - u·uᵀ, else 100 x 100): ~8 µs for
 * a LoCoMo question (the tokenizer's ASCII word-level path; ~20 µs through the library),
 * against ~100 µs for a round trip to a worker. The weights are read back from the very
 * `model.onnx` the workers run (the initializers are raw little-endian float32, see
 * `alignInPlace`), and the tokenizer is the workers' own `TextTokenizer` with the same
 * truncation, so both paths see the same ids and the same weights. The sum and projection
 * are accumulated in float64 (ORT: float32); the vectors agree within 1e-6
 * (test/static-fast-path.int.test.ts: LoCoMo turns, edge cases; every vocabulary word was
 * checked once too, worst 3.9e-7).
 *
 * `load` refuses any graph that is not exactly this shape; the embedder then keeps every
 * call on the workers.
 */
export class StaticWordVectors {
  readonly dimensions: number
  readonly vocabSize: number
  readonly #tokenizer: TextTokenizer
  readonly #maxLength: number
  readonly #normalize: boolean
  /** `[vocabSize, dimensions]` float32: the model file's bytes in place (see `alignInPlace`). */
  readonly #table: Float32Array
  /** `[dimensions, dimensions]` row-major: projected[j] = Σ_i sum[i] · projection[i, j]. */
  readonly #projection: Float64Array
  /** When the projection is I - u·uᵀ (the SIF recipe's), u: then P·s = s - u·(u·s), 2·dims multiply-adds instead of dims². */
  readonly #commonComponent: Float64Array | undefined
  readonly #epsilon: number
  readonly #sum: Float64Array
  readonly #projected: Float64Array

  private constructor(tokenizer: TextTokenizer, spec: ModelSpec, weights: StaticWeights) {
    this.#tokenizer = tokenizer
    this.#maxLength = spec.maxLength
    this.#normalize = spec.normalize
    this.dimensions = weights.dimensions
    this.vocabSize = weights.vocabSize
    this.#table = alignInPlace(weights.table)
    this.#projection = weights.projection
    this.#commonComponent = rankOneComplement(weights.projection, weights.dimensions)
    this.#epsilon = weights.epsilon
    this.#sum = new Float64Array(weights.dimensions)
    this.#projected = new Float64Array(weights.dimensions)
  }

  /** Whether the tokenizer reads this text in one pass (see `fitsInline`). */
  readsInOnePass(text: string): boolean {
    return this.#tokenizer.readsInOnePass(text)
  }

  /** Reads the tokenizer and the graph's weights; throws (plain Error) when the graph is not a static word-vector graph. */
  static async load(folder: string, spec: ModelSpec): Promise<StaticWordVectors> {
    const [bytes, tokenizer] = await Promise.all([readWithSlack(join(folder, spec.onnxFile)), TextTokenizer.load(folder)])
    const weights = readStaticGraph(bytes, spec)
    if (!(tokenizer.padId >= 0 && tokenizer.padId < weights.vocabSize)) throw new Error(`the padding token id ${tokenizer.padId} is outside the table`)
    const padRow = tokenizer.padId * weights.dimensions * 4
    // The graph sums every position, padding included: the pad row must add nothing, or the
    // worker path's vectors would depend on the batch (and this path could not match them).
    for (let d = 0; d < weights.dimensions; d++) {
      if (weights.table.getFloat32(padRow + d * 4, true) !== 0) throw new Error(`the embedding row of the padding token (${tokenizer.padId}) is not zero`)
    }
    return new StaticWordVectors(tokenizer, spec, weights)
  }

  /** One vector per text (prefixes already applied), as views into one buffer, like a worker batch. */
  embed(texts: readonly string[]): Float32Array[] {
    const dims = this.dimensions
    const table = this.#table
    const projection = this.#projection
    const sum = this.#sum
    const projected = this.#projected
    const out = new Float32Array(texts.length * dims)
    const vectors: Float32Array[] = []
    for (let t = 0; t < texts.length; t++) {
      const ids = this.#tokenizer.encode(texts[t] as string, this.#maxLength)
      sum.fill(0)
      for (const id of ids) {
        if (!(id >= 0 && id < this.vocabSize)) {
          throw new EmbeddingError(EmbeddingErrorCode.InferenceFailed, `token id ${id} is outside the model's vocabulary of ${this.vocabSize}`)
        }
        const row = id * dims
        for (let d = 0; d < dims; d++) sum[d] = (sum[d] as number) + (table[row + d] as number)
      }
      const u = this.#commonComponent
      if (u) {
        let along = 0
        for (let i = 0; i < dims; i++) along += (sum[i] as number) * (u[i] as number)
        for (let j = 0; j < dims; j++) projected[j] = (sum[j] as number) - along * (u[j] as number)
      } else {
        projected.fill(0)
        for (let i = 0; i < dims; i++) {
          const s = sum[i] as number
          const row = i * dims
          for (let j = 0; j < dims; j++) projected[j] = (projected[j] as number) + s * (projection[row + j] as number)
        }
      }
      let squares = 0
      for (let j = 0; j < dims; j++) squares += (projected[j] as number) ** 2
      const norm = Math.max(Math.sqrt(squares), this.#epsilon)
      const base = t * dims
      for (let j = 0; j < dims; j++) out[base + j] = (projected[j] as number) / norm
      vectors.push(out.subarray(base, base + dims))
    }
    if (this.#normalize) normalizeRows(out, dims)
    return vectors
  }
}

/** A file's bytes, in a buffer with 3 bytes to spare after them so `alignInPlace` can align a table in place. */
async function readWithSlack(path: string): Promise<Uint8Array> {
  const handle = await open(path)
  try {
    const { size } = await handle.stat()
    const bytes = new Uint8Array(new ArrayBuffer(size + 3), 0, size)
    for (let at = 0; at < size; ) {
      const { bytesRead } = await handle.read(bytes, at, size - at, at)
      if (bytesRead === 0) throw new Error(`${path} ended after ${at} of ${size} bytes`)
      at += bytesRead
    }
    return bytes
  } finally {
    await handle.close()
  }
}

/**
 * A little-endian float32 view of a `readWithSlack` buffer as a Float32Array, which sums several
 * times faster than a DataView reads. The table sits wherever protobuf put it in the file; when
 * its bytes are not 4-aligned they are moved up to 3 bytes forward within that buffer, which
 * overwrites what follows them (read by then) and leaves `view` reading shifted bytes: call it
 * last. A copy into a fresh 128 MB buffer took 0.65 s here, the move 0.25 s. A buffer with no
 * room after the table is copied.
 */
function alignInPlace(view: DataView): Float32Array {
  const count = view.byteLength / 4
  if (endianness() === 'LE') {
    const shift = (4 - (view.byteOffset % 4)) % 4
    const at = view.byteOffset + shift
    if (shift > 0 && at + view.byteLength <= view.buffer.byteLength) {
      new Uint8Array(view.buffer).copyWithin(at, view.byteOffset, view.byteOffset + view.byteLength)
    }
    if (at + view.byteLength <= view.buffer.byteLength) return new Float32Array(view.buffer, at, count)
    return new Float32Array(new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer)
  }
  const copy = new Float32Array(count)
  for (let i = 0; i < count; i++) copy[i] = view.getFloat32(i * 4, true)
  return copy
}

/**
 * u when `projection` is I - u·uᵀ to float32 precision (every entry within 1e-6), else
 * undefined. u is read from the off-diagonal entries of its largest component's column
 * (P[i,k] = -u_i·u_k), which float32 keeps to full relative precision; the diagonal alone
 * (1 - u_i²) would lose small components.
 */
export function rankOneComplement(projection: Float64Array, dims: number): Float64Array | undefined {
  let k = 0
  for (let i = 1; i < dims; i++) if ((projection[i * dims + i] as number) < (projection[k * dims + k] as number)) k = i
  const ukSquared = 1 - (projection[k * dims + k] as number)
  if (!(ukSquared > 0)) return undefined
  const uk = Math.sqrt(ukSquared)
  const u = new Float64Array(dims)
  for (let i = 0; i < dims; i++) u[i] = i === k ? uk : -(projection[i * dims + k] as number) / uk
  for (let i = 0; i < dims; i++) {
    for (let j = 0; j < dims; j++) {
      const expected = (i === j ? 1 : 0) - (u[i] as number) * (u[j] as number)
      if (Math.abs((projection[i * dims + j] as number) - expected) > 1e-6) return undefined
    }
  }
  return u
}

interface StaticWeights {
  dimensions: number
  vocabSize: number
  table: DataView
  projection: Float64Array
  epsilon: number
}

/**
 * Checks that the graph is exactly input_ids -> Gather(table) -> ReduceSum(axis 1) ->
 * MatMul(projection) -> x / max(ReduceL2(x), epsilon), and returns its weights.
 */
export function readStaticGraph(bytes: Uint8Array, spec: ModelSpec): StaticWeights {
  const graph = onnx.ModelProto.decode(bytes).graph
  if (!graph) throw new Error('the model has no graph')
  const initializers = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', tensor]))
  const inputs = (graph.input ?? []).map((input) => input.name).filter((name) => !initializers.has(name ?? ''))
  if (inputs.length !== 1 || inputs[0] !== 'input_ids') throw new Error(`graph inputs are ${JSON.stringify(inputs)}, not ["input_ids"]`)
  const nodes = graph.node ?? []
  const ops = nodes.map((node) => node.opType)
  const expected = ['Gather', 'ReduceSum', 'MatMul', 'ReduceL2', 'Max', 'Div']
  if (ops.join() !== expected.join()) throw new Error(`graph operators are ${ops.join(' -> ')}, not ${expected.join(' -> ')}`)
  const [gather, reduceSum, matMul, reduceL2, max, div] = nodes as [Node, Node, Node, Node, Node, Node]
  const out = (node: Node) => node.output?.[0]
  const constant = (name: string | undefined | null, what: string): Tensor => {
    const tensor = initializers.get(name ?? '')
    if (!tensor) throw new Error(`the ${what} is not a constant`)
    return tensor
  }

  if (gather.input?.[1] !== 'input_ids' || intAttribute(gather, 'axis', 0) !== 0) throw new Error('Gather does not look up input_ids on axis 0')
  const table = constant(gather.input?.[0], 'embedding table')
  const [vocabSize, dimensions] = (table.dims ?? []).map(Number) as [number, number]
  if (table.dims?.length !== 2) throw new Error('the embedding table is not a matrix')
  if (dimensions !== spec.dimensions) {
    throw new EmbeddingError(
      EmbeddingErrorCode.DimensionMismatch,
      `model ${spec.id} produces ${dimensions}-dimensional vectors but its spec says ${spec.dimensions}`,
      {
        details: { expected: spec.dimensions, actual: dimensions },
      },
    )
  }

  const sumAxes = reduceSum.input?.[1] ? int64Values(constant(reduceSum.input[1], 'ReduceSum axes')) : intsAttribute(reduceSum, 'axes')
  if (reduceSum.input?.[0] !== out(gather) || sumAxes.join() !== '1' || intAttribute(reduceSum, 'keepdims', 1) !== 0) {
    throw new Error('ReduceSum does not sum the tokens (axis 1, keepdims 0)')
  }
  if (matMul.input?.[0] !== out(reduceSum)) throw new Error('MatMul does not project the summed vector')
  const projectionTensor = constant(matMul.input?.[1], 'projection')
  if ((projectionTensor.dims ?? []).map(Number).join() !== `${dimensions},${dimensions}`) throw new Error('the projection is not square')
  const l2Axes = reduceL2.input?.[1] ? int64Values(constant(reduceL2.input[1], 'ReduceL2 axes')) : intsAttribute(reduceL2, 'axes')
  if (reduceL2.input?.[0] !== out(matMul) || l2Axes.join() !== '1' || intAttribute(reduceL2, 'keepdims', 1) !== 1) {
    throw new Error('ReduceL2 does not take the norm of each vector')
  }
  const epsilonName = max.input?.find((name) => name !== out(reduceL2))
  const epsilonTensor = constant(epsilonName, 'epsilon')
  if (max.input?.length !== 2 || !max.input.includes(out(reduceL2) ?? '') || floats(epsilonTensor).byteLength !== 4) {
    throw new Error('Max does not floor the norm')
  }
  if (div.input?.[0] !== out(matMul) || div.input?.[1] !== out(max)) throw new Error('Div does not divide the projection by its norm')
  const outputs = (graph.output ?? []).map((output) => output.name)
  if (outputs.length !== 1 || outputs[0] !== out(div) || (spec.outputName !== undefined && spec.outputName !== outputs[0])) {
    throw new Error(`graph output ${JSON.stringify(outputs)} is not the normalised vector the spec reads`)
  }

  const projectionView = floats(projectionTensor)
  const projection = new Float64Array(dimensions * dimensions)
  for (let i = 0; i < projection.length; i++) projection[i] = projectionView.getFloat32(i * 4, true)
  return { dimensions, vocabSize, table: floats(table), projection, epsilon: floats(epsilonTensor).getFloat32(0, true) }
}

/** A float32 tensor's values as a little-endian view (raw data in place; float_data copied). */
function floats(tensor: Tensor): DataView {
  if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`${tensor.name} is not float32`)
  const count = (tensor.dims ?? []).map(Number).reduce((a, b) => a * b, 1)
  const raw = tensor.rawData
  if (raw && raw.byteLength > 0) {
    if (raw.byteLength !== count * 4) throw new Error(`${tensor.name} holds ${raw.byteLength} bytes, not ${count * 4}`)
    return new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  }
  const values = tensor.floatData ?? []
  if (values.length !== count) throw new Error(`${tensor.name} has no inline data`)
  const view = new DataView(new ArrayBuffer(count * 4))
  for (let i = 0; i < count; i++) view.setFloat32(i * 4, values[i] as number, true)
  return view
}

function int64Values(tensor: Tensor): number[] {
  if (tensor.dataType !== onnx.TensorProto.DataType.INT64) throw new Error(`${tensor.name} is not int64`)
  const raw = tensor.rawData
  if (raw && raw.byteLength > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
    return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)))
  }
  return (tensor.int64Data ?? []).map(toNumber)
}

function intAttribute(node: Node, name: string, fallback: number): number {
  const attribute = node.attribute?.find((a) => a.name === name)
  return attribute ? toNumber(attribute.i) : fallback
}

function intsAttribute(node: Node, name: string): number[] {
  return (node.attribute?.find((a) => a.name === name)?.ints ?? []).map(toNumber)
}

/** protobufjs decodes int64 as a number or a Long, depending on what is installed. */
function toNumber(value: unknown): number {
  return Number(typeof value === 'object' && value !== null ? String(value) : value)
}
