/**
 * Suite `search`: the read path against the machine's own HTTP ceiling, in one run.
 *
 * 1. Over HTTP (`agentmem serve` in a child process, autocannon in this one): `GET /health` (the
 *    ceiling), hybrid `POST /v1/memories/search` (top 10, one user's scope) at 16 and 1 connections,
 *    then the server mix (1 add : 4 searches) at 16 connections.
 * 2. In process (`Memory` from @agentmem/memory): hybrid search by 16 and 1 concurrent callers on
 *    scopes of 100 and 1,000 memories, and by 16 on a second store of the same memories ranking
 *    without feedback and conversation context (what those two cost); then sequential single
 *    durable adds.
 * 3. A fresh store bulk-loaded with addBatch(1,000): search p50 right after the load vs after
 *    `memory.optimize()`.
 * 4. Calibration: a bare `node:http` server (bare-server.ts) spinning 0 to 400 µs of CPU per request,
 *    at 16 connections: what this machine's HTTP stack leaves to a handler of a given cost.
 *
 * Every query text is distinct until a pool of about 350k LoCoMo questions, turns and turn fragments
 * runs out (the report says how many were sent and how many were distinct), so that a
 * query-embedding cache cannot stand in for the search path.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEmbedder, type Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import { seededRandom } from '@agentmem/memory/testing'
import autocannon from 'autocannon'
import { type LatencyStats, latencyStats, locomoTurns, median, precomputed, timed } from '../../harness.js'
import type { Progress, RunOptions } from '../../suite.js'
import { loadLocomo } from '../locomo/data.js'
import { cpuMs, rssMb, startServer, tsx } from '../server/run.js'

/** One autocannon run. Latencies are per 2xx response, from autocannon's own timer (fractional ms). */
export interface HttpRun {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  seconds: number
  /** Socket errors plus timeouts. */
  errors: number
  non2xx: number
  /** The server's CPU time (user + system) per request, in µs: its main thread, and all its threads. */
  serverCpuUs?: { mainThread: number; allThreads: number }
}
/** Repeated runs of one load; `median` takes each field's median over the runs. */
export interface HttpLoad {
  name: 'health' | 'search' | 'mix'
  connections: number
  runs: HttpRun[]
  median: HttpRun
}
/** The bare server at one amount of work per request (bare-server.ts), 16 connections. */
export interface BareHttpLoad {
  workUs: number
  /** Work each request also spins on a worker thread (bare-server.ts); absent: none. */
  workerUs?: number
  runs: HttpRun[]
  median: HttpRun
}
export interface InProcessLoad {
  scopeSize: number
  scopes: number
  callers: number
  /** `plain`: hybrid without feedback and conversation context (`feedbackWeight` and `contextWeight` 0); absent: the defaults. */
  ranking?: 'plain'
  /** A third store of the same memories with `resident.searchThread` on (absent in runs before it was added). */
  searchThread?: true
  /** Searches/s of each repetition; `searchesPerSecond` is their median. */
  runs: number[]
  searchesPerSecond: number
  latency: LatencyStats
  meanResults: number
  /** This process's CPU time (user + system, all threads) per search, in µs: median over the runs. */
  cpuUsPerSearch?: number
}
export interface SearchSuiteResult {
  repetitions: number
  /** The machine's 1-minute load average when the suite started and ended: others' work skews every number. */
  loadAverage: { start: number; end: number }
  queries: { pool: number; sent: number; distinct: number }
  http: {
    memories: number
    users: number
    secondsPerRun: number
    loads: HttpLoad[]
    serverRssMb: { afterPreload: number; end: number }
    /** Bytes of a search response (top 10): the size the bare server answers. */
    searchResponseBytes?: number
  }
  /** Absent in runs before it was added. */
  bareHttp?: { responseBytes: number; secondsPerRun: number; loads: BareHttpLoad[] }
  inProcess: {
    memories: number
    secondsPerRun: number
    loads: InProcessLoad[]
  }
  adds: { memoriesBefore: number; perRun: number; runs: number[]; addsPerSecond: number; latency: LatencyStats; cpuUsPerAdd?: number }
  /** `memory.get(id)` of random memories, one caller, their scope resident and not (absent in runs before it was added). */
  gets?: Array<{ resident: boolean; runs: number[]; perSecond: number; latency: LatencyStats }>
  bulk: {
    memories: number
    users: number
    batchSize: number
    loadSeconds: number
    searches: number
    /** First searches of scopes right after the load (each loads its scope), then the same scopes again (resident). */
    afterLoad: LatencyStats & { meanResults: number }
    afterLoadResident: LatencyStats & { meanResults: number }
    optimizeSeconds: number
    /** The same, on other users, after optimize(). */
    afterOptimize: LatencyStats & { meanResults: number }
    afterOptimizeResident: LatencyStats & { meanResults: number }
  }
}

