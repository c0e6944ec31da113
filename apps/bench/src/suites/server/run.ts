/**
 * Suite `server`: HTTP load against a real `agentmem serve` child process on 127.0.0.1. A mix of
 * one add to four searches, at 1, 16 and 64 connections, through the native API and through the
 * Mem0 MemoryClient routes; requests/s, latency, errors and the server's RSS over time.
 */
import { execFileSync, spawn } from 'node:child_process'
import type { EventEmitter } from 'node:events'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { loadConfig, openKeyStore } from '@agentmem/server'
import autocannon from 'autocannon'
import { locomoTurns } from '../../harness.js'
import type { RunOptions } from '../../suite.js'

export interface LoadResult {
  api: 'native' | 'mem0'
  connections: number
  seconds: number
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  errors: number
  timeouts: number
  non2xx: number
  rssStartMb: number
  rssPeakMb: number
  rssEndMb: number
  /** Seconds since the server started (absent in runs before it was recorded). */
  startS?: number
}
export interface ServerSuiteResult {
  preloaded: number
  users: number
  runs: LoadResult[]
  rssSamples: Array<{ t: number; mb: number }>
  /** Requests completed in each second of the load runs, on the RSS timeline (absent in runs before it was recorded). */
  requestSamples?: Array<{ t: number; requests: number }>
}

const users = 100
const main = fileURLToPath(new URL('../../../../../packages/server/src/cli/main.ts', import.meta.url))
export const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux unless built otherwise). */
let clockTicks: number | undefined

/**
 * CPU time (user + system, ms) a process has used so far: its main thread alone and all its
 * threads (workers included). Unlike requests/s, CPU per request barely moves when other work
 * shares the machine, so it tells a change in the code from a change in the machine.
 */
export function cpuMs(pid: number): { mainThread: number; allThreads: number } {
  clockTicks ??= ticksPerSecond()
  // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
  const ticks = (file: string) => {
    const stat = readFileSync(file, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  }
  const ms = (t: number) => (t * 1000) / (clockTicks as number)
  return { mainThread: ms(ticks(`/proc/${pid}/task/${pid}/stat`)), allThreads: ms(ticks(`/proc/${pid}/stat`)) }
}

function ticksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100 // Linux's USER_HZ unless the kernel was built otherwise
  }
}

/** A running `agentmem serve` child process on a fresh data folder holding one API key. */
export interface BenchServer {
  url: string
  key: string
  pid: number
  /** Stops the server and removes its data folder. */
  stop(): Promise<void>
}

/**
 * `agentmem serve` on a free port in a child process (also used by the `search` and `scaleout`
 * suites). `env` adds settings (e.g. a store on PostgreSQL and S3 for replicas); `key` reuses a
 * key already in that store's key store instead of creating one; the JSON log (info and up)
 * goes to `logFile`, else nowhere.
 */
export async function startServer(name: string, options: { env?: Record<string, string>; key?: string; logFile?: string } = {}): Promise<BenchServer> {
  const data = await mkdtemp(join(tmpdir(), `agentmem-bench-${name}-`))
  const createKey = async () => {
    const keys = await openKeyStore(loadConfig({ env: options.env ?? {}, flags: { data } }))
    try {
      return (await keys.create({ tenantId: 'bench' })).key
    } finally {
      await keys.close()
    }
  }
  const key = options.key ?? (await createKey())
  // Logs at info to /dev/null: the serialisation cost of a real deployment, without the disk.
  // No rate limit: the load generator is one client.
  const log = options.logFile ? openSync(options.logFile, 'a') : 'ignore'
  const proc = spawn(process.execPath, ['--conditions=agentmem-source', '--import', tsx, main, 'serve', '--port', '0', '--data', data], {
    stdio: ['ignore', log, 'pipe'],
    env: { ...process.env, AGENTMEM_RATE_LIMIT_PER_MINUTE: '0', AGENTMEM_LOG_LEVEL: 'info', AGENTMEM_MAX_BATCH_ITEMS: '1000', ...options.env },
  })
  if (typeof log === 'number') closeSync(log) // the child holds its own copy
  let stderr = ''
  const url = await new Promise<string>((resolve, reject) => {
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
      const match = /listening on (http:\/\/\S+)/.exec(stderr)
      if (match?.[1]) resolve(match[1])
    })
    proc.on('exit', (code) => reject(new Error(`agentmem serve exited with ${code}: ${stderr}`)))
  })
  return {
    url,
    key,
    pid: proc.pid as number,
    stop: async () => {
      proc.kill('SIGTERM')
      await new Promise((resolve) => proc.once('exit', resolve))
      await rm(data, { recursive: true, force: true })
    },
  }
}

