import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { createApp } from '../src/http/app.js'
import { KeyStore } from '../src/keys/key-store.js'
import { createLogger } from '../src/logger.js'
import { dataPaths } from '../src/serve.js'
import { logLines } from './helpers/log-lines.js'
import { defaultEmbedder, openTestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

/** The real model, each call made `ms` slower. */
function slowed(ms: number): Embedder {
  return Object.create(embedder, {
    embed: {
      value: async (texts: string[], options?: object) => {
        await new Promise((r) => setTimeout(r, ms))
        return embedder.embed(texts, options)
      },
    },
  })
}

it('answers 504 past the request timeout, logged as a warning without a stack, and the write in flight still lands whole', async () => {
  // The real model, made slow: the timeout must fire while the add is embedding.
  await using t = await openTestApp(slowed(400))
  const { sink, parsed } = logLines()
  const config = loadConfig({ env: {}, flags: { data: t.data, rateLimitPerMinute: 0, requestTimeoutMs: 100 } })
  const app = createApp({ memory: t.memory, keys: t.keys, config, logger: createLogger('info', sink) })
  const res = await app.request('/v1/memories/batch', {
    method: 'POST',
    headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      items: [
        { messages: 'first', user_id: 'u' },
        { messages: 'second', user_id: 'u' },
      ],
    }),
  })
  expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([504, 'REQUEST_TIMEOUT'])
  const logged = parsed().filter((l) => (l['level'] as number) >= 40)
  expect(logged).toEqual([expect.objectContaining({ level: 40, msg: 'http.timeout', code: 'REQUEST_TIMEOUT', timeoutMs: 100 })])
  expect(logged[0]).not.toHaveProperty('err')
  await new Promise((r) => setTimeout(r, 800))
  const listed = await t.memory.withTenant('a').getAll({ userId: 'u' })
  expect(listed.results.map((m) => m.memory)).toEqual(['first', 'second'])
})

it('logs a success that took 1 s or more at info, with its time', async () => {
  await using t = await openTestApp(slowed(1_100))
  const { sink, parsed } = logLines()
  const config = loadConfig({ env: {}, flags: { data: t.data, rateLimitPerMinute: 0 } })
  const app = createApp({ memory: t.memory, keys: t.keys, config, logger: createLogger('info', sink) })
  const headers = { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json', 'x-request-id': 'slow-1' }
  const res = await app.request('/v1/memories', { method: 'POST', headers, body: JSON.stringify({ messages: 'a slow one', user_id: 'u' }) })
  expect(res.status).toBe(200)
  const line = parsed().find((l) => l['msg'] === 'http.request' && l['requestId'] === 'slow-1')
  expect(line).toMatchObject({ level: 30, method: 'POST', route: '/v1/memories', status: 200 })
  expect(line?.['ms']).toBeGreaterThanOrEqual(1_000)
})

it('logs one JSON line per request with its id (successes at debug, 4xx and 5xx at info), never an API key, and 500s with their cause', async () => {
  await using t = await openTestApp(embedder)
  const { sink, lines, parsed: parseLines } = logLines()
  const config = loadConfig({ env: {}, flags: { data: t.data, rateLimitPerMinute: 0 } })
  const app = createApp({ memory: t.memory, keys: t.keys, config, logger: createLogger('debug', sink) })
  const headers = { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json', 'x-request-id': 'req-123' }
  await app.request('/v1/memories', { method: 'POST', headers, body: JSON.stringify({ messages: 'hello', user_id: 'u' }) })
  await app.request('/v1/memories?user_id=u', { headers: { authorization: 'Bearer am_not-a-real-key', 'x-request-id': 'req-401' } })
  // At info (the default), successes are not logged; refusals are.
  const atInfo = createApp({ memory: t.memory, keys: t.keys, config, logger: createLogger('info', sink) })
  await atInfo.request('/v1/memories?user_id=u', { headers: { ...headers, 'x-request-id': 'info-200' } })
  await atInfo.request('/v1/memories?user_id=u', { headers: { authorization: 'Bearer am_not-a-real-key', 'x-request-id': 'info-401' } })

  // An unexpected failure: the key store is closed under the app's feet.
  const closedKeys = await KeyStore.open(dataPaths(t.data).keys)
  closedKeys.close()
  const broken = createApp({ memory: t.memory, keys: closedKeys, config, logger: createLogger('info', sink) })
  const res = await broken.request('/v1/memories?user_id=u', { headers })
  expect(res.status).toBe(500)
  const body = (await res.json()) as { error: { code: string; message: string; request_id: string } }
  expect(body.error).toMatchObject({ code: 'INTERNAL', request_id: 'req-123' })
  expect(body.error.message).not.toMatch(/sqlite|libsql|closed/i)

  const parsed = parseLines()
  const requestLine = (id: string) => parsed.find((l) => l['msg'] === 'http.request' && l['requestId'] === id)
  // A success is logged at debug, unless it took 1 s or more (a loaded machine may make one that slow).
  const success = requestLine('req-123')
  expect(success).toMatchObject({ method: 'POST', route: '/v1/memories', status: 200 })
  expect(success?.['level']).toBe((success?.['ms'] as number) >= 1000 ? 30 : 20)
  expect(requestLine('req-401')).toMatchObject({ level: 30, method: 'GET', status: 401 })
  const successAtInfo = requestLine('info-200')
  expect(successAtInfo === undefined || (successAtInfo['ms'] as number) >= 1000).toBe(true)
  expect(requestLine('info-401')).toMatchObject({ level: 30, status: 401 })
  expect(parsed.find((l) => l['msg'] === 'http.error')).toMatchObject({ code: 'INTERNAL', requestId: 'req-123', err: { message: expect.any(String) } })
  const all = lines.join('\n')
  expect(all).not.toContain(t.keyA)
  expect(all).not.toContain('am_not-a-real-key')
})
