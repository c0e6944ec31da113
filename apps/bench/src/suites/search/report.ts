import type { LatencyStats } from '../../harness.js'
import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, targetsTable, title } from '../../report/markdown.js'
import type { Headline } from '../../suite.js'
import type { HttpLoad, SearchSuiteResult } from './run.js'

const httpLoad = (result: SearchSuiteResult, name: HttpLoad['name'], connections: number) =>
  result.http.loads.find((l) => l.name === name && l.connections === connections)?.median

export function searchTargets(result: SearchSuiteResult): Target[] {
  const http = (name: HttpLoad['name'], connections: number) => httpLoad(result, name, connections)
  const search16 = http('search', 16)
  const health16 = http('health', 16)
  const mix = http('mix', 16)
  const ratio = (search16?.requestsPerSecond ?? Number.NaN) / (health16?.requestsPerSecond ?? Number.NaN)
  const mixErrors = mix ? mix.errors + mix.non2xx : Number.NaN
  const bulkRatio = result.bulk.afterLoad.p50Ms / result.bulk.afterOptimize.p50Ms
  const residentRatio = result.bulk.afterLoadResident.p50Ms / result.bulk.afterOptimizeResident.p50Ms
  const at = (value: number | undefined) => value ?? Number.NaN
  return [
    {
      label: 'HTTP hybrid search, 16 connections (requests/s)',
      measured: at(search16?.requestsPerSecond),
      goal: '>= 3000',
      met: at(search16?.requestsPerSecond) >= 3000,
    },
    { label: 'HTTP hybrid search / `/health`, 16 connections', measured: ratio, goal: '>= 0.10x', met: ratio >= 0.1, digits: 3 },
    { label: 'HTTP hybrid search p99, 16 connections (ms)', measured: at(search16?.p99Ms), goal: '<= 15', met: at(search16?.p99Ms) <= 15 },
    {
      label: 'HTTP mix 1 add : 4 searches, 16 connections (requests/s)',
      measured: at(mix?.requestsPerSecond),
      goal: '>= 1500',
      met: at(mix?.requestsPerSecond) >= 1500,
    },
    { label: 'HTTP mix errors + non-2xx', measured: mixErrors, goal: '0', met: mixErrors === 0, digits: 0 },
    ...result.inProcess.loads
      .filter((l) => l.callers === 16 && !l.ranking && !l.searchThread)
      .map((l) => ({
        label: `in process hybrid search, 16 callers, scopes of ${l.scopeSize.toLocaleString('en')} (searches/s)`,
        measured: l.searchesPerSecond,
        goal: '>= 10000',
        met: l.searchesPerSecond >= 10_000,
      })),
    { label: 'in process sequential single adds (adds/s)', measured: result.adds.addsPerSecond, goal: '>= 1000', met: result.adds.addsPerSecond >= 1000 },
    {
      label: `first search of a scope, p50 right after a ${result.bulk.memories.toLocaleString('en')} bulk load / after optimize()`,
      measured: bulkRatio,
      goal: '<= 1.5x',
      met: bulkRatio <= 1.5,
      digits: 3,
    },
    {
      label: 'resident search, p50 right after the bulk load / after optimize()',
      measured: residentRatio,
      goal: '<= 1.5x',
      met: residentRatio <= 1.5,
      digits: 3,
    },
  ]
}

