import { readFileSync } from 'node:fs'
import { dataPaths, type ServerInfo } from '../data-paths.js'

/** A server the data commands talk to over the native HTTP API instead of opening the store. */
export interface ServerTarget {
  url: string
  key?: string | undefined
}

/** An error answer of the server, with the code of its envelope. */
export class ServerResponseError extends Error {
  override readonly name = 'ServerResponseError'
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

/**
 * Where the data commands send their calls: the server at `--url` (or AGENTMEM_URL), else the
 * server running on this data folder (said on stderr), else nowhere (they open the store).
 */
export function serverTarget(data: string, o: { url?: string; key?: string; tenant?: string }): ServerTarget | undefined {
  let target: ServerTarget | undefined
  if (o.url !== undefined) target = { url: o.url, key: o.key }
  else {
    const running = runningServer(data)
    if (running) {
      process.stderr.write(`talking to the server at ${running.url} (pid ${running.pid})\n`)
      target = { url: running.url, key: o.key }
    }
  }
  if (target && o.tenant !== undefined) {
    throw new Error('--tenant applies to the local store only; over HTTP the API key decides the tenant (no key on loopback: tenant default)')
  }
  return target
}

/**
 * The server running on this data folder, if any: it leaves its URL and pid in
 * `server/server.json` while it runs. A file left by a process that is gone is ignored.
 */
export function runningServer(data: string): ServerInfo | undefined {
  let info: ServerInfo
  try {
    info = JSON.parse(readFileSync(dataPaths(data).serverInfo, 'utf8')) as ServerInfo
  } catch {
    return undefined
  }
  if (typeof info.url !== 'string' || !Number.isInteger(info.pid) || !isAlive(info.pid)) return undefined
  // A server bound to every address is reached on loopback.
  return { url: info.url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:'), pid: info.pid }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Longer than a server's own request timeout (30 s by default), which answers 504 first. */
const callTimeoutMs = 60_000

function failure(cause: unknown): string {
  if (cause instanceof Error && cause.name === 'AbortError') return `no answer within ${callTimeoutMs / 1000} s`
  return (cause as Error & { cause?: Error }).cause?.message ?? String(cause)
}

/** One call to the native API; an error answer becomes a ServerResponseError carrying the server's code and message. */
export async function callServer<T>(target: ServerTarget, request: { method: 'GET' | 'POST'; path: string; body?: unknown }): Promise<T> {
  const headers: Record<string, string> = {}
  if (target.key !== undefined) headers['authorization'] = `Bearer ${target.key}`
  if (request.body !== undefined) headers['content-type'] = 'application/json'
  // A timer that keeps the process alive: a peer that takes the connection and never answers left
  // the call pending with nothing else to wait for, and the CLI exited 13 without a word.
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), callTimeoutMs)
  let response: Response
  let text: string
  try {
    try {
      response = await fetch(`${target.url.replace(/\/+$/, '')}${request.path}`, {
        method: request.method,
        headers,
        signal: abort.signal,
        ...(request.body !== undefined && { body: JSON.stringify(request.body) }),
      })
    } catch (cause) {
      throw new Error(`cannot reach the server at ${target.url}: ${failure(cause)}`, { cause })
    }
    try {
      text = await response.text()
    } catch (cause) {
      throw new Error(`the server at ${target.url} did not finish its answer: ${failure(cause)}`, { cause })
    }
  } finally {
    clearTimeout(timer)
  }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (response.ok && body !== undefined) return body as T
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
  const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`
  let message = typeof error?.message === 'string' ? error.message : `${response.status} ${response.statusText} from ${target.url}`
  if (response.status === 401) {
    message += `. The server at ${target.url} has API keys: pass --key or set AGENTMEM_API_KEY (create one with \`agentmem keys create --tenant NAME\`)`
  }
  throw new ServerResponseError(code, message, response.status)
}
