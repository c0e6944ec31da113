import pLimit from 'p-limit'
import { z } from 'zod'
import { MemoryError, MemoryErrorCode } from '../errors.js'

/**
 * A client for any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, LM Studio,
 * llama.cpp server): plain fetch, structured JSON output, timeouts, retries with backoff on 429,
 * 5xx, timeouts and unusable output, a concurrency limit, and token usage counted.
 */
export const llmOptionsSchema = z.strictObject({
  /** Up to and including the version segment, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1. */
  baseUrl: z.url(),
  model: z.string().min(1),
  /** Sent as a bearer token; never logged. Local servers usually need none. */
  apiKey: z.string().min(1).optional(),
  /** `json_schema` (strict structured output) or `json_object` (JSON mode, for servers without schemas). */
  responseFormat: z.enum(['json_schema', 'json_object']).default('json_schema'),
  /** Per attempt. */
  timeoutMs: z.number().int().min(1).default(60_000),
  /** Retries after the first attempt, for 429, 5xx, timeouts, network errors and unusable output. */
  maxRetries: z.number().int().min(0).max(10).default(3),
  /** First backoff; doubles per retry (with jitter), capped at 30 s. A Retry-After header wins. */
  retryBaseMs: z.number().int().min(0).default(500),
  /** Requests in flight at once. */
  concurrency: z.number().int().min(1).max(256).default(4),
  temperature: z.number().min(0).max(2).default(0),
})
export type LlmOptions = z.input<typeof llmOptionsSchema>

export interface LlmUsage {
  calls: number
  retries: number
  failures: number
  promptTokens: number
  completionTokens: number
}

export interface JsonRequest<T> {
  /** Names the schema in `response_format`. */
  name: string
  system: string
  user: string
  schema: z.ZodType<T>
}

const maxBackoffMs = 30_000

const completionSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).optional(),
})

class Retryable extends Error {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'network' | 'http' | 'invalid_output',
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

export class LlmClient {
  readonly options: z.output<typeof llmOptionsSchema>
  readonly usage: LlmUsage = { calls: 0, retries: 0, failures: 0, promptTokens: 0, completionTokens: 0 }
  private readonly limit: ReturnType<typeof pLimit>

  constructor(options: LlmOptions) {
    const parsed = llmOptionsSchema.safeParse(options)
    if (!parsed.success) {
      throw new MemoryError(
        MemoryErrorCode.InvalidOptions,
        `Invalid llm options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      )
    }
    this.options = parsed.data
    this.limit = pLimit(this.options.concurrency)
  }

  /** One chat completion whose content must parse as JSON matching `schema`; retried, then MEMORY_INFERENCE_FAILED. */
  json<T>(request: JsonRequest<T>, signal?: AbortSignal): Promise<T> {
    return this.limit(async () => {
      let last: Retryable | undefined
      for (let attempt = 0; attempt <= this.options.maxRetries; attempt++) {
        if (attempt > 0) {
          this.usage.retries++
          const backoff = Math.min(maxBackoffMs, this.options.retryBaseMs * 2 ** (attempt - 1))
          await sleep(last?.retryAfterMs ?? backoff * (0.5 + Math.random() / 2), signal)
        }
        try {
          return await this.attempt(request, signal)
        } catch (error) {
          if (!(error instanceof Retryable)) throw error
          last = error
        }
      }
      this.usage.failures++
      throw new MemoryError(MemoryErrorCode.InferenceFailed, `The LLM call failed after ${this.options.maxRetries + 1} attempts: ${last?.message}`, {
        details: { reason: last?.reason, status: last?.status, attempts: this.options.maxRetries + 1 },
      })
    })
  }

  private async attempt<T>(request: JsonRequest<T>, signal: AbortSignal | undefined): Promise<T> {
    const { options } = this
    const responseFormat =
      options.responseFormat === 'json_schema'
        ? { type: 'json_schema', json_schema: { name: request.name, strict: true, schema: z.toJSONSchema(request.schema) } }
        : { type: 'json_object' }
    const timeout = AbortSignal.timeout(options.timeoutMs)
    let response: Response
    this.usage.calls++
    try {
      response = await fetch(`${options.baseUrl.replace(/\/$/, '')}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(options.apiKey && { authorization: `Bearer ${options.apiKey}` }) },
        body: JSON.stringify({
          model: options.model,
          temperature: options.temperature,
          response_format: responseFormat,
          messages: [
            { role: 'system', content: request.system },
            { role: 'user', content: request.user },
          ],
        }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      })
    } catch (error) {
      if (signal?.aborted) throw error
      if (timeout.aborted) throw new Retryable(`no response within ${options.timeoutMs} ms`, 'timeout')
      throw new Retryable(`request failed: ${(error as Error).message}`, 'network')
    }
    let body: string
    try {
      body = await response.text()
    } catch {
      throw new Retryable(`response body cut off${timeout.aborted ? ` after ${options.timeoutMs} ms` : ''}`, timeout.aborted ? 'timeout' : 'network')
    }
    if (response.status === 429 || response.status >= 500) {
      throw new Retryable(`HTTP ${response.status}`, 'http', response.status, retryAfterMs(response.headers.get('retry-after')))
    }
    if (!response.ok) {
      // 4xx other than 429: the request itself is wrong (model name, key); retrying cannot help.
      this.usage.failures++
      throw new MemoryError(MemoryErrorCode.InferenceFailed, `The LLM endpoint refused the request: HTTP ${response.status} ${body.slice(0, 300)}`, {
        details: { reason: 'http', status: response.status, attempts: 1 },
      })
    }
    const completion = completionSchema.safeParse(parseJson(body))
    if (!completion.success) throw new Retryable('the response is not a chat completion', 'invalid_output')
    if (completion.data.usage) {
      this.usage.promptTokens += completion.data.usage.prompt_tokens
      this.usage.completionTokens += completion.data.usage.completion_tokens
    }
    const content = completion.data.choices[0]?.message.content ?? ''
    const value = request.schema.safeParse(parseJson(stripFences(content)))
    if (!value.success) throw new Retryable(`the model's output does not match the ${request.name} schema`, 'invalid_output')
    return value.data
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Some local models wrap JSON in ``` fences even in JSON mode. */
function stripFences(text: string): string {
  return text
    .trim()
    .replace(/^```(?:json)?\s*/i, '')
    .replace(/\s*```$/, '')
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.min(maxBackoffMs, Math.max(0, seconds * 1000))
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.min(maxBackoffMs, Math.max(0, at - Date.now()))
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        reject(signal.reason)
      },
      { once: true },
    )
  })
}
