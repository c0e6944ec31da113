import type { Embedder } from '@agentmem/embeddings'
import { decisionsReply as decisions, factsReply as facts, type ScriptedLlm, startScriptedLlm } from '@agentmem/memory/testing'
import { MemoryClient } from 'mem0ai'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { defaultEmbedder, listen, openTestApp } from './helpers/server.js'

/** `infer` over HTTP, with a real local server speaking the OpenAI protocol as the LLM. */
let embedder: Embedder
let llm: ScriptedLlm
beforeAll(async () => {
  embedder = await defaultEmbedder()
  llm = await startScriptedLlm()
})
afterAll(async () => {
  await llm.close()
  await embedder.close()
})
afterEach(() => llm.reset())

const llmFlags = () => ({ llmBaseUrl: llm.baseUrl, llmModel: 'scripted', llmApiKey: 'sk-test-secret', llmMaxRetries: 0 })

describe('native API', () => {
  it('infers, supersedes a contradiction, and shows the job; another tenant sees none of it', async () => {
    await using t = await openTestApp(embedder, llmFlags())
    llm.enqueue(facts('Loves cilantro'))
    const first = await t.call('POST', '/v1/memories', { body: { messages: 'I love cilantro', user_id: 'u1', infer: true } })
    expect(first.status).toBe(200)
    expect(first.body.job).toMatchObject({ status: 'done', attempts: 1, facts: 1 })
    expect(llm.calls[0]?.authorization).toBe('Bearer sk-test-secret')

    llm.enqueue(facts('Hates cilantro'), decisions({ fact: 0, event: 'DELETE', memory: 0 }))
    const second = await t.call('POST', '/v1/memories', { body: { messages: [{ role: 'user', content: 'Now I hate cilantro' }], user_id: 'u1', infer: true } })
    expect(second.body.results.map((r: { event: string }) => r.event).sort()).toEqual(['ADD', 'SUPERSEDE'])

    const current = await t.call('POST', '/v1/memories/search', { body: { query: 'cilantro', user_id: 'u1' } })
    expect(current.body.results.map((r: { memory: string }) => r.memory)).toEqual(['Hates cilantro'])
    const all = await t.call('POST', '/v1/memories/search', { body: { query: 'cilantro', user_id: 'u1', include_superseded: true } })
    const old = all.body.results.find((r: { memory: string }) => r.memory === 'Loves cilantro')
    expect(old.valid_to).toEqual(expect.any(String))
    expect((await t.call('GET', '/v1/memories?user_id=u1&include_superseded=true')).body.results).toHaveLength(2)
    expect((await t.call('GET', `/v1/memories/${old.id}/history`)).body.results.map((h: { event: string }) => h.event)).toEqual(['ADD', 'SUPERSEDE'])

    const metrics = await t.call('GET', '/metrics', { key: t.adminKey })
    expect(metrics.body).toMatch(/agentmem_llm_calls_total 3/)
    expect(metrics.body).toMatch(/agentmem_llm_prompt_tokens_total [1-9]\d*/)

    const job = await t.call('GET', `/v1/jobs/${second.body.job.id}`)
    expect(job.body).toMatchObject({ id: second.body.job.id, status: 'done', facts: 1 })
    expect((await t.call('GET', `/v1/jobs/${second.body.job.id}`, { key: t.keyB })).status).toBe(404)
  })

  it('an LLM outage is a 200 with the input stored raw and a pending job, never a 5xx; async answers at once', async () => {
    await using t = await openTestApp(embedder, llmFlags())
    const down = await t.call('POST', '/v1/memories', { body: { messages: 'My flight is on Friday', user_id: 'u1', infer: true } })
    expect(down.status).toBe(200)
    expect(down.body.job).toMatchObject({ status: 'pending', error: { code: 'MEMORY_INFERENCE_FAILED' } })
    expect(down.body.results).toEqual([{ id: expect.any(String), memory: 'My flight is on Friday', event: 'ADD' }])

    llm.enqueue({ delayMs: 200, reply: facts('Drinks tea') })
    const queued = await t.call('POST', '/v1/memories', { body: { messages: 'I drink tea', user_id: 'u2', infer: true, async: true } })
    expect(queued.body).toEqual({ results: [], job: expect.objectContaining({ status: 'queued' }) })
    for (let i = 0; i < 100; i++) {
      if ((await t.call('GET', `/v1/jobs/${queued.body.job.id}`)).body.status === 'done') break
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    expect((await t.call('GET', `/v1/jobs/${queued.body.job.id}`)).body.results).toEqual([{ id: expect.any(String), memory: 'Drinks tea', event: 'ADD' }])
  })

  it("lists the tenant's jobs newest first, by status, a page at a time; another tenant sees only its own", async () => {
    await using t = await openTestApp(embedder, llmFlags())
    const add = async (messages: string, key = t.keyA) =>
      (await t.call('POST', '/v1/memories', { body: { messages, user_id: 'u1', infer: true }, key })).body.job
    llm.enqueue(facts('Drinks coffee'))
    const done = await add('I drink coffee')
    // Nothing queued: the LLM answers 500, the job is pending.
    const pending = await add('My flight is on Friday')
    llm.enqueue(facts('Is called Bob'))
    const theirs = await add('I am Bob', t.keyB)
    const ids = (res: { body: { results: Array<{ id: string }> } }) => res.body.results.map((j) => j.id)

    const all = await t.call('GET', '/v1/jobs')
    expect(all.status).toBe(200)
    expect(ids(all)).toEqual([pending.id, done.id])
    expect(all.body.next_cursor).toBeNull()
    expect(all.body.results[1]).toEqual((await t.call('GET', `/v1/jobs/${done.id}`)).body)
    const first = await t.call('GET', '/v1/jobs?limit=1')
    expect(ids(first)).toEqual([pending.id])
    const second = await t.call('GET', `/v1/jobs?limit=1&cursor=${first.body.next_cursor}`)
    expect([ids(second), second.body.next_cursor]).toEqual([[done.id], null])
    expect(ids(await t.call('GET', '/v1/jobs?status=done'))).toEqual([done.id])
    expect(ids(await t.call('GET', '/v1/jobs?status=pending'))).toEqual([pending.id])

    expect(ids(await t.call('GET', '/v1/jobs', { key: t.keyB }))).toEqual([theirs.id])
    const borrowed = await t.call('GET', `/v1/jobs?limit=1&cursor=${first.body.next_cursor}`, { key: t.keyB })
    expect(borrowed).toMatchObject({ status: 400, body: { error: { code: 'MEMORY_INVALID_CURSOR' } } })
    expect(await t.call('GET', '/v1/jobs?status=lost')).toMatchObject({ status: 400, body: { error: { code: 'REQUEST_VALIDATION_FAILED' } } })
  })

  it('validates the inference options', async () => {
    await using t = await openTestApp(embedder, llmFlags())
    const procedural = await t.call('POST', '/v1/memories', { body: { messages: 'run log', user_id: 'u1', infer: true, memory_type: 'procedural' } })
    expect(procedural).toMatchObject({ status: 400, body: { error: { code: 'MEMORY_INVALID_INPUT' } } })
    const batch = await t.call('POST', '/v1/memories/batch', { body: { items: [{ messages: 'x', user_id: 'u1', infer: true }] } })
    expect(batch).toMatchObject({ status: 400, body: { error: { code: 'REQUEST_VALIDATION_FAILED' } } })
    expect((await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: 'u1', infer: true, timestamp: 'yesterday' } })).status).toBe(400)
    const asyncWithoutInfer = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: 'u1', async: true } })
    expect(asyncWithoutInfer).toMatchObject({ status: 400, body: { error: { code: 'MEMORY_INVALID_INPUT' } } })
    // The Mem0 route too: a timestamp without inference is refused, not dropped (the memory dated now).
    const mem0Dated = await t.call('POST', '/v3/memories/add/', { body: { messages: 'x', user_id: 'u1', infer: false, timestamp: 1_700_000_000 } })
    expect(mem0Dated).toMatchObject({ status: 400, body: { error: { code: 'REQUEST_VALIDATION_FAILED', message: expect.stringContaining('infer: false') } } })
    expect((await t.call('GET', '/v1/memories?user_id=u1')).body.results).toEqual([])
    expect(llm.calls).toHaveLength(0)
  })

  it('without an LLM, infer: true is 501 and nothing is stored', async () => {
    await using t = await openTestApp(embedder)
    const res = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: 'u1', infer: true } })
    expect(res).toMatchObject({ status: 501, body: { error: { code: 'MEMORY_INFERENCE_NOT_CONFIGURED' } } })
    // A Mem0 client's timestamp, with infer left to the server's default (none without an LLM), says why it is refused.
    const dated = await t.call('POST', '/v3/memories/add/', { body: { messages: 'x', user_id: 'u1', timestamp: 1_700_000_000 } })
    expect(dated).toMatchObject({
      status: 400,
      body: { error: { code: 'REQUEST_VALIDATION_FAILED', message: expect.stringContaining('does not infer unless asked') } },
    })
    expect((await t.call('GET', '/v1/memories?user_id=u1')).body.results).toEqual([])
  })
})

