import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { createApp } from '../src/http/app.js'
import { KeyStore } from '../src/keys/key-store.js'
import { dataPaths, memoryOptions } from '../src/serve.js'
import { logLines } from './helpers/log-lines.js'
import { defaultEmbedder } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

// Issue 17, item 1: a 500 body never carries a library's message (paths, internals); the log has it.
it('answers a storage failure with the code, a generic message and the request id, and logs the cause under that id', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-server-'))
  const { sink, parsed } = logLines()
  const config = loadConfig({ env: {}, flags: { data, rateLimitPerMinute: 0 } })
  const keys = await KeyStore.open(dataPaths(data).keys)
  const memory = await Memory.open({ path: dataPaths(data).memory, embedder, ...memoryOptions(config) })
  try {
    const app = createApp({ memory, keys, config, logger: pino({ level: 'info' }, sink) })
    const headers = { authorization: `Bearer ${(await keys.create({ tenantId: 'a' })).key}`, 'content-type': 'application/json' }
    const added = await app.request('/v1/memories', { method: 'POST', headers, body: JSON.stringify({ messages: 'a fact', user_id: 'u' }) })
    expect(added.status).toBe(200)
    // A read waits for the acknowledged add's LanceDB write, which would otherwise race the rm below.
    expect((await app.request('/v1/memories?user_id=u', { headers })).status).toBe(200)
    // The vector tables vanish under the running store: LanceDB's error names the files it missed.
    await rm(join(dataPaths(data).memory, 'vectors'), { recursive: true, force: true })

    const res = await app.request('/v1/memories?user_id=u', { headers })
    const body = (await res.json()) as { error: { code: string; message: string; request_id: string } }
    expect(res.status).toBe(500)
    expect(body).toEqual({
      error: { code: 'MEMORY_STORAGE_FAILED', message: 'Internal error; the request id identifies it in the server log', request_id: expect.any(String) },
    })
    const logged = parsed().find((line) => line['msg'] === 'http.error')
    expect(logged).toMatchObject({ requestId: body.error.request_id, code: 'MEMORY_STORAGE_FAILED' })
    expect(JSON.stringify(logged)).toContain(data)
  } finally {
    await memory.close()
    keys.close()
    await rm(data, { recursive: true, force: true })
  }
})
