import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder, type Embedder } from '@agentmem/embeddings'
import { Memory, type MemoryOpenOptions } from '@agentmem/memory'
import pino from 'pino'
import { loadConfig, type ServerConfigInput } from '../../src/config.js'
import { createApp } from '../../src/http/app.js'
import { KeyStore } from '../../src/keys/key-store.js'
import { dataPaths, listen as listenOn } from '../../src/serve.js'
import { memoryOptions } from '../../src/store-options.js'

/** The real offline default model, one pool per test file. */
export function defaultEmbedder(): Promise<Embedder> {
  return createEmbedder({ workers: 1 })
}

/** A parsed response body; tests index into it freely and let assertions do the checking. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by expect(), not by types
export type Json = any

export interface TestApp {
  app: ReturnType<typeof createApp>
  memory: Memory
  keys: KeyStore
  data: string
  /** Keys of tenants `a` and `b`, and an admin key of tenant `a`. */
  keyA: string
  keyB: string
  adminKey: string
  /** `app.request` with JSON in and out; `key` becomes `Authorization: Bearer`. */
  call(
    method: string,
    path: string,
    options?: { key?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: Json; headers: Headers }>
  [Symbol.asyncDispose](): Promise<void>
}

/** A real app on a real store (LanceDB + SQLite in a temp folder) and real API keys; `open` adds Memory options (e.g. a reranker). */
export async function openTestApp(embedder: Embedder, flags: ServerConfigInput = {}, open: Partial<MemoryOpenOptions> = {}): Promise<TestApp> {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-server-'))
  const config = loadConfig({ env: {}, flags: { data, rateLimitPerMinute: 0, ...flags } })
  const keys = await KeyStore.open(dataPaths(data).keys)
  const memory = await Memory.open({ path: dataPaths(data).memory, embedder, ...memoryOptions(config), ...open })
  const app = createApp({ memory, keys, config, logger: pino({ level: 'silent' }) })
  const keyA = (await keys.create({ tenantId: 'a' })).key
  const keyB = (await keys.create({ tenantId: 'b' })).key
  const adminKey = (await keys.create({ tenantId: 'a', role: 'admin' })).key
  return {
    app,
    memory,
    keys,
    data,
    keyA,
    keyB,
    adminKey,
    async call(method, path, options = {}) {
      const key = options.key === undefined ? keyA : options.key
      const headers: Record<string, string> = { ...(key !== null && { authorization: `Bearer ${key}` }), ...options.headers }
      let body: string | undefined
      if (options.body !== undefined) {
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
        headers['content-type'] ??= 'application/json'
      }
      const res = await app.request(path, { method, headers, ...(body !== undefined && { body }) })
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers }
    },
    async [Symbol.asyncDispose]() {
      await memory.close()
      keys.close()
      await rm(data, { recursive: true, force: true })
    },
  }
}

/** Serves an app on 127.0.0.1 with a free port. */
export async function listen(app: TestApp['app']): Promise<{ url: string; [Symbol.asyncDispose](): Promise<void> }> {
  const server = await listenOn(app, { hostname: '127.0.0.1', port: 0 })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