export function searchReport(run: SuiteRun<SearchSuiteResult>): string {
  const { quick, result } = run
  const { http, inProcess, adds, bulk, queries } = result
  const health = (connections: number) => httpLoad(result, 'health', connections)?.requestsPerSecond ?? Number.NaN
  const what: Record<HttpLoad['name'], string> = {
    health: '`GET /health`',
    search: 'hybrid search, top 10',
    mix: '1 add : 4 searches',
  }
  const httpRows = http.loads.map((l) => {
    const m = l.median
    const cpu = m.serverCpuUs ? `${fmt(m.serverCpuUs.mainThread, 0)} / ${fmt(m.serverCpuUs.allThreads, 0)}` : ''
    return `| ${what[l.name]} | ${l.connections} | ${fmt(m.requestsPerSecond, 0)} | ${l.name === 'health' ? '' : `${fmt(m.requestsPerSecond / health(l.connections), 3)}x`} | ${fmt(m.p50Ms, 2)} | ${fmt(m.p99Ms, 2)} | ${cpu} | ${m.errors} | ${m.non2xx} | ${l.runs.map((r) => fmt(r.requestsPerSecond, 0)).join(' / ')} |`
  })
  const inProcessRows = inProcess.loads.map(
    (l) =>
      `| ${l.scopeSize.toLocaleString('en')} | ${l.scopes} | ${l.callers} | ${l.ranking ? 'without feedback and context' : l.searchThread ? 'default, search thread on' : 'default'} | ${fmt(l.searchesPerSecond, 0)} | ${fmt(l.latency.p50Ms, 2)} | ${fmt(l.latency.p99Ms, 2)} | ${fmt(l.cpuUsPerSearch, 0)} | ${fmt(l.meanResults)} | ${l.runs.map((r) => fmt(r, 0)).join(' / ')} |`,
  )
  const l = (x: LatencyStats) => `${fmt(x.p50Ms, 2)} / ${fmt(x.p95Ms, 2)} / ${fmt(x.p99Ms, 2)}`
  return `${title('Search benchmark', quick)}

${generatedBy(run).slice(0, -1)}. Load average (1 min) at the start ${fmt(result.loadAverage.start, 2)}, at the end
${fmt(result.loadAverage.end, 2)}: anything near the core count means other work shared the machine.

The read path measured against this machine's own ceiling, in one run: \`GET /health\` of \`agentmem serve\` is
what the machine's HTTP stack and load generator manage at all, and every HTTP result is also given as a
fraction of it. Offline default model, local LanceDB + SQLite, default engine settings. Every query text is
distinct (LoCoMo questions and turns, then fragments of turns: ${queries.sent.toLocaleString('en')} queries sent,
${queries.distinct.toLocaleString('en')} distinct, from a pool of ${queries.pool.toLocaleString('en')}), so a query-embedding cache
cannot stand in for the search path. ${result.repetitions} repetition(s) of each measurement after a warm-up that makes every scope resident (first searches are the bulk phase's), interleaved; medians reported.

## Targets

${targetsTable(searchTargets(result))}

The "3x Mem0 OSS" sequential-add ratio is in the \`mem0\` suite's targets (both libraries in the same run).

## Over HTTP

\`agentmem serve\` in a child process on 127.0.0.1 (info logs to /dev/null, no rate limit, API key auth),
preloaded through \`/v1/memories/batch\` with ${http.memories.toLocaleString('en')} LoCoMo turns over ${http.users} users
(${fmt(http.memories / http.users, 0)} per scope). autocannon drives it from the bench process (both share the cores):
${http.secondsPerRun} s per run; each search is one random user's scope, \`mode: hybrid\`, \`top_k: 10\`. The mix loops one add
and four searches per connection, after the other loads (it writes). Latencies are per 2xx response, in ms;
requests/s and latencies are medians over the runs, errors (socket errors and timeouts) and non-2xx are totals.
CPU is the server's user + system time per request in µs (median over the runs), on its main thread and on
all its threads (workers, GC and compiler threads included), from /proc. It leaves out time spent waiting for
the cores, so it says where the server's work goes; it still moves with the machine (shared caches, clock
speed), so compare it between commits only within one run or with builds alternated.
Server RSS: ${fmt(http.serverRssMb.afterPreload, 0)} MB after the preload, ${fmt(http.serverRssMb.end, 0)} MB at the end.

${chartImage('HTTP requests/s against GET /health', 'search-http.svg')}

| requests | connections | requests/s | x \`/health\` | p50 ms | p99 ms | server CPU µs/request (main / all threads) | errors | non-2xx | each run (requests/s) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
${httpRows.join('\n')}
${bareSection(result)}
## In process

\`Memory\` from @agentmem/memory on one store of ${inProcess.memories.toLocaleString('en')} memories holding scopes of both sizes;
each search is \`mode: hybrid\`, \`topK: 10\`, in one random scope of the given size, by callers that each await
one search at a time, ${inProcess.secondsPerRun} s per run. Latencies are per call, in ms; CPU is this process's user + system
time per search in µs (all threads), median over the runs. "Without feedback and context" is a second store of the same
memories opened with \`feedbackWeight: 0, contextWeight: 0\` (plain hybrid: vector and keyword candidates fused), run
between the others: what the two ranking signals that lifted LoCoMo recall cost a search. "Search thread on" is a third store
of the same memories opened with \`resident: { searchThread: true }\`: the main thread hands searches of resident scopes to a
worker thread holding a copy of them while it searches too (the targets are measured on the default settings).

| scope size | scopes | callers | ranking | searches/s | p50 ms | p99 ms | CPU µs/search | mean results | each run (searches/s) |
|---:|---:|---:|---|---:|---:|---:|---:|---:|---|
${inProcessRows.join('\n')}

### Sequential single adds

\`await memory.add(text, { userId })\` one after another (durable when it resolves), into the same store
(${adds.memoriesBefore.toLocaleString('en')} memories), each text embedded by the model: ${adds.perRun.toLocaleString('en')} adds per run.

| adds/s | p50 / p95 / p99 ms | CPU µs/add | each run (adds/s) |
|---:|---:|---:|---|
| ${fmt(adds.addsPerSecond, 0)} | ${l(adds.latency)} | ${fmt(adds.cpuUsPerAdd, 0)} | ${adds.runs.map((r) => fmt(r, 0)).join(' / ')} |
${
  result.gets
    ? `
### Reads by id

\`await memory.get(id)\` of random memories of the same store, one caller, ${result.gets[0]?.runs.length ?? 0} runs each: with every
scope resident (the row is read where a resident scope holds it), then with none (\`invalidate()\`; a get loads
no scope, so each one is a LanceDB query).

| scope | gets/s | p50 / p95 / p99 ms | each run (gets/s) |
|---|---:|---:|---|
${result.gets.map((g) => `| ${g.resident ? 'resident' : 'not resident'} | ${fmt(g.perSecond, 0)} | ${fmt(g.latency.p50Ms, 3)} / ${fmt(g.latency.p95Ms, 3)} / ${fmt(g.latency.p99Ms, 3)} | ${g.runs.map((r) => fmt(r, 0)).join(' / ')} |`).join('\n')}
`
    : ''
}
## Search right after a bulk load

