/**
 * Suite `scaleout`: `agentmem serve` replicas sharing one store on real PostgreSQL (metadata, keys,
 * the leader lock) and LanceDB on a real Ceph RGW, all on this machine.
 *
 * 1. HTTP requests/s and latency for 1, 2 and 3 replicas (hybrid search, and the server mix of
 *    1 add : 4 searches), autocannon spreading 16 connections over the replicas.
 * 2. Time for another replica to see a write: an add acknowledged by one follower, polled by a
 *    search on another replica's resident scope until it is found.
 * 3. The same during the leader's routine maintenances (seconds on the RGW), in process: adds
 *    acknowledged by the leader while a follower polls its resident scope.
 * 4. Search latency with the store on the RGW against a local folder, every search read from
 *    LanceDB (resident index off), in process.
 *
 * On 2 cores the replicas, PostgreSQL, Ceph and the load generator share the same CPU: more
 * replicas add no cores here, they show what coordination costs and that nothing breaks.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder, type Embedder } from '@agentmem/embeddings'
import { Memory, type MemoryOpenOptions } from '@agentmem/memory'
import { startCephRgw, startPostgres } from '@agentmem/test-services'
import type autocannon from 'autocannon'
import { type LatencyStats, latencyStats, locomoTurns, median, timed } from '../../harness.js'
import type { RunOptions } from '../../suite.js'
import { type HttpRun, load, medianRun } from '../search/run.js'
import { type BenchServer, startServer } from '../server/run.js'

export interface ReplicaLoad {
  name: 'search' | 'mix'
  replicas: number
  /** Summed over the replicas; latencies from every replica's responses together. */
  runs: HttpRun[]
  median: HttpRun
}

export interface ScaleoutSuiteResult {
  memories: number
  users: number
  secondsPerRun: number
  repetitions: number
  loads: ReplicaLoad[]
  /** ms from one follower's acknowledgement of an add to another replica's search finding it. */
  visibility: LatencyStats & { maxMs: number; trials: number }
  /**
   * In process, two replicas, the leader maintaining after every apply (within its time budget):
   * ms from the leader's acknowledgement of an add to the follower's search finding it, for adds
   * acknowledged during a maintenance and outside one, and the maintenances' lengths. (Absent
   * from runs before the leader told followers of its commits.)
   */
  duringMaintenance?: {
    seconds: number
    memories: number
    during: LatencyStats & { maxMs: number; trials: number }
    outside: LatencyStats & { maxMs: number; trials: number }
    maintenances: LatencyStats & { maxMs: number; count: number }
  }
  /** In process, resident index off: every search reads LanceDB. */
  storage: Array<{ store: 'local folder' | 'Ceph RGW (S3) + PostgreSQL'; searches: number; latency: LatencyStats }>
  /** Per replica: how often each event of its log at info and up occurred (success access lines are at debug, so not counted). */
  logEvents: Record<string, Record<string, number>>
  loadAverage: { start: number; end: number }
}

const users = 50
const connections = 16

