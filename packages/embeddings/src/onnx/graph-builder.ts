import onnxProto from 'onnx-proto'

const { onnx } = onnxProto
const DataType = onnx.TensorProto.DataType

export type ElementType = 'float32' | 'int64'
type Dim = number | string
type AttributeValue = number | number[] | string | { float: number }

const elementTypes: Record<ElementType, number> = { float32: DataType.FLOAT, int64: DataType.INT64 }

/**
 * Writes small ONNX graphs from TypeScript. Used to build the offline default model and,
 * in tests and benchmarks, BERT-shaped models with seeded random weights.
 */
export class GraphBuilder {
  readonly #nodes: onnxProto.onnx.INodeProto[] = []
  readonly #initializers: onnxProto.onnx.ITensorProto[] = []
  readonly #inputs: onnxProto.onnx.IValueInfoProto[] = []
  readonly #outputs: onnxProto.onnx.IValueInfoProto[] = []
  #counter = 0

  input(name: string, type: ElementType, shape: Dim[]): string {
    this.#inputs.push(valueInfo(name, type, shape))
    return name
  }

  output(name: string, type: ElementType, shape: Dim[]): void {
    this.#outputs.push(valueInfo(name, type, shape))
  }

  /** A constant tensor, stored as raw little-endian bytes; plain numbers are float32. */
  constant(name: string, dims: number[], data: Float32Array | BigInt64Array | Int8Array | number[]): string {
    const values = Array.isArray(data) ? Float32Array.from(data) : data
    const dataType = values instanceof BigInt64Array ? DataType.INT64 : values instanceof Int8Array ? DataType.INT8 : DataType.FLOAT
    this.#initializers.push({ name, dims, dataType, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) })
    return name
  }

  ints(name: string, values: number[]): string {
    return this.constant(name, [values.length], BigInt64Array.from(values.map(BigInt)))
  }

  /** Adds one operator; returns the name of its (first) output. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    return this.opOutputs(opType, inputs, 1, attributes, output ? [output] : undefined)[0] as string
  }

  /** Adds one operator with `count` outputs (e.g. DynamicQuantizeLinear's value, scale and zero point); returns their names. */
  opOutputs(opType: string, inputs: string[], count: number, attributes: Record<string, AttributeValue> = {}, outputs?: string[]): string[] {
    const names = outputs ?? this.#names(opType, count)
    this.#nodes.push({
      opType,
      input: inputs,
      output: names,
      name: `${names[0]}_node`,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    })
    return names
  }

  #names(opType: string, count: number): string[] {
    const base = `${opType.toLowerCase()}_${this.#counter++}`
    return Array.from({ length: count }, (_, i) => (i === 0 ? base : `${base}_${i}`))
  }

  encode(graphName: string, opset = 17): Uint8Array {
    return onnx.ModelProto.encode({
      irVersion: 8,
      producerName: '@agentmem/embeddings',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: graphName,
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    }).finish()
  }
}

function valueInfo(name: string, type: ElementType, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elementTypes[type],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  }
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) }
  if (typeof value === 'object') return { name, type: AttributeType.FLOAT, f: value.float }
  return { name, type: AttributeType.INT, i: value }
}
