import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createReranker, type Embedder, type Reranker } from '@agentmem/embeddings'
import { tinyBertShape, writeRandomBertModel } from '@agentmem/embeddings/testing'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { MemoryClient } from 'mem0ai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { startServer } from '../src/serve.js'
import { defaultEmbedder, listen, openTestApp } from './helpers/server.js'

// A real cross-encoder with random weights: its scores mean nothing, but each is exactly what the
// reranker returns for its pair, so the routes' use of them can be checked.
let embedder: Embedder
let reranker: Reranker
let dir: string
let folder: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmem-rerank-'))
  folder = join(dir, 'cross-encoder')
  const tokenizerFrom = fileURLToPath(new URL('../../../../shared/models/all-MiniLM-L6-v2', import.meta.url))
  await writeRandomBertModel({ folder, tokenizerFrom, shape: tinyBertShape, maxLength: 128, head: 'sequence-classification' })
  ;[embedder, reranker] = await Promise.all([defaultEmbedder(), createReranker({ modelPath: folder, workers: 1, progress: false })])
})
afterAll(async () => {
  await Promise.all([embedder.close(), reranker.close()])
  await rm(dir, { recursive: true, force: true })
})

const facts = Array.from({ length: 30 }, (_, i) => `Note ${i}: alice ${['likes', 'avoids', 'cooks'][i % 3]} ${['peanuts', 'tea', 'rice', 'fish'][i % 4]}`)
const query = 'what does alice avoid eating'

describe('rerank over HTTP', () => {
  it('native and Mem0 routes and the mem0ai client reorder by the reranker and report rerank_score', async () => {
    await using t = await openTestApp(embedder, {}, { reranker })
    await t.call('POST', '/v1/memories/batch', { body: { items: facts.map((text) => ({ messages: text, user_id: 'alice' })) } })

    const native = await t.call('POST', '/v1/memories/search', { body: { query, user_id: 'alice', top_k: 5, rerank: { top_n: 30 } } })
    expect(native.status).toBe(200)
    const expected = await reranker.score(query, facts)
    const best = facts.map((text, i) => ({ text, s: expected[i] as number })).sort((a, b) => b.s - a.s)
    expect(native.body.results.map((r: { memory: string }) => r.memory)).toEqual(best.slice(0, 5).map((b) => b.text))
    native.body.results.forEach((r: { rerank_score: number; score: number }, i: number) => {
      expect(r.rerank_score).toBeCloseTo(best[i]?.s as number, 5)
      expect(r.score).toEqual(expect.any(Number))
    })
    const plain = await t.call('POST', '/v1/memories/search', { body: { query, user_id: 'alice', top_k: 5 } })
    expect(plain.body.results[0].rerank_score).toBeUndefined()

    const mem0 = await t.call('POST', '/v3/memories/search/', {
      headers: { authorization: `Token ${t.keyA}` },
      key: null,
      body: { query, filters: { user_id: 'alice' }, top_k: 3, rerank: true },
    })
    expect(mem0.status).toBe(200)
    const scores: number[] = mem0.body.results.map((r: { rerank_score: number }) => r.rerank_score)
    expect(scores).toHaveLength(3)
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)

    await using server = await listen(t.app)
    const client = new MemoryClient({ apiKey: t.keyA, host: server.url })
    const found = await client.search(query, { filters: { user_id: 'alice' }, topK: 3, rerank: true })
    expect(found.results.map((r) => r.memory)).toEqual(mem0.body.results.map((r: { memory: string }) => r.memory))
    // The client camel-cases fields: rerank_score reaches its caller as rerankScore, Mem0's own TypeScript name.
    expect((found.results[0] as unknown as { rerankScore: number }).rerankScore).toBeCloseTo(scores[0] as number, 5)

    const agent = new Client({ name: 'agentmem-test', version: '1.0.0' })
    await agent.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${t.keyA}` } } }))
    try {
      const result = await agent.callTool({ name: 'search_memories', arguments: { query, user_id: 'alice', top_k: 3, rerank: true } })
      const body = JSON.parse((result.content as { text: string }[])[0]?.text as string)
      expect(body.results.map((r: { memory: string }) => r.memory)).toEqual(found.results.map((r) => r.memory))
    } finally {
      await agent.close()
    }
  })

  it('answers typed errors: 501 for another model, 400 for a bad top_n', async () => {
    await using t = await openTestApp(embedder, {}, { reranker })
    const other = await t.call('POST', '/v1/memories/search', { body: { query, user_id: 'alice', rerank: { model: 'bge-reranker-base' } } })
    expect([other.status, other.body.error.code]).toEqual([501, 'MEMORY_RERANKER_NOT_CONFIGURED'])
    expect(other.body.error.message).toMatch(/--reranker/)
    // The client learns which model to name instead.
    expect(other.body.error.details).toEqual({ model: 'bge-reranker-base', configured: reranker.modelId })
    const bad = await t.call('POST', '/v1/memories/search', { body: { query, user_id: 'alice', rerank: { top_n: 201 } } })
    expect([bad.status, bad.body.error.code]).toEqual([400, 'REQUEST_VALIDATION_FAILED'])
    const metrics = await t.call('GET', '/metrics', { key: t.adminKey })
    expect(metrics.body).toMatch(/^agentmem_rerank_queue_depth 0$/m)
    expect(metrics.body).toMatch(/^agentmem_rerank_busy_workers 0$/m)
  })

  it('agentmem serve --reranker-path loads the cross-encoder and serves rerank', async () => {
    const data = join(dir, 'served')
    const running = await startServer(loadConfig({ env: {}, flags: { data, port: 0, rerankerPath: folder, logLevel: 'silent', embeddingWorkers: 1 } }))
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${running.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (res) => ({
          status: res.status,
          body: (await res.json()) as { results: { rerank_score?: number }[] },
        }))
      await post('/v1/memories', { messages: 'I am allergic to peanuts', user_id: 'alice' })
      const res = await post('/v1/memories/search', { query, user_id: 'alice', rerank: true })
      expect(res.status).toBe(200)
      expect(res.body.results[0]?.rerank_score).toBeCloseTo((await reranker.score(query, ['I am allergic to peanuts']))[0] as number, 5)
    } finally {
      await running.close()
    }
  })
})