function shuffle<T>(items: T[], next: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

/**
 * Distinct query texts: every LoCoMo question and dialog turn (what was said, without the speaker),
 * shuffled, then fragments of the turns (4 to 12 consecutive words), shuffled. No numbers are
 * added: stored memories carry a ` #n` suffix that a numbered query would match by keyword.
 */
export class QueryStream {
  private readonly pool: string[]
  private sent = 0

  constructor(seed = 13) {
    // Seeded: the same query order on every run.
    const next = seededRandom(seed)
    const conversations = loadLocomo()
    const said = conversations.flatMap((c) => c.turns.map((t) => t.said.trim()))
    const full = [...new Set([...conversations.flatMap((c) => c.questions.map((q) => q.question.trim())), ...said])]
    const seen = new Set(full)
    const fragments: string[] = []
    for (const text of said) {
      const words = text.split(/\s+/).filter(Boolean)
      for (const length of [4, 5, 6, 7, 8, 10, 12]) {
        for (let start = 0; start + length <= words.length; start += 2) {
          const fragment = words.slice(start, start + length).join(' ')
          if (!seen.has(fragment)) {
            seen.add(fragment)
            fragments.push(fragment)
          }
        }
      }
    }
    const usable = (q: string) => /[a-z]{3}/i.test(q)
    this.pool = [...shuffle(full.filter(usable), next), ...shuffle(fragments.filter(usable), next)]
  }

  next(): string {
    return this.pool[this.sent++ % this.pool.length] as string
  }

  get stats(): SearchSuiteResult['queries'] {
    return { pool: this.pool.length, sent: this.sent, distinct: Math.min(this.sent, this.pool.length) }
  }
}

export function medianRun(runs: HttpRun[]): HttpRun {
  const m = (pick: (r: HttpRun) => number) => median(runs.map(pick))
  return {
    requestsPerSecond: m((r) => r.requestsPerSecond),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    requests: m((r) => r.requests),
    seconds: m((r) => r.seconds),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    ...(runs.every((r) => r.serverCpuUs) && {
      serverCpuUs: { mainThread: m((r) => r.serverCpuUs?.mainThread ?? 0), allThreads: m((r) => r.serverCpuUs?.allThreads ?? 0) },
    }),
  }
}

/**
 * One autocannon run; latencies come from its per-response events (its histogram rounds to whole
 * ms). `merged` also collects them, for callers that merge several runs' latencies. Given the
 * server's pid, it also reads the server's CPU time per request.
 */
export async function load(options: autocannon.Options, merged?: number[], serverPid?: number): Promise<HttpRun> {
  const samples: number[] = []
  const cpuBefore = serverPid === undefined ? undefined : cpuMs(serverPid)
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)))
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode < 200 || statusCode >= 300) return
      samples.push(ms)
      merged?.push(ms)
    })
  })
  const stats = latencyStats(samples)
  const cpuAfter = serverPid === undefined ? undefined : cpuMs(serverPid)
  const perRequest = (before: number, after: number) => ((after - before) * 1000) / Math.max(1, result.requests.total)
  return {
    ...(cpuBefore &&
      cpuAfter && {
        serverCpuUs: {
          mainThread: perRequest(cpuBefore.mainThread, cpuAfter.mainThread),
          allThreads: perRequest(cpuBefore.allThreads, cpuAfter.allThreads),
        },
      }),
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: stats.p50Ms,
    p99Ms: stats.p99Ms,
    requests: result.requests.total,
    seconds: result.duration,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }
}

