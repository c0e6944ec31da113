import { dotKernelWasm } from './dot-kernel.wasm.js'

/**
 * Dot products of a query with every row of a row-major float32 matrix, as float64. The resident
 * index's vector scan: a scope of 1,000 memories of 100 dimensions took ~150-200 µs in a JS loop
 * on this machine, ~26 µs in the WASM SIMD kernel (dot-kernel.wat) and ~50 µs with the copy into
 * its memory (a probe, 10 such scopes, this machine). The result is a view into the kernel's
 * memory, valid until the next call. That memory grows to the largest scope scanned and stays
 * (resident.maxScopeRows bounds it: 10,000 rows of 384 dimensions are 15 MB). Where WebAssembly
 * cannot run (`--jitless`), a JS loop that computes the same.
 */
export function dotProducts(matrix: Float32Array, rows: number, dimensions: number, query: Float32Array): Float64Array {
  kernel ??= loadKernel()
  return kernel ? kernel.dots(matrix, rows, dimensions, query) : dotsInJs(matrix, rows, dimensions, query)
}

/** Which computes dotProducts here: the WASM SIMD kernel, or the JS loop where WebAssembly cannot run. */
export function dotKernelKind(): 'wasm-simd' | 'js' {
  kernel ??= loadKernel()
  return kernel ? 'wasm-simd' : 'js'
}

/** The reference: what the kernel computes, in a plain loop (float64 sums). */
export function dotsInJs(matrix: Float32Array, rows: number, dimensions: number, query: Float32Array): Float64Array {
  const out = new Float64Array(rows)
  for (let row = 0; row < rows; row++) {
    let sum = 0
    const offset = row * dimensions
    for (let i = 0; i < dimensions; i++) sum += (matrix[offset + i] as number) * (query[i] as number)
    out[row] = sum
  }
  return out
}

interface Kernel {
  dots(matrix: Float32Array, rows: number, dimensions: number, query: Float32Array): Float64Array
}

let kernel: Kernel | null | undefined

const pageBytes = 65_536

/** The part of the WebAssembly API used here (@types/node 20 declares none of it). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer; grow(pages: number): number }
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> }
}

function loadKernel(): Kernel | null {
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly
  if (!wasm) return null
  let memory: InstanceType<WasmApi['Memory']>
  let dots: (query: number, matrix: number, rows: number, dimensions: number, out: number) => void
  try {
    memory = new wasm.Memory({ initial: 16 })
    const instance = new wasm.Instance(new wasm.Module(Buffer.from(dotKernelWasm, 'base64')), { env: { memory } })
    dots = instance.exports['dots'] as typeof dots
  } catch {
    return null
  }
  let floats = new Float32Array(memory.buffer)
  let doubles = new Float64Array(memory.buffer)
  return {
    dots(matrix, rows, dimensions, query) {
      // Layout (byte offsets, 8-aligned): query as float64, then the results, then the matrix.
      const outAt = dimensions * 8
      const matrixAt = outAt + rows * 8
      const needed = matrixAt + rows * dimensions * 4
      if (needed > memory.buffer.byteLength) {
        memory.grow(Math.ceil((needed - memory.buffer.byteLength) / pageBytes))
        floats = new Float32Array(memory.buffer)
        doubles = new Float64Array(memory.buffer)
      }
      doubles.set(query.subarray(0, dimensions), 0)
      floats.set(matrix.subarray(0, rows * dimensions), matrixAt / 4)
      dots(0, matrixAt, rows, dimensions, outAt)
      return doubles.subarray(outAt / 8, outAt / 8 + rows)
    },
  }
}
