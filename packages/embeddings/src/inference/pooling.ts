/** Pure pooling maths over a row-major `[batch, seqLen, hidden]` tensor. */

export type Pooling = 'mean' | 'cls' | 'none'

export interface PoolInput {
  hidden: Float32Array
  batch: number
  seqLen: number
  dims: number
  /** `[batch, seqLen]` 0/1 mask; padding positions are 0. */
  attentionMask: BigInt64Array
}

/** Returns one `[batch, dims]` buffer: the mask-weighted mean or the first token per row. */
export function pool(input: PoolInput, pooling: 'mean' | 'cls'): Float32Array {
  const { hidden, batch, seqLen, dims, attentionMask } = input
  const out = new Float32Array(batch * dims)
  for (let b = 0; b < batch; b++) {
    const row = out.subarray(b * dims, (b + 1) * dims)
    if (pooling === 'cls') {
      row.set(hidden.subarray(b * seqLen * dims, b * seqLen * dims + dims))
      continue
    }
    let count = 0
    for (let t = 0; t < seqLen; t++) {
      if (attentionMask[b * seqLen + t] === 0n) continue
      count++
      const offset = (b * seqLen + t) * dims
      for (let d = 0; d < dims; d++) row[d] = (row[d] as number) + (hidden[offset + d] as number)
    }
    if (count > 0) for (let d = 0; d < dims; d++) row[d] = (row[d] as number) / count
  }
  return out
}

/** L2-normalises each `dims`-long row in place; an all-zero row stays zero. */
export function normalizeRows(data: Float32Array, dims: number): Float32Array {
  for (let offset = 0; offset < data.length; offset += dims) {
    let sum = 0
    for (let d = 0; d < dims; d++) sum += (data[offset + d] as number) ** 2
    const scale = 1 / Math.max(Math.sqrt(sum), 1e-12)
    for (let d = 0; d < dims; d++) data[offset + d] = (data[offset + d] as number) * scale
  }
  return data
}