/** Fresh callers each await one call at a time until the deadline; returns calls/s and per-call latencies. */
async function closedLoop(
  callers: number,
  seconds: number,
  call: () => Promise<number>,
): Promise<{ perSecond: number; samples: number[]; returned: number; cpuUsPerCall: number }> {
  const samples: number[] = []
  let returned = 0
  const cpu = process.cpuUsage()
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < deadline) {
        // Not `returned += await ...`: that reads `returned` before the await and loses other callers' counts.
        const count = await timed(samples, call)
        returned += count
      }
    }),
  )
  const { user, system } = process.cpuUsage(cpu)
  return { perSecond: samples.length / ((performance.now() - started) / 1000), samples, returned, cpuUsPerCall: (user + system) / Math.max(1, samples.length) }
}

async function measureHttp(
  queries: QueryStream,
  turns: string[],
  options: { quick: boolean; repetitions: number; progress: Progress },
): Promise<SearchSuiteResult['http']> {
  const users = 100
  const memories = options.quick ? 2000 : 10_000
  const seconds = options.quick ? 1 : 10
  const server = await startServer('search-http')
  const { url, key, pid } = server
  try {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
    for (let i = 0; i < memories; i += 1000) {
      const items = Array.from({ length: Math.min(1000, memories - i) }, (_, j) => ({
        messages: `${turns[(i + j) % turns.length]} #${i + j}`,
        user_id: `user-${(i + j) % users}`,
      }))
      const res = await fetch(`${url}/v1/memories/batch`, { method: 'POST', headers, body: JSON.stringify({ items }) })
      if (!res.ok) throw new Error(`preload failed: ${res.status} ${await res.text()}`)
    }
    const afterPreload = rssMb(pid)
    options.progress.log(`http: preloaded ${memories} memories for ${users} users`)

    const user = () => `user-${Math.floor(Math.random() * users)}`
    const searchBody = () => JSON.stringify({ query: queries.next(), user_id: user(), mode: 'hybrid', top_k: 10 })
    // A search that finds nothing would measure an empty path: check one before the load.
    const probe = await fetch(`${url}/v1/memories/search`, { method: 'POST', headers, body: JSON.stringify({ query: 'what did they do', user_id: 'user-1' }) })
    const probeBody = await probe.text()
    const found = (JSON.parse(probeBody) as { results?: unknown[] }).results?.length ?? 0
    if (!probe.ok || found === 0) throw new Error(`search probe answered ${probe.status} with ${found} results`)

    let added = memories
    const search: autocannon.Request = { method: 'POST', path: '/v1/memories/search', setupRequest: (req) => ({ ...req, body: searchBody() }) }
    const add: autocannon.Request = {
      method: 'POST',
      path: '/v1/memories',
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ messages: `${turns[added % turns.length]} #${added++}`, user_id: user() }) }),
    }
    const shapes = {
      health: { method: 'GET', path: '/health' } as autocannon.Request,
      search,
      // One add, then four searches, per connection, in a loop (as the server suite).
      mix: [add, search, search, search, search],
    }
    const run = (name: keyof typeof shapes, connections: number, duration: number) => {
      const shape = shapes[name]
      // /health as a probe calls it: no key, no body.
      return load({ url, connections, duration, headers: name === 'health' ? {} : headers, requests: Array.isArray(shape) ? shape : [shape] }, undefined, pid)
    }
    // Warm-up: the server's JIT, LanceDB's caches, the embedder's workers, and every user's
    // scope resident (a scope's second search loads it): the loads measure the steady state, as
    // the bulk phase measures first searches. Without it the first repetition ran cold.
    for (let u = 0; u < users; u++) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${url}/v1/memories/search`, { method: 'POST', headers, body: JSON.stringify({ query: queries.next(), user_id: `user-${u}` }) })
        if (!res.ok) throw new Error(`warm-up search answered ${res.status}`)
      }
    }
    await run('health', 16, options.quick ? 0.5 : 3)
    await run('search', 16, options.quick ? 0.5 : 5)

    const plan: Array<[HttpLoad['name'], number]> = [
      ['health', 16],
      ['search', 16],
      ['health', 1],
      ['search', 1],
    ]
    const runs = new Map<string, HttpRun[]>(plan.map(([name, c]) => [`${name}@${c}`, []]))
    // Interleaved repetitions: a slow moment of the machine hits every load alike.
    for (let r = 0; r < options.repetitions; r++) {
      for (const [name, connections] of plan) {
        options.progress.step(`http: ${name}, ${connections} connection(s)`)
        const result = await run(name, connections, seconds)
        runs.get(`${name}@${connections}`)?.push(result)
        options.progress.log(
          `  ${name} c=${connections}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}, non-2xx ${result.non2xx}`,
        )
      }
    }
    // The mix writes, so it runs last: the loads above all see the same store.
    const mixRuns: HttpRun[] = []
    for (let r = 0; r < options.repetitions; r++) {
      options.progress.step('http: 1 add : 4 searches, 16 connections')
      const result = await run('mix', 16, seconds)
      mixRuns.push(result)
      options.progress.log(
        `  mix c=16: ${result.requestsPerSecond.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}, non-2xx ${result.non2xx}`,
      )
    }
    const loads: HttpLoad[] = [
      ...plan.map(([name, connections]) => {
        const list = runs.get(`${name}@${connections}`) ?? []
        return { name, connections, runs: list, median: medianRun(list) }
      }),
      { name: 'mix', connections: 16, runs: mixRuns, median: medianRun(mixRuns) },
    ]
    return {
      memories,
      users,
      secondsPerRun: seconds,
      loads,
      serverRssMb: { afterPreload, end: rssMb(pid) },
      searchResponseBytes: Buffer.byteLength(probeBody),
    }
  } finally {
    await server.stop()
  }
}

/**
 * The bare server (bare-server.ts) spinning each amount of CPU per request, at 16 connections as
 * the search load: requests/s and its main thread's CPU per request, of which the rest beyond the
 * spin is what serving a request costs here at that rate.
 */
async function measureBareHttp(
  responseBytes: number,
  options: { quick: boolean; repetitions: number; progress: Progress },
): Promise<NonNullable<SearchSuiteResult['bareHttp']>> {
  const seconds = options.quick ? 0.5 : 5
  const loads: BareHttpLoad[] = []
  // The last row splits a search request's cost as the engine on a worker thread would: the HTTP
  // side (~200 µs) on the main thread, the search (~250 µs) on the other core.
  const splits: Array<{ workUs: number; workerUs?: number }> = [
    { workUs: 0 },
    { workUs: 100 },
    { workUs: 200 },
    { workUs: 400 },
    { workUs: 200, workerUs: 250 },
  ]
  for (const { workUs, workerUs } of splits) {
    const child = spawn(process.execPath, ['--import', tsx, fileURLToPath(new URL('./bare-server.ts', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BARE_WORK_US: String(workUs), BARE_WORKER_US: String(workerUs ?? 0), BARE_RESPONSE_BYTES: String(responseBytes) },
    })
    try {
      const port = await new Promise<string>((resolve, reject) => {
        child.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()))
        child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)))
      })
      const options16 = {
        url: `http://127.0.0.1:${port}`,
        connections: 16,
        method: 'POST' as const,
        body: JSON.stringify({ query: 'what did they do', user_id: 'user-1' }),
      }
      await load({ ...options16, duration: options.quick ? 0.5 : 2 })
      const runs: HttpRun[] = []
      for (let r = 0; r < options.repetitions; r++) runs.push(await load({ ...options16, duration: seconds }, undefined, child.pid))
      const median = medianRun(runs)
      loads.push({ workUs, ...(workerUs !== undefined && { workerUs }), runs, median })
      options.progress.log(
        `  bare node:http, ${workUs} µs of work${workerUs === undefined ? '' : ` + ${workerUs} µs on a worker`}: ${median.requestsPerSecond.toFixed(0)} req/s, main thread ${median.serverCpuUs?.mainThread.toFixed(0)} µs CPU/request`,
      )
    } finally {
      child.kill()
    }
  }
  return { responseBytes, secondsPerRun: seconds, loads }
}