A fresh store loaded with \`addBatch\` of ${bulk.batchSize.toLocaleString('en')} (vectors precomputed per LoCoMo turn, so the load
measures the store) to ${bulk.memories.toLocaleString('en')} memories over ${bulk.users.toLocaleString('en')} users, then ${bulk.searches}
sequential hybrid searches at once (no warm-up), each the first search of its user (since 2c15fd7 that search
counts the scope and, at 100 memories, loads it and searches it resident; before, the store path),
then the same users again once \`memory.warm\` loaded their scopes (resident; until this run the second pass
came before the background loads and measured the store path again); then \`memory.optimize()\` and the same on ${bulk.searches} other users.

${chartImage('First search of a scope (store path) vs resident, right after the bulk load and after optimize()', 'search-bulk.svg')}

| store | load s | memories/s | right after: first search p50 / p95 / p99 ms | resident | optimize s | after optimize: first search | resident | first-search p50 ratio |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ${bulk.memories.toLocaleString('en')} | ${fmt(bulk.loadSeconds)} | ${fmt(bulk.memories / bulk.loadSeconds, 0)} | ${l(bulk.afterLoad)} | ${l(bulk.afterLoadResident)} | ${fmt(bulk.optimizeSeconds)} | ${l(bulk.afterOptimize)} | ${l(bulk.afterOptimizeResident)} | ${fmt(bulk.afterLoad.p50Ms / bulk.afterOptimize.p50Ms, 2)}x |
`
}

/**
 * The calibration: what a bare node:http server manages at 16 connections when each request costs
 * a fixed amount of CPU. Absent in runs before it was added.
 */
function bareSection(result: SearchSuiteResult): string {
  const bare = result.bareHttp
  if (!bare) return ''
  const rows = bare.loads.map((load) => {
    const m = load.median
    const main = m.serverCpuUs?.mainThread
    const work = load.workerUs === undefined ? `${load.workUs}` : `${load.workUs} + ${load.workerUs} on a worker`
    return `| ${work} | ${fmt(m.requestsPerSecond, 0)} | ${fmt(m.p99Ms, 2)} | ${fmt(main, 0)} | ${main === undefined ? '' : fmt(main - load.workUs, 0)} | ${fmt(m.serverCpuUs?.allThreads, 0)} | ${m.errors + m.non2xx} | ${load.runs.map((r) => fmt(r.requestsPerSecond, 0)).join(' / ')} |`
  })
  return `
### Calibration: a bare node:http server

What this machine's HTTP stack leaves to a handler: a bare \`node:http\` server (\`bare-server.ts\`, no framework,
no engine) that reads each request, spins the given µs of CPU on its main thread, and answers
${bare.responseBytes.toLocaleString('en')} bytes (a search response's size), driven as the search load: autocannon in the bench process,
16 connections, ${bare.secondsPerRun} s per run, ${bare.loads[0]?.runs.length ?? 0} run(s), medians. "Beyond the work" is its main thread's CPU per
request minus the spin: what serving one request costs at that rate. The search rows above compare with the row
whose work is nearest to the server's CPU per search request less its \`/health\` CPU. A row "+ N on a worker" also
spins N µs a request on a worker thread, which answers ten hits for the main thread to serialise: what the engine
on the second core, HTTP on the main one, could reach here at today's costs (the load generator shares the machine).

| work µs/request | requests/s | p99 ms | main thread CPU µs/request | beyond the work | all threads CPU µs/request | errors + non-2xx | each run (requests/s) |
|---:|---:|---:|---:|---:|---:|---:|---|
${rows.join('\n')}
`
}

