/**
 * The two contenders of the `mem0` suite behind one interface, both with `infer: false` and the
 * same embedder instance: AgentMem's `Memory` and Mem0's `mem0ai/oss` `Memory` (its default
 * SQLite vector store and SQLite history; the embedder reaches it as a LangChain-style object).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'

export interface FillItem {
  text: string
  userId: string
  metadata?: Record<string, string>
}

export interface ContenderStore {
  add(text: string, userId: string): Promise<void>
  /** An add with inference (needs `llmBaseUrl` at open); resolves with the number of memories it reported. */
  addInfer(messages: Array<{ role: 'user' | 'assistant'; content: string }>, userId: string): Promise<number>
  /** Fills with many texts and returns their memory ids in order; contenders without a batch API add them concurrently. */
  fill(items: FillItem[]): Promise<string[]>
  /** The ids of the top `k` memories. `mode` picks AgentMem's search (hybrid by default); Mem0 has one. */
  search(query: string, userId: string, k: number, mode?: SearchMode): Promise<string[]>
  list(userId: string): Promise<Array<{ id: string }>>
  update(id: string, text: string): Promise<void>
  delete(id: string): Promise<void>
  close(): Promise<void>
}

export type ContenderName = 'agentmem' | 'mem0'
export type SearchMode = 'vector' | 'keyword' | 'hybrid'

/** `llmBaseUrl`: an OpenAI-compatible endpoint both contenders use for inference (the bench's scripted one). */
export async function openContender(name: ContenderName, folder: string, embedder: Embedder, options: { llmBaseUrl?: string } = {}): Promise<ContenderStore> {
  return name === 'agentmem' ? openAgentMem(folder, embedder, options.llmBaseUrl) : openMem0(folder, embedder, options.llmBaseUrl)
}

async function openAgentMem(folder: string, embedder: Embedder, llmBaseUrl: string | undefined): Promise<ContenderStore> {
  const memory = await Memory.open({ path: folder, embedder, ...(llmBaseUrl && { llm: { baseUrl: llmBaseUrl, model: 'scripted', maxRetries: 0 } }) })
  return {
    add: async (text, userId) => {
      await memory.add(text, { userId })
    },
    addInfer: async (messages, userId) => (await memory.add(messages, { userId, infer: true })).results.length,
    fill: async (items) => {
      const ids: string[] = []
      for (let i = 0; i < items.length; i += 1000) {
        const { results } = await memory.addBatch(items.slice(i, i + 1000).map((it) => ({ messages: it.text, userId: it.userId, metadata: it.metadata })))
        ids.push(...results.map((r) => r.id))
      }
      return ids
    },
    search: async (query, userId, k, mode = 'hybrid') => (await memory.search(query, { userId, topK: k, mode })).results.map((r) => r.id),
    list: async (userId) => (await memory.getAll({ userId, limit: 100 })).results,
    update: async (id, text) => {
      await memory.update(id, { text })
    },
    delete: (id) => memory.delete(id),
    close: () => memory.close(),
  }
}

/** mem0ai/oss loads better-sqlite3, which the workspace installs unbuilt (its build needs node-gyp); built here once. */
export function ensureBetterSqlite3(log: (line: string) => void): void {
  const fromMem0 = createRequire(createRequire(import.meta.url).resolve('mem0ai'))
  const folder = dirname(fromMem0.resolve('better-sqlite3/package.json'))
  if (existsSync(join(folder, 'build', 'Release', 'better_sqlite3.node'))) return
  log('building better-sqlite3 for mem0ai/oss (node-gyp, about a minute, once)')
  execFileSync('npx', ['-y', 'node-gyp@11', 'rebuild', '--release'], {
    cwd: folder,
    stdio: 'ignore',
    // Node's own headers, so node-gyp does not try to download them.
    env: { ...process.env, npm_config_nodedir: dirname(dirname(process.execPath)) },
  })
}

async function openMem0(folder: string, embedder: Embedder, llmBaseUrl: string | undefined): Promise<ContenderStore> {
  process.env['MEM0_TELEMETRY'] = 'false'
  process.env['MEM0_DIR'] = join(folder, 'mem0-home')
  const { Memory: Mem0Memory } = await import('mem0ai/oss')
  const langchainEmbedder = {
    embedQuery: async (text: string) => Array.from((await embedder.embed([text], { kind: 'query' }))[0] as Float32Array),
    embedDocuments: async (texts: string[]) => (await embedder.embed(texts)).map((v) => Array.from(v)),
  }
  const memory = new Mem0Memory({
    embedder: { provider: 'langchain', config: { model: langchainEmbedder } },
    vectorStore: { provider: 'memory', config: { collectionName: 'bench', dimension: embedder.dimensions, dbPath: join(folder, 'vectors.db') } },
    // Called only with infer (Mem0 requires an LLM in its config either way).
    llm: { provider: 'openai', config: { apiKey: 'unused', model: 'scripted', ...(llmBaseUrl && { baseURL: llmBaseUrl }), timeout: 60_000 } },
    historyDbPath: join(folder, 'history.db'),
  } as never)
  const add = async (text: string, userId: string, metadata?: Record<string, string>) => {
    const { results } = (await memory.add(text, { userId, infer: false, ...(metadata && { metadata }) })) as { results: Array<{ id: string }> }
    return results[0]?.id as string
  }
  return {
    add: async (text, userId) => {
      await add(text, userId)
    },
    addInfer: async (messages, userId) => {
      const added = (await memory.add(messages, { userId, infer: true })) as { results?: unknown[] } | unknown[]
      return Array.isArray(added) ? added.length : (added.results?.length ?? 0)
    },
    fill: async (items) => {
      const ids: string[] = []
      let next = 0
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < items.length) {
            const at = next++
            const item = items[at] as FillItem
            ids[at] = await add(item.text, item.userId, item.metadata)
          }
        }),
      )
      return ids
    },
    // threshold 0: rank every candidate, as AgentMem does (Mem0's default 0.1 would cut some).
    search: async (query, userId, k) =>
      ((await memory.search(query, { filters: { user_id: userId }, topK: k, threshold: 0 })) as { results: Array<{ id: string }> }).results.map((r) => r.id),
    list: async (userId) => ((await memory.getAll({ filters: { user_id: userId }, topK: 100 })) as { results: Array<{ id: string }> }).results,
    update: async (id, text) => {
      await memory.update(id, { text })
    },
    delete: async (id) => {
      await memory.delete(id)
    },
    close: async () => {},
  }
}