async function measureInProcess(
  embedder: Embedder,
  work: string,
  queries: QueryStream,
  turns: string[],
  options: { quick: boolean; repetitions: number; progress: Progress },
): Promise<Pick<SearchSuiteResult, 'inProcess' | 'adds' | 'gets'>> {
  // One store with scopes of both sizes, as a real store mixes them: 100 users of 100 memories
  // (the HTTP store's shape) and 10 of 1,000 (the largest scope the target covers).
  const shapes = options.quick
    ? [
        { scopeSize: 100, scopes: 10 },
        { scopeSize: 1000, scopes: 2 },
      ]
    : [
        { scopeSize: 100, scopes: 100 },
        { scopeSize: 1000, scopes: 10 },
      ]
  const seconds = options.quick ? 1 : 5
  const path = join(work, 'in-process')
  const plainPath = join(work, 'in-process-plain')
  const threadedPath = join(work, 'in-process-threaded')
  const memory = await Memory.open({ path, embedder })
  let plain: Memory | undefined
  let threaded: Memory | undefined
  try {
    plain = await Memory.open({ path: plainPath, embedder, feedbackWeight: 0, contextWeight: 0 })
    threaded = await Memory.open({ path: threadedPath, embedder, resident: { searchThread: true } })
    let n = 0
    const items = shapes.flatMap((shape) =>
      Array.from({ length: shape.scopeSize * shape.scopes }, (_, i) => ({
        messages: `${turns[n % turns.length]} #${n++}`,
        userId: `scope${shape.scopeSize}-${i % shape.scopes}`,
      })),
    )
    const fillStart = performance.now()
    const ids: string[] = []
    for (const store of [memory, plain, threaded]) {
      for (let i = 0; i < items.length; i += 1000) {
        const { results } = await store.addBatch(items.slice(i, i + 1000))
        if (store === memory) ids.push(...results.map((r) => r.id))
      }
      await store.optimize()
    }
    const memories = items.length
    options.progress.log(
      `in process: ${memories} memories (${shapes.map((s) => `${s.scopes} scopes of ${s.scopeSize}`).join(', ')}) filled and optimized three times in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`,
    )

    const search = (shape: (typeof shapes)[number], store: Memory) => async () =>
      (
        await store.search(queries.next(), {
          userId: `scope${shape.scopeSize}-${Math.floor(Math.random() * shape.scopes)}`,
          mode: 'hybrid',
          topK: 10,
        })
      ).results.length
    // Every scope resident first (as in the HTTP warm-up): the loads measure the steady state.
    for (const store of [memory, plain, threaded]) {
      for (const shape of shapes) for (let i = 0; i < shape.scopes; i++) await store.warm({ userId: `scope${shape.scopeSize}-${i}` })
      for (const shape of shapes) await closedLoop(16, options.quick ? 0.5 : 2, search(shape, store))
    }

    const plan = shapes.flatMap((shape) => [
      ...[16, 1].map((callers) => ({ shape, callers, ranking: undefined, searchThread: undefined })),
      { shape, callers: 16, ranking: 'plain' as const, searchThread: undefined },
      { shape, callers: 16, ranking: undefined, searchThread: true as const },
    ])
    const collected = plan.map(() => ({ runs: [] as number[], samples: [] as number[], returned: 0, cpuUs: [] as number[] }))
    for (let r = 0; r < options.repetitions; r++) {
      for (const [i, { shape, callers, ranking, searchThread }] of plan.entries()) {
        const label = `scopes of ${shape.scopeSize}, ${callers} caller(s)${ranking ? ', without feedback and context' : ''}${searchThread ? ', search thread on' : ''}`
        options.progress.step(`in process: ${label}`)
        const result = await closedLoop(callers, seconds, search(shape, ranking ? plain : searchThread ? threaded : memory))
        const into = collected[i] as (typeof collected)[number]
        into.runs.push(result.perSecond)
        into.samples.push(...result.samples)
        into.returned += result.returned
        into.cpuUs.push(result.cpuUsPerCall)
        options.progress.log(`  ${label}: ${result.perSecond.toFixed(0)} searches/s, ${result.cpuUsPerCall.toFixed(0)} µs CPU each`)
      }
    }
    // Closed before the gets and adds, which run on the default store alone.
    await plain.close()
    await threaded.close()

    // Reads by id, every scope resident, then none (invalidate drops them; a get loads nothing).
    const get = async () => ((await memory.get(ids[Math.floor(Math.random() * ids.length)] as string)) ? 1 : 0)
    const gets: NonNullable<SearchSuiteResult['gets']> = []
    for (const resident of [true, false]) {
      if (!resident) await memory.invalidate()
      const runs: number[] = []
      const samples: number[] = []
      for (let r = 0; r < options.repetitions; r++) {
        options.progress.step(`in process: get by id, scope ${resident ? 'resident' : 'not resident'}`)
        const result = await closedLoop(1, options.quick ? 0.5 : 2, get)
        if (result.returned !== result.samples.length) throw new Error(`get found ${result.returned} of ${result.samples.length} memories`)
        runs.push(result.perSecond)
        // Not push(...samples): a run of microsecond gets has more samples than a call takes arguments.
        for (const sample of result.samples) samples.push(sample)
      }
      gets.push({ resident, runs, perSecond: median(runs), latency: latencyStats(samples) })
      options.progress.log(`  get by id, ${resident ? 'resident' : 'store'}: ${median(runs).toFixed(0)}/s`)
    }
    for (const shape of shapes) for (let i = 0; i < shape.scopes; i++) await memory.warm({ userId: `scope${shape.scopeSize}-${i}` })
    const loads: InProcessLoad[] = plan.map(({ shape, callers, ranking, searchThread }, i) => {
      const c = collected[i] as (typeof collected)[number]
      return {
        ...shape,
        callers,
        ...(ranking && { ranking }),
        ...(searchThread && { searchThread }),
        runs: c.runs,
        searchesPerSecond: median(c.runs),
        latency: latencyStats(c.samples),
        meanResults: c.returned / Math.max(1, c.samples.length),
        cpuUsPerSearch: median(c.cpuUs),
      }
    })

    // Sequential single durable adds into the same (non-empty) store, each text embedded by the model.
    const perRun = options.quick ? 50 : 1000
    const addOne = () => memory.add(`${turns[n % turns.length]} #${n++}`, { userId: `scope100-${n % 100}` })
    for (let i = 0; i < (options.quick ? 5 : 50); i++) await addOne()
    const addRuns: number[] = []
    const addSamples: number[] = []
    const addCpuUs: number[] = []
    for (let r = 0; r < options.repetitions; r++) {
      options.progress.step('in process: sequential adds')
      const cpu = process.cpuUsage()
      const started = performance.now()
      for (let i = 0; i < perRun; i++) await timed(addSamples, addOne)
      addRuns.push(perRun / ((performance.now() - started) / 1000))
      const { user, system } = process.cpuUsage(cpu)
      addCpuUs.push((user + system) / perRun)
      options.progress.log(`  sequential adds: ${(addRuns.at(-1) as number).toFixed(0)}/s, ${(addCpuUs.at(-1) as number).toFixed(0)} µs CPU each`)
    }
    return {
      inProcess: { memories, secondsPerRun: seconds, loads },
      gets,
      adds: {
        memoriesBefore: memories,
        perRun,
        runs: addRuns,
        addsPerSecond: median(addRuns),
        latency: latencyStats(addSamples),
        cpuUsPerAdd: median(addCpuUs),
      },
    }
  } finally {
    await memory.close()
    await plain?.close()
    await threaded?.close()
    await rm(path, { recursive: true, force: true })
    await rm(plainPath, { recursive: true, force: true })
    await rm(threadedPath, { recursive: true, force: true })
  }
}