describe('Mem0 MemoryClient', () => {
  it('infers by default, as the client expects, when an LLM is configured', async () => {
    await using t = await openTestApp(embedder, llmFlags())
    await using server = await listen(t.app)
    const client = new MemoryClient({ apiKey: t.keyA, host: server.url })
    llm.enqueue(facts('Is allergic to peanuts'))
    const added = await client.add([{ role: 'user', content: "I'm allergic to peanuts, by the way" }], { userId: 'alice' })
    expect(added.map((m) => [m.memory, m.event])).toEqual([['Is allergic to peanuts', 'ADD']])
    expect(llm.calls.map((c) => c.schema)).toEqual(['facts'])
    // infer: false still stores the text as given.
    const raw = await client.add([{ role: 'user', content: 'Call me Al' }], { userId: 'alice', infer: false })
    expect(raw.map((m) => m.memory)).toEqual(['Call me Al'])
    expect(llm.calls).toHaveLength(1)
  })

  it('stores as given by default when no LLM is configured', async () => {
    await using t = await openTestApp(embedder)
    await using server = await listen(t.app)
    const added = await new MemoryClient({ apiKey: t.keyA, host: server.url }).add([{ role: 'user', content: 'I live in Oslo' }], { userId: 'bob' })
    expect(added.map((m) => m.memory)).toEqual(['I live in Oslo'])
  })
})