export async function runScaleoutSuite(options: RunOptions): Promise<ScaleoutSuiteResult> {
  const { quick, progress } = options
  const memories = quick ? 300 : 5_000
  const seconds = quick ? 1 : 10
  const repetitions = quick ? 1 : 3
  const loadStart = loadavg()[0] ?? Number.NaN
  progress.total(2 * 3 * repetitions + 3)
  const [postgres, ceph] = await Promise.all([startPostgres(), startCephRgw()])
  const replicas: BenchServer[] = []
  const logs = await mkdtemp(join(tmpdir(), 'agentmem-bench-scaleout-logs-'))
  const logFile = (name: string) => join(logs, `${name}.log`)
  try {
    const bucket = await ceph.createBucket('bench')
    const env = { AGENTMEM_METADATA_URL: await postgres.createDatabase('scaleout'), AGENTMEM_VECTORS_URL: `${bucket}/scaleout`, ...ceph.env() }
    replicas.push(await startServer('scaleout-1', { env, logFile: logFile('scaleout-1') }))
    const { key } = replicas[0] as BenchServer
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
    const turns = locomoTurns(memories + 100_000)
    for (let i = 0; i < memories; i += 1000) {
      const items = Array.from({ length: Math.min(1000, memories - i) }, (_, j) => ({
        messages: `${turns[i + j]} #${i + j}`,
        user_id: `user-${(i + j) % users}`,
      }))
      const res = await fetch(`${replicas[0]?.url}/v1/memories/batch`, { method: 'POST', headers, body: JSON.stringify({ items }) })
      if (!res.ok) throw new Error(`preload failed: ${res.status} ${await res.text()}`)
    }
    progress.log(`scaleout: preloaded ${memories} memories for ${users} users on PostgreSQL + Ceph RGW`)

    let added = memories
    const user = () => `user-${Math.floor(Math.random() * users)}`
    const search: autocannon.Request = {
      method: 'POST',
      path: '/v1/memories/search',
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ query: turns[memories + Math.floor(Math.random() * 100_000)], user_id: user(), top_k: 10 }) }),
    }
    const add: autocannon.Request = {
      method: 'POST',
      path: '/v1/memories',
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ messages: `${turns[added % turns.length]} #${added++}`, user_id: user() }) }),
    }
    const shapes = { search: [search], mix: [add, search, search, search, search] }
    /** One load over every replica at once: the connections split between them, results summed. */
    const across = async (name: keyof typeof shapes, duration: number): Promise<HttpRun> => {
      const samples: number[] = []
      const each = await Promise.all(
        replicas.map((r, i) =>
          load(
            {
              url: r.url,
              connections: Math.floor(connections / replicas.length) + (i < connections % replicas.length ? 1 : 0),
              duration,
              headers,
              requests: shapes[name],
            },
            samples,
          ),
        ),
      )
      const stats = latencyStats(samples)
      return {
        requestsPerSecond: each.reduce((n, r) => n + r.requestsPerSecond, 0),
        p50Ms: stats.p50Ms,
        p99Ms: stats.p99Ms,
        requests: each.reduce((n, r) => n + r.requests, 0),
        seconds: median(each.map((r) => r.seconds)),
        errors: each.reduce((n, r) => n + r.errors, 0),
        non2xx: each.reduce((n, r) => n + r.non2xx, 0),
      }
    }

    const loads: ReplicaLoad[] = []
    for (const count of [1, 2, 3]) {
      while (replicas.length < count) {
        const name = `scaleout-${replicas.length + 1}`
        replicas.push(await startServer(name, { env, key, logFile: logFile(name) }))
      }
      // Warm-up: each replica's JIT, its LanceDB view and its resident scopes.
      await across('search', quick ? 0.5 : 3)
      for (const name of ['search', 'mix'] as const) {
        const runs: HttpRun[] = []
        for (let r = 0; r < repetitions; r++) {
          progress.step(`scaleout: ${name}, ${count} replica(s)`)
          const run = await across(name, seconds)
          runs.push(run)
          progress.log(
            `  ${name} x${count}: ${run.requestsPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms, errors ${run.errors}, non-2xx ${run.non2xx}`,
          )
        }
        loads.push({ name, replicas: count, runs, median: medianRun(runs) })
      }
    }

    progress.step('scaleout: time to see another replica’s write')
    const visibility = await measureVisibility(replicas, headers, quick ? 5 : 30)
    progress.step('scaleout: time to see a write made during a maintenance')
    const duringMaintenance = await measureDuringMaintenance(
      { metadataUrl: await postgres.createDatabase('maintenance'), vectorsUrl: `${bucket}/maintenance`, storageOptions: ceph.storageOptions() },
      turns.slice(0, quick ? 300 : 3_000),
      quick ? 5 : 45,
    )
    progress.step('scaleout: search latency, Ceph RGW vs local folder')
    const storage = await measureStorage(
      { metadataUrl: await postgres.createDatabase('storage'), vectorsUrl: `${bucket}/storage`, storageOptions: ceph.storageOptions() },
      turns.slice(0, quick ? 300 : 2_000),
      quick ? 30 : 300,
    )
    await Promise.all(replicas.splice(0).map((r) => r.stop()))
    const logEvents = await tallyLogs(logs)
    progress.log(`scaleout: replica logs in ${logs}: ${JSON.stringify(logEvents)}`)
    return {
      memories,
      users,
      secondsPerRun: seconds,
      repetitions,
      loads,
      visibility,
      duringMaintenance,
      storage,
      logEvents,
      loadAverage: { start: loadStart, end: loadavg()[0] ?? Number.NaN },
    }
  } finally {
    await Promise.all(replicas.map((r) => r.stop()))
    await Promise.all([postgres.stop(), ceph.stop()])
  }
}