async function measureBulk(embedder: Embedder, work: string, queries: QueryStream, turns: string[], options: RunOptions): Promise<SearchSuiteResult['bulk']> {
  const memories = options.quick ? 5000 : 100_000
  const users = memories / 100
  const batchSize = 1000
  const searches = options.quick ? 30 : 300
  // The load takes vectors the model computed once per LoCoMo turn (it measures the store, not the
  // model); queries are embedded live.
  const filler = await precomputed(embedder, turns)
  const path = join(work, 'bulk')
  const memory = await Memory.open({ path, embedder: filler })
  try {
    options.progress.step(`bulk: load ${memories.toLocaleString('en')} memories, then search`)
    const loadStart = performance.now()
    for (let i = 0; i < memories; i += batchSize) {
      await memory.addBatch(
        Array.from({ length: batchSize }, (_, j) => ({ messages: `${turns[(i + j) % turns.length]} #${i + j}`, userId: `user-${(i + j) % users}` })),
      )
    }
    const loadSeconds = (performance.now() - loadStart) / 1000
    options.progress.log(`bulk: ${memories} memories loaded in ${loadSeconds.toFixed(1)} s`)
    // Each phase searches users no search touched before (store path: a scope is loaded into the
    // resident index in the background once read again), then the same users again once loaded
    // (resident). Before, that second pass ran while the loads were still to come: it measured
    // the store path a second time.
    const warm = async (firstUser: number) => {
      for (let i = 0; i < searches; i++) await memory.warm({ userId: `user-${(firstUser + i) % users}` })
    }
    const measure = async (firstUser: number) => {
      const samples: number[] = []
      let returned = 0
      for (let i = 0; i < searches; i++) {
        const { results } = await timed(samples, () => memory.search(queries.next(), { userId: `user-${(firstUser + i) % users}`, mode: 'hybrid', topK: 10 }))
        returned += results.length
      }
      return { ...latencyStats(samples), meanResults: returned / searches }
    }
    // No warm-up here on purpose: the first searches after the load are the point.
    const afterLoad = await measure(0)
    await warm(0)
    const afterLoadResident = await measure(0)
    const optimizeStart = performance.now()
    await memory.optimize()
    const optimizeSeconds = (performance.now() - optimizeStart) / 1000
    const afterOptimize = await measure(Math.floor(users / 2))
    await warm(Math.floor(users / 2))
    const afterOptimizeResident = await measure(Math.floor(users / 2))
    options.progress.log(
      `  first search of a scope p50 right after the load ${afterLoad.p50Ms.toFixed(2)} ms, after optimize (${optimizeSeconds.toFixed(1)} s) ${afterOptimize.p50Ms.toFixed(2)} ms; resident ${afterLoadResident.p50Ms.toFixed(2)} / ${afterOptimizeResident.p50Ms.toFixed(2)} ms`,
    )
    return { memories, users, batchSize, loadSeconds, searches, afterLoad, afterLoadResident, optimizeSeconds, afterOptimize, afterOptimizeResident }
  } finally {
    await memory.close()
    await rm(path, { recursive: true, force: true })
  }
}

