import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { compileKernel, kernelModuleSource } from '../../scripts/build-kernel.js'
import { seededRandom } from '../testing/index.js'
import { dotKernelKind, dotProducts, dotsInJs } from './dot-kernel.js'

describe('dotProducts (the WASM SIMD kernel)', () => {
  it('is built from dot-kernel.wat as committed', async () => {
    const committed = await readFile(new URL('./dot-kernel.wasm.ts', import.meta.url), 'utf8')
    expect(committed).toBe(kernelModuleSource(await compileKernel()))
  })

  it('computes what the plain loop does, for any row count and dimensions, across calls that grow its memory', () => {
    expect(dotKernelKind()).toBe('wasm-simd')
    const random = seededRandom(7)
    // Dimensions off the kernel's groups of four, empty and single rows, and a matrix of 2.4 MB.
    for (const [rows, dimensions] of [
      [0, 3],
      [1, 1],
      [7, 3],
      [5, 5],
      [33, 4],
      [1000, 100],
      [1600, 384],
      [10, 384],
    ] as const) {
      const matrix = Float32Array.from({ length: rows * dimensions }, () => random() * 2 - 1)
      const query = Float32Array.from({ length: dimensions }, () => random() * 2 - 1)
      const expected = dotsInJs(matrix, rows, dimensions, query)
      const actual = dotProducts(matrix, rows, dimensions, query)
      expect(actual).toHaveLength(rows)
      // Same float64 products; only the order of the sums differs.
      for (let row = 0; row < rows; row++) expect(Math.abs((actual[row] as number) - (expected[row] as number))).toBeLessThan(1e-12)
    }
  })

  it('reads only the rows asked for from a matrix with spare capacity', () => {
    const matrix = new Float32Array(4 * 3).fill(Number.NaN)
    matrix.set([1, 2, 3, 4, 5, 6])
    expect([...dotProducts(matrix, 2, 3, Float32Array.of(1, 0, -1))]).toEqual([-2, -2])
  })
})