/** Counts of `level event` per replica log in `folder` (pino JSON lines; `msg` is the event). */
async function tallyLogs(folder: string): Promise<ScaleoutSuiteResult['logEvents']> {
  const levels: Record<number, string> = { 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }
  const tally: ScaleoutSuiteResult['logEvents'] = {}
  const names = (await readdir(folder)).filter((file) => file.endsWith('.log')).map((file) => file.slice(0, -'.log'.length))
  for (const name of names.sort()) {
    const counts: Record<string, number> = {}
    const text = await readFile(join(folder, `${name}.log`), 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue
      let entry: { level?: number; msg?: string }
      try {
        entry = JSON.parse(line)
      } catch {
        continue // a line cut off when the replica stopped
      }
      const key = `${levels[entry.level ?? 0] ?? entry.level} ${entry.msg}`
      counts[key] = (counts[key] ?? 0) + 1
    }
    tally[name] = counts
  }
  return tally
}

/** An add on one follower, then searches on another replica's resident scope until the add is found. */
async function measureVisibility(replicas: BenchServer[], headers: Record<string, string>, trials: number): Promise<ScaleoutSuiteResult['visibility']> {
  const [writer, reader] = [replicas[1] ?? replicas[0], replicas[2] ?? replicas[0]] as [BenchServer, BenchServer]
  const post = async (server: BenchServer, path: string, body: object) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`${path} answered ${res.status}: ${await res.text()}`)
    return (await res.json()) as { results: Array<{ id: string }> }
  }
  const samples: number[] = []
  for (let t = 0; t < trials; t++) {
    const scope = `visibility-${t}`
    await post(writer, '/v1/memories', { messages: `seed fact ${t}`, user_id: scope })
    // Searched twice, the scope is resident on the reader: the path that must be told of the write.
    for (let i = 0; i < 3; i++) await post(reader, '/v1/memories/search', { query: 'seed', user_id: scope })
    const added = await post(writer, '/v1/memories', { messages: `the probe word is quetzal ${t}`, user_id: scope })
    const acknowledged = performance.now()
    const id = added.results[0]?.id
    for (;;) {
      const found = await post(reader, '/v1/memories/search', { query: `quetzal ${t}`, user_id: scope, top_k: 1 })
      if (found.results[0]?.id === id) break
      if (performance.now() - acknowledged > 10_000) throw new Error('another replica did not see a write within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    samples.push(performance.now() - acknowledged)
  }
  return { ...latencyStats(samples), maxMs: Math.max(...samples), trials }
}

/**
 * Two replicas in this process on the shared services; the leader maintains after every apply
 * (its time budget spaces them), and acknowledges an add every ~50 ms for `seconds`, each polled
 * on the follower's resident scope until found. Its log tells when each maintenance ran.
 */
async function measureDuringMaintenance(
  shared: Pick<MemoryOpenOptions, 'metadataUrl' | 'vectorsUrl' | 'storageOptions'>,
  texts: string[],
  seconds: number,
): Promise<ScaleoutSuiteResult['duringMaintenance']> {
  const embedder: Embedder = await createEmbedder({ workers: 1 })
  const maintenances: Array<{ start: number; end: number }> = []
  const logger = {
    debug: (event: string, fields?: Record<string, unknown>) => {
      if (event === 'memory.maintain') maintenances.push({ start: performance.now() - Number(fields?.['ms']), end: performance.now() })
    },
    info(event: string, fields?: Record<string, unknown>) {
      this.debug(event, fields)
    },
    warn() {},
    error() {},
  }
  const replicas = new Map<string, Memory>()
  const open = async (name: string, options: Partial<MemoryOpenOptions>) => {
    const path = await mkdtemp(join(tmpdir(), `agentmem-bench-maintenance-${name}-`))
    const forward = (address: string, _secret: string, call: unknown) => (replicas.get(address) as Memory).serveForwarded(call)
    const memory = await Memory.open({ path, embedder, ...shared, ...options, replication: { address: name, forward } })
    replicas.set(name, memory)
    return { memory, path }
  }
  const leader = await open('leader', { maintenanceEveryCommits: 1, logger })
  const follower = await open('follower', {})
  try {
    for (let i = 0; i < texts.length; i += 1000) {
      await leader.memory.addBatch(texts.slice(i, i + 1000).map((text, j) => ({ messages: `${text} #${i + j}`, userId: `user-${(i + j) % users}` })))
    }
    const scopes = Array.from({ length: 5 }, (_, i) => `probe-${i}`)
    for (const scope of scopes) await leader.memory.add(`seed fact of ${scope}`, { userId: scope })
    for (const scope of scopes) {
      while ((await follower.memory.getAll({ userId: scope })).results.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
      await follower.memory.warm({ userId: scope })
    }
    const samples: Array<{ acknowledged: number; ms: number }> = []
    const until = performance.now() + seconds * 1000
    for (let t = 0; performance.now() < until; t++) {
      const scope = scopes[t % scopes.length] as string
      const added = await leader.memory.add(`the probe word is quetzal${t}`, { userId: scope })
      const acknowledged = performance.now()
      const id = added.results[0]?.id
      for (;;) {
        const found = await follower.memory.search(`quetzal${t}`, { userId: scope, topK: 1 })
        if (found.results[0]?.id === id) break
        if (performance.now() - acknowledged > 60_000) throw new Error('the follower did not see a write within 60 s')
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      samples.push({ acknowledged, ms: performance.now() - acknowledged })
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const inside = (s: { acknowledged: number }) => maintenances.some((m) => m.start <= s.acknowledged && s.acknowledged < m.end)
    const stats = (list: number[]) => ({ ...latencyStats(list), maxMs: list.length > 0 ? Math.max(...list) : Number.NaN, trials: list.length })
    const lengths = maintenances.map((m) => m.end - m.start)
    return {
      seconds,
      memories: texts.length,
      during: stats(samples.filter(inside).map((s) => s.ms)),
      outside: stats(samples.filter((s) => !inside(s)).map((s) => s.ms)),
      maintenances: { ...latencyStats(lengths), maxMs: Math.max(...lengths), count: lengths.length },
    }
  } finally {
    await follower.memory.close()
    await leader.memory.close()
    await embedder.close()
    await Promise.all([leader.path, follower.path].map((path) => rm(path, { recursive: true, force: true })))
  }
}

/** Sequential searches with every one read from LanceDB, on a local folder and on the RGW. */
async function measureStorage(shared: Pick<MemoryOpenOptions, 'metadataUrl' | 'vectorsUrl' | 'storageOptions'>, texts: string[], searches: number) {
  const embedder: Embedder = await createEmbedder({ workers: 1 })
  const results: ScaleoutSuiteResult['storage'] = []
  try {
    for (const [store, location] of [
      ['local folder', {}],
      ['Ceph RGW (S3) + PostgreSQL', shared],
    ] as const) {
      const path = await mkdtemp(join(tmpdir(), 'agentmem-bench-storage-'))
      const memory = await Memory.open({ path, embedder, ...location, resident: { budgetBytes: 0 } })
      try {
        for (let i = 0; i < texts.length; i += 1000) {
          await memory.addBatch(texts.slice(i, i + 1000).map((text, j) => ({ messages: `${text} #${i + j}`, userId: `user-${(i + j) % users}` })))
        }
        await memory.optimize()
        const samples: number[] = []
        for (let i = 0; i < searches; i++) {
          await timed(samples, () => memory.search(texts[(i * 7) % texts.length] as string, { userId: `user-${i % users}`, topK: 10 }))
        }
        results.push({ store, searches, latency: latencyStats(samples.slice(Math.min(10, searches / 10))) })
      } finally {
        await memory.close()
        await rm(path, { recursive: true, force: true })
      }
    }
  } finally {
    await embedder.close()
  }
  return results
}