export async function runSearchSuite(options: RunOptions): Promise<SearchSuiteResult> {
  const repetitions = options.quick ? 1 : 3
  const loadAtStart = loadavg()[0] as number
  const queries = new QueryStream()
  const turns = locomoTurns(6000)
  options.progress.log(`${queries.stats.pool} distinct query texts`)
  // HTTP: 4 loads and the mix per repetition; the calibration; in process: 6 loads (2 shapes x 3) and the adds per repetition; the bulk load.
  options.progress.total(repetitions * 16 + 2)
  // HTTP first and alone: the in-process phases would share the 2 cores with the server.
  const http = await measureHttp(queries, turns, { ...options, repetitions })
  options.progress.log('server stopped')
  options.progress.step('http: bare node:http calibration')
  const bareHttp = await measureBareHttp(http.searchResponseBytes ?? 0, { ...options, repetitions })
  const work = await mkdtemp(join(tmpdir(), 'agentmem-bench-search-'))
  const embedder = await createEmbedder({ progress: false })
  try {
    const { inProcess, adds, gets } = await measureInProcess(embedder, work, queries, turns, { ...options, repetitions })
    const bulk = await measureBulk(embedder, work, queries, turns, options)
    return {
      repetitions,
      loadAverage: { start: loadAtStart, end: loadavg()[0] as number },
      queries: queries.stats,
      http,
      bareHttp,
      inProcess,
      adds,
      gets,
      bulk,
    }
  } finally {
    await embedder.close()
    await rm(work, { recursive: true, force: true })
  }
}
