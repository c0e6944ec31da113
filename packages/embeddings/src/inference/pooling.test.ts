import { describe, expect, it } from 'vitest'
import { normalizeRows, pool } from './pooling.js'

describe('pool', () => {
  // batch 2, seq 3, dims 2; the second row has one padding position.
  const hidden = Float32Array.from([1, 2, 3, 4, 5, 6, /* row 2 */ 10, 20, 30, 40, 99, 99])
  const attentionMask = BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n])
  const input = { hidden, batch: 2, seqLen: 3, dims: 2, attentionMask }

  it('averages only attended tokens', () => {
    expect(Array.from(pool(input, 'mean'))).toEqual([3, 4, 20, 30])
  })

  it('takes the first token for cls', () => {
    expect(Array.from(pool(input, 'cls'))).toEqual([1, 2, 10, 20])
  })
})

describe('normalizeRows', () => {
  it('scales each row to unit length and leaves a zero row at zero', () => {
    const rows = normalizeRows(Float32Array.from([3, 4, 0, 0]), 2)
    expect(Array.from(rows)).toEqual(Array.from(Float32Array.from([0.6, 0.8, 0, 0])))
  })
})
