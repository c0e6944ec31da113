import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { dataPaths } from '../src/data-paths.js'
import { createApp } from '../src/http/app.js'
import { KeyStore } from '../src/keys/key-store.js'
import { memoryOptions } from '../src/store-options.js'
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

    // The same over MCP: the tool error names the request id its log line has (before, the message pointed at an id the client never saw).
    const mcp = async (name: string, args: Record<string, unknown>) => {
      const response = await app.request('/mcp', {
        method: 'POST',
        headers: { ...headers, accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
      })
      const { result } = (await response.json()) as { result: { isError: boolean; content: Array<{ text: string }> } }
      return { isError: result.isError, error: (JSON.parse(result.content[0]?.text ?? '{}') as { error: Record<string, unknown> }).error }
    }
    const fault = await mcp('list_memories', { user_id: 'u' })
    expect(fault).toEqual({
      isError: true,
      error: { code: 'MEMORY_STORAGE_FAILED', message: 'Internal error; the request id identifies it in the server log', request_id: expect.any(String) },
    })
    expect(parsed().find((line) => line['msg'] === 'mcp.tool_failed')).toMatchObject({ requestId: fault.error['request_id'], code: 'MEMORY_STORAGE_FAILED' })
    // A feature this server lacks is the client's to know, not a fault: a warning, no stack, no request id.
    const lacking = await mcp('search_memories', { query: 'x', user_id: 'u', rerank: true })
    expect([lacking.isError, lacking.error['code'], lacking.error['request_id']]).toEqual([true, 'MEMORY_RERANKER_NOT_CONFIGURED', undefined])
    expect(parsed().find((line) => line['msg'] === 'mcp.not_implemented')).toMatchObject({ level: 40, code: 'MEMORY_RERANKER_NOT_CONFIGURED' })
    expect(parsed().filter((line) => line['msg'] === 'mcp.tool_failed')).toHaveLength(1)
  } finally {
    await memory.close()
    keys.close()
    await rm(data, { recursive: true, force: true })
  }
})
