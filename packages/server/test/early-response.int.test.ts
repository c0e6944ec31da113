import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defaultEmbedder, listen, openTestApp } from './helpers/server.js'

// Issue 17, item 9: a request the server answers before reading its body (oversized,
// unauthenticated) must still get its answer, and its connection must stay usable.

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

it('keeps reading a slow upload it already refused, then answers the next request on the same connection', async () => {
  await using t = await openTestApp(embedder)
  await using server = await listen(t.app)
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
  let received = ''
  let closedByServer = false
  // Settles once the second answer is in, or the server closed the connection.
  const done = new Promise<void>((resolve) => {
    socket.on('data', (data) => {
      received += data.toString()
      if (received.includes('{"status":"ok"}')) resolve()
    })
    socket.on('close', () => {
      closedByServer = true
      resolve()
    })
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  // No key: the answer is 401 at once, while the body keeps arriving in pieces for over a second.
  const piece = 'x'.repeat(32_768)
  socket.write(`POST /v1/memories HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${piece.length * 8}\r\n\r\n${piece}`)
  for (let i = 1; i < 8; i++) {
    await sleep(150)
    socket.write(piece)
  }
  socket.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n')
  await done
  socket.destroy()

  expect(closedByServer).toBe(false)
  expect(received.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 401', 'HTTP/1.1 200'])
  expect(received).toContain('"code":"UNAUTHORIZED"')
})

it('delivers every early 4xx to 600 concurrent keep-alive requests without a socket error', async () => {
  await using t = await openTestApp(embedder, { bodyLimitBytes: 16_384 })
  await using server = await listen(t.app)
  const oversized = JSON.stringify({ messages: 'x'.repeat(65_536), user_id: 'u' })
  const small = JSON.stringify({ messages: 'a fact', user_id: 'u' })
  const kinds = [
    { body: oversized, authorization: `Bearer ${t.keyA}`, status: 413 },
    { body: oversized, authorization: undefined, status: 401 },
    { body: small, authorization: 'Bearer wrong', status: 401 },
    { body: small, authorization: `Bearer ${t.keyA}`, status: 404, path: '/v1/no-such-route' },
  ]
  // 24 clients sending 25 requests each, one after the other, so answered connections are reused.
  const outcomes = await Promise.all(
    Array.from({ length: 24 }, async (_, client) => {
      const seen: string[] = []
      for (let i = 0; i < 25; i++) {
        const kind = kinds[(client + i) % kinds.length] as (typeof kinds)[number]
        try {
          const res = await fetch(`${server.url}${kind.path ?? '/v1/memories'}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(kind.authorization && { authorization: kind.authorization }) },
            body: kind.body,
          })
          const body = (await res.json()) as { error?: { code?: string } }
          seen.push(res.status === kind.status && typeof body.error?.code === 'string' ? 'ok' : `${res.status} instead of ${kind.status}`)
        } catch (error) {
          seen.push(String((error as Error).cause ?? error))
        }
      }
      return seen
    }),
  )
  expect(outcomes.flat().filter((o) => o !== 'ok')).toEqual([])
})

it('limits a chunked body (no Content-Length) by the bytes that arrive, and serves one under the limit', async () => {
  await using t = await openTestApp(embedder, { bodyLimitBytes: 16_384 })
  await using server = await listen(t.app)
  const chunked = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text)
        for (let i = 0; i < bytes.length; i += 4_096) controller.enqueue(bytes.subarray(i, i + 4_096))
        controller.close()
      },
    })
  const post = (text: string) =>
    fetch(`${server.url}/v1/memories/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json' },
      body: chunked(text),
      duplex: 'half',
    } as RequestInit)
  const small = await post(JSON.stringify({ query: 'anything', user_id: 'u' }))
  expect([small.status, await small.json()]).toEqual([200, { results: [] }])
  const big = await post(JSON.stringify({ query: 'x'.repeat(65_536), user_id: 'u' }))
  expect([big.status, ((await big.json()) as { error: { code: string } }).error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE'])
})