export async function runServerSuite(options: RunOptions): Promise<ServerSuiteResult> {
  const server = await startServer('server')
  const { url, key, pid } = server
  const started = performance.now()
  const since = () => (performance.now() - started) / 1000
  const rssSamples: Array<{ t: number; mb: number }> = []
  const requestSamples: Array<{ t: number; requests: number }> = []
  const sampler = setInterval(() => rssSamples.push({ t: since(), mb: rssMb(pid) }), 250)
  try {
    const turns = locomoTurns(6000)
    const preload = options.quick ? 2000 : 10_000
    for (let i = 0; i < preload; i += 1000) {
      const items = Array.from({ length: 1000 }, (_, j) => ({ messages: `${turns[(i + j) % turns.length]} #${i + j}`, user_id: `user-${(i + j) % users}` }))
      const res = await fetch(`${url}/v1/memories/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items }),
      })
      if (!res.ok) throw new Error(`preload failed: ${res.status} ${await res.text()}`)
    }
    options.progress.log(`preloaded ${preload} memories for ${users} users`)

    const seconds = options.quick ? 3 : 30
    const runs: LoadResult[] = []
    const levels = options.quick ? [1, 16] : [1, 16, 64]
    options.progress.total(2 * levels.length)
    let n = 0
    const user = () => `user-${Math.floor(Math.random() * users)}`
    const query = () => turns[Math.floor(Math.random() * turns.length)] as string
    const mixes = {
      native: {
        auth: `Bearer ${key}`,
        add: '/v1/memories',
        search: '/v1/memories/search',
        addBody: () => ({ messages: `${query()} load ${n++}`, user_id: user() }),
        searchBody: () => ({ query: query(), user_id: user() }),
      },
      mem0: {
        auth: `Token ${key}`,
        add: '/v3/memories/add/',
        search: '/v3/memories/search/',
        addBody: () => ({ messages: [{ role: 'user', content: `${query()} load ${n++}` }], user_id: user(), infer: false }),
        searchBody: () => ({ query: query(), filters: { user_id: user() } }),
      },
    }
    for (const api of ['native', 'mem0'] as const) {
      const mix = mixes[api]
      for (const connections of levels) {
        options.progress.step(`${api} routes, ${connections} connection(s)`)
        const rssStartMb = rssMb(pid)
        const startS = since()
        const from = rssSamples.length
        const request = (path: string, body: () => object): autocannon.Request => ({
          method: 'POST',
          path,
          setupRequest: (req) => ({ ...req, body: JSON.stringify(body()) }),
        })
        const result = await new Promise<autocannon.Result>((resolve, reject) => {
          const instance = autocannon(
            {
              url,
              connections,
              duration: seconds,
              headers: { authorization: mix.auth, 'content-type': 'application/json' },
              // One add, then four searches, per connection, in a loop.
              requests: [request(mix.add, mix.addBody), ...Array.from({ length: 4 }, () => request(mix.search, mix.searchBody))],
            },
            (error, done) => (error ? reject(error) : resolve(done)),
          )
          // autocannon ticks once a second with the requests completed in it (its typings omit the argument).
          ;(instance as EventEmitter).on('tick', ({ counter }: { counter: number }) => requestSamples.push({ t: since(), requests: counter }))
        })
        const window = rssSamples.slice(from).map((s) => s.mb)
        const run: LoadResult = {
          api,
          connections,
          seconds,
          requestsPerSecond: result.requests.average,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          requests: result.requests.total,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          rssStartMb,
          rssPeakMb: Math.max(rssStartMb, ...window),
          rssEndMb: rssMb(pid),
          startS,
        }
        options.progress.log(
          `  ${api} c=${connections}: ${run.requestsPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, errors ${run.errors + run.timeouts}, non-2xx ${run.non2xx}`,
        )
        runs.push(run)
      }
    }
    return { preloaded: preload, users, runs, rssSamples, requestSamples }
  } finally {
    clearInterval(sampler)
    await server.stop()
  }
}
