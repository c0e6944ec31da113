import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder, type Embedder } from '@agentmem/embeddings'
import { Memory, type MemoryOpenOptions } from '../../src/index.js'

export { seededRandom } from '../../src/testing/index.js'

export async function tempDir(prefix: string): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `agentmem-${prefix}-`))
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) }
}

/** The real offline default model, one pool per test file. */
export function defaultEmbedder(): Promise<Embedder> {
  return createEmbedder({ workers: 1 })
}

/** A Memory in a fresh temporary folder; disposing it closes the store and deletes the folder. */
export async function openTemp(embedder: Embedder, options: Partial<MemoryOpenOptions> = {}) {
  const dir = await tempDir('memory')
  const memory = await Memory.open({ path: dir.path, embedder, ...options })
  return {
    memory,
    path: dir.path,
    async [Symbol.asyncDispose]() {
      await memory.close()
      await dir[Symbol.asyncDispose]()
    },
  }
}
