import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One chat-completions request as the scripted server received it. */
export interface LlmCall {
  /** `response_format.json_schema.name` (facts, decisions, procedure), or 'json_object'. */
  schema: string
  system: string
  user: string
  authorization: string | undefined
  /** Usage as answered (characters / 4); 0 for failures. */
  promptTokens: number
  completionTokens: number
}

/** What to answer: a JSON content, raw content (malformed output), an HTTP error, or an answer after a delay. */
export type LlmReply = { json: unknown } | { content: string } | { status: number; retryAfterSeconds?: number } | { delayMs: number; reply: LlmReply }

export interface ScriptedLlm {
  /** `http://127.0.0.1:<port>/v1`. */
  baseUrl: string
  calls: LlmCall[]
  /** Most requests the server was answering at once. */
  maxConcurrent: number
  /** Replies for the next calls, in order; once used up, `fallback` answers. */
  enqueue(...replies: LlmReply[]): void
  fallback: (call: LlmCall) => LlmReply
  /** Forgets calls and queued replies, and answers 500 again by default (between tests). */
  reset(): void
  close(): Promise<void>
}

/** AgentMem's extraction answer: these facts, each from message 0. */
export function factsReply(...texts: string[]): LlmReply {
  return { json: { facts: texts.map((text) => ({ text, sources: [0] })) } }
}

/** AgentMem's decision answer; `memory` and `text` default to null. */
export function decisionsReply(...decisions: Array<{ fact: number; event: string; memory?: number | null; text?: string | null }>): LlmReply {
  return { json: { decisions: decisions.map((d) => ({ memory: null, text: null, ...d })) } }
}

const failing = (): LlmReply => ({ status: 500 })

/**
 * A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol and answers from
 * a script: for tests and benchmarks of inference mode without a model. Usage is counted as
 * characters / 4, so token numbers are deterministic.
 */
export async function startScriptedLlm(fallback: (call: LlmCall) => LlmReply = failing): Promise<ScriptedLlm> {
  const queue: LlmReply[] = []
  const calls: LlmCall[] = []
  const llm: ScriptedLlm = {
    baseUrl: '',
    calls,
    maxConcurrent: 0,
    enqueue: (...replies) => queue.push(...replies),
    fallback,
    reset: () => {
      calls.length = 0
      queue.length = 0
      llm.maxConcurrent = 0
      llm.fallback = failing
    },
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
  let inFlight = 0
  const server = createServer(async (req, res) => {
    inFlight++
    llm.maxConcurrent = Math.max(llm.maxConcurrent, inFlight)
    res.on('close', () => inFlight--)
    let body = ''
    for await (const chunk of req) body += chunk
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end()
      return
    }
    const request = JSON.parse(body) as {
      response_format?: { type: string; json_schema?: { name: string } }
      messages: Array<{ role: string; content: string }>
    }
    const call: LlmCall = {
      schema: request.response_format?.json_schema?.name ?? request.response_format?.type ?? 'text',
      system: request.messages.find((m) => m.role === 'system')?.content ?? '',
      user: request.messages.find((m) => m.role === 'user')?.content ?? '',
      authorization: req.headers.authorization,
      promptTokens: 0,
      completionTokens: 0,
    }
    calls.push(call)
    let reply = queue.shift() ?? llm.fallback(call)
    while ('delayMs' in reply) {
      const { delayMs, reply: next } = reply
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (res.destroyed || req.socket.destroyed) return
      reply = next
    }
    if ('status' in reply) {
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        ...(reply.retryAfterSeconds !== undefined && { 'retry-after': String(reply.retryAfterSeconds) }),
      })
      res.end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error' } }))
      return
    }
    const content = 'json' in reply ? JSON.stringify(reply.json) : reply.content
    const promptTokens = Math.ceil((call.system.length + call.user.length) / 4)
    call.promptTokens = promptTokens
    call.completionTokens = Math.ceil(content.length / 4)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        id: `chatcmpl-${calls.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: 'scripted',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: Math.ceil(content.length / 4), total_tokens: promptTokens + Math.ceil(content.length / 4) },
      }),
    )
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  llm.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
  return llm
}
