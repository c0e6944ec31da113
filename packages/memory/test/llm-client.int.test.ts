import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { LlmClient } from '../src/index.js'
import { type ScriptedLlm, startScriptedLlm } from '../src/testing/index.js'

/** The OpenAI-compatible client against a real local server speaking the protocol. */
let llm: ScriptedLlm
beforeAll(async () => {
  llm = await startScriptedLlm()
})
afterAll(() => llm.close())
afterEach(() => llm.reset())

const answer = z.object({ ok: z.boolean() })
const request = { name: 'answer', system: 'Say ok.', user: 'ok?', schema: answer }

describe('LlmClient', () => {
  it('sends the key, the model and a strict JSON schema; counts calls and tokens', async () => {
    const client = new LlmClient({ baseUrl: llm.baseUrl, model: 'm1', apiKey: 'sk-x' })
    llm.enqueue({ json: { ok: true } })
    expect(await client.json(request)).toEqual({ ok: true })
    expect(llm.calls[0]).toMatchObject({ schema: 'answer', system: 'Say ok.', user: 'ok?', authorization: 'Bearer sk-x' })
    expect(client.usage).toEqual({
      calls: 1,
      retries: 0,
      failures: 0,
      promptTokens: llm.calls[0]?.promptTokens,
      completionTokens: llm.calls[0]?.completionTokens,
    })
  })

  it('JSON mode for servers without schemas, and fenced output is accepted', async () => {
    const client = new LlmClient({ baseUrl: `${llm.baseUrl}/`, model: 'm', responseFormat: 'json_object' })
    llm.enqueue({ content: '```json\n{"ok": false}\n```' })
    expect(await client.json(request)).toEqual({ ok: false })
    expect(llm.calls[0]?.schema).toBe('json_object')
  })

  it('retries 429 (honouring Retry-After), 500, timeouts and output off the schema, then gives up with a typed error', async () => {
    const client = new LlmClient({ baseUrl: llm.baseUrl, model: 'm', retryBaseMs: 1, maxRetries: 4, timeoutMs: 100 })
    llm.enqueue(
      { status: 429, retryAfterSeconds: 0 },
      { status: 503 },
      { delayMs: 300, reply: { json: { ok: true } } },
      { json: { nope: 1 } },
      { json: { ok: true } },
    )
    expect(await client.json(request)).toEqual({ ok: true })
    expect(client.usage).toMatchObject({ calls: 5, retries: 4, failures: 0 })
    await expect(client.json(request)).rejects.toMatchObject({ code: 'MEMORY_INFERENCE_FAILED', details: { reason: 'http', status: 500, attempts: 5 } })
    expect(client.usage.failures).toBe(1)
  })

  it('does not retry a request the endpoint refuses (4xx other than 429)', async () => {
    const client = new LlmClient({ baseUrl: llm.baseUrl, model: 'm', retryBaseMs: 1 })
    llm.enqueue({ status: 401 })
    await expect(client.json(request)).rejects.toMatchObject({ code: 'MEMORY_INFERENCE_FAILED', details: { status: 401, attempts: 1 } })
    expect(llm.calls).toHaveLength(1)
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const client = new LlmClient({ baseUrl: llm.baseUrl, model: 'm', concurrency: 2 })
    llm.fallback = () => ({ delayMs: 30, reply: { json: { ok: true } } })
    await Promise.all(Array.from({ length: 8 }, () => client.json(request)))
    expect(llm.calls).toHaveLength(8)
    expect(llm.maxConcurrent).toBe(2)
  })

  it('rejects bad options with a typed error', () => {
    expect(() => new LlmClient({ baseUrl: 'not a url', model: 'm' })).toThrow(expect.objectContaining({ code: 'MEMORY_INVALID_OPTIONS' }))
  })
})
