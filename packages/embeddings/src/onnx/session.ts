import * as ort from 'onnxruntime-node'

/** The only place that talks to ONNX Runtime, so its quirks stay in one file. */
export type OrtSession = ort.InferenceSession

export interface SessionOptions {
  /** Threads ORT may use inside one run; workers x threads should equal the cores. */
  intraOpThreads: number
}

export async function createSession(modelFile: string, options: SessionOptions): Promise<OrtSession> {
  return ort.InferenceSession.create(modelFile, {
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // 3 = errors only: ORT's warnings (e.g. about unused initializers) are noise for users.
    logSeverityLevel: 3,
  })
}

export function int64Tensor(data: BigInt64Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', data, dims)
}

export interface FloatOutput {
  data: Float32Array
  dims: readonly number[]
}

export async function runSession(session: OrtSession, feeds: Record<string, ort.Tensor>, outputName: string): Promise<FloatOutput> {
  const result = await session.run(feeds, [outputName])
  const output = result[outputName]
  if (output?.type !== 'float32') throw new Error(`model output ${outputName} is not a float32 tensor`)
  return { data: output.data as Float32Array, dims: output.dims }
}