/** Search over HTTP against the machine's own ceiling, `GET /health` (the suite has no other peer). */
export function searchHeadlines(result: SearchSuiteResult): Headline[] {
  const search = httpLoad(result, 'search', 16)
  const health = httpLoad(result, 'health', 16)
  const target = searchTargets(result)[1]
  if (!search || !health) return []
  return [
    {
      peer: "`GET /health` (this machine's HTTP ceiling)",
      what: 'HTTP hybrid search, 16 connections (requests/s)',
      agentmem: fmt(search.requestsPerSecond, 0),
      other: fmt(health.requestsPerSecond, 0),
      ratio: `${fmt(target?.measured, 3)}x`,
      target,
    },
  ]
}

const loadName: Record<HttpLoad['name'], string> = { health: 'GET /health', search: 'hybrid search', mix: '1 add : 4 searches' }

export function searchCharts({ result }: SuiteRun<SearchSuiteResult>): Record<string, Chart> {
  const { bulk } = result
  const http = result.http.loads.map((l) => {
    const health = httpLoad(result, 'health', l.connections)?.requestsPerSecond ?? Number.NaN
    const perSecond = fmt(l.median.requestsPerSecond, 0)
    return {
      requests: loadName[l.name],
      connections: `${l.connections} connection${l.connections === 1 ? '' : 's'}`,
      requestsPerSecond: l.median.requestsPerSecond,
      label: l.name === 'health' ? perSecond : `${perSecond} (${fmt(l.median.requestsPerSecond / health, 3)}x /health)`,
    }
  })
  const phases = [
    { phase: 'after the load', path: 'first search of a scope', stats: bulk.afterLoad },
    { phase: 'after the load', path: 'resident', stats: bulk.afterLoadResident },
    { phase: 'after optimize()', path: 'first search of a scope', stats: bulk.afterOptimize },
    { phase: 'after optimize()', path: 'resident', stats: bulk.afterOptimizeResident },
  ].flatMap(({ phase, path, stats }) => (['p50', 'p95', 'p99'] as const).map((percentile) => ({ phase, path, percentile, ms: stats[`${percentile}Ms`] })))
  return {
    'search-http.svg': {
      title: {
        text: 'HTTP requests/s against GET /health',
        subtitle: "higher is better; /health is what this machine's HTTP stack manages at all; server and autocannon share 2 cores",
      },
      data: { values: http },
      facet: { row: { field: 'connections', type: 'nominal', title: null, sort: 'descending', header: { labelAngle: 0, labelAlign: 'left' } } },
      spec: {
        width: 480,
        encoding: {
          y: { field: 'requests', type: 'nominal', title: null, sort: Object.values(loadName) },
          x: { field: 'requestsPerSecond', type: 'quantitative', title: 'requests/s' },
        },
        layer: [
          { mark: 'bar', encoding: { color: { field: 'requests', type: 'nominal', legend: null, sort: Object.values(loadName) } } },
          { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { text: { field: 'label', type: 'nominal' } } },
        ],
      },
      // The mix runs at 16 connections only.
      resolve: { scale: { y: 'independent' } },
    },
    'search-bulk.svg': {
      title: {
        text: `Hybrid search after a ${bulk.memories.toLocaleString('en')}-memory bulk load (ms; lower is better)`,
        subtitle: "a scope's first search goes to the store and loads it; later ones are resident",
      },
      data: { values: phases },
      mark: 'bar',
      width: 200,
      height: 200,
      encoding: {
        column: { field: 'percentile', type: 'nominal', title: null },
        x: { field: 'phase', type: 'nominal', title: null, sort: ['after the load', 'after optimize()'], axis: { labelAngle: 0 } },
        xOffset: { field: 'path', type: 'nominal' },
        y: { field: 'ms', type: 'quantitative', title: 'ms' },
        color: { field: 'path', type: 'nominal', title: null, legend: { orient: 'top' } },
      },
    },
  }
}
