import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, title } from '../../report/markdown.js'
import type { ServerSuiteResult } from './run.js'

const routes = (api: string) => (api === 'native' ? 'native /v1' : 'Mem0 MemoryClient routes')
const failures = (result: ServerSuiteResult) => result.runs.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx, 0)

export const serverTargets = (result: ServerSuiteResult): Target[] => [
  { label: 'errors and non-2xx responses, all runs', measured: failures(result), goal: '0', met: failures(result) === 0, digits: 0 },
]

export function serverReport(run: SuiteRun<ServerSuiteResult>): string {
  const { quick, result } = run
  const rows = result.runs.map(
    (r) =>
      `| ${routes(r.api)} | ${r.connections} | ${fmt(r.requestsPerSecond, 0)} | ${fmt(r.p50Ms, 0)} | ${fmt(r.p99Ms, 0)} | ${r.requests.toLocaleString('en')} | ${r.errors + r.timeouts} | ${r.non2xx} | ${fmt(r.rssStartMb, 0)} → ${fmt(r.rssPeakMb, 0)} → ${fmt(r.rssEndMb, 0)} |`,
  )
  const overTime = result.requestSamples
    ? ''
    : '\n\nThis run predates per-second request counts in the JSON, so its chart shows requests/s per run instead of over time.'
  return `${title('Server load benchmark', quick)}

${generatedBy(run)}

\`agentmem serve\` in a child process on 127.0.0.1 (offline default model, local LanceDB + SQLite, info logs,
no rate limit), preloaded with ${result.preloaded.toLocaleString('en')} LoCoMo turns for ${result.users} users, and driven by
autocannon in the bench process (both share the 2 cores). Each connection loops over one add and four
searches (hybrid, top 10, one user's scope), so a fifth of the requests write. Latencies are per request.

| routes | connections | requests/s | p50 ms | p99 ms | requests | errors | non-2xx | server RSS MB (start → peak → end) |
|---|---:|---:|---:|---:|---:|---:|---:|---|
${rows.join('\n')}

Errors and non-2xx responses across all runs: **${failures(result)}** (target: 0, ${failures(result) === 0 ? 'met' : '**missed**'}).

${chartImage('Requests/s and server RSS over the run', 'server.svg')}${overTime}
`
}

export function serverCharts({ result }: SuiteRun<ServerSuiteResult>): Record<string, Chart> {
  const run = (r: ServerSuiteResult['runs'][number]) => `${routes(r.api)}, ${r.connections} conn.`
  // Runs recorded with their start time get a band on the RSS timeline.
  const windows = result.runs.flatMap((r) => (r.startS === undefined ? [] : [{ run: run(r), from: r.startS, to: r.startS + r.seconds }]))
  const requests: Chart = result.requestSamples
    ? {
        title: 'requests/s over the run',
        data: { values: result.requestSamples },
        mark: 'line',
        width: 640,
        height: 160,
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the server started' },
          y: { field: 'requests', type: 'quantitative', title: 'requests/s' },
        },
      }
    : {
        title: 'requests/s by run (each run 1 add : 4 searches per connection)',
        data: { values: result.runs.map((r) => ({ ...r, routes: routes(r.api) })) },
        mark: 'bar',
        width: 260,
        height: 160,
        encoding: {
          x: { field: 'connections', type: 'ordinal', title: 'connections', axis: { labelAngle: 0 } },
          xOffset: { field: 'routes', type: 'nominal' },
          y: { field: 'requestsPerSecond', type: 'quantitative', title: 'requests/s' },
          color: { field: 'routes', type: 'nominal', title: null, sort: [routes('native'), routes('mem0')], legend: { orient: 'top' } },
        },
      }
  const rss: Chart = {
    title: 'server RSS over the run (MB)',
    width: 640,
    height: 160,
    layer: [
      ...(windows.length > 0
        ? [
            {
              data: { values: windows },
              mark: { type: 'rect', opacity: 0.12 },
              encoding: {
                x: { field: 'from', type: 'quantitative' },
                x2: { field: 'to' },
                color: { field: 'run', type: 'nominal', title: 'runs', sort: null, legend: { orient: 'bottom', columns: 3 } },
              },
            } as const,
          ]
        : []),
      {
        data: { values: result.rssSamples },
        mark: { type: 'line', color: '#2563eb' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the server started' },
          y: { field: 'mb', type: 'quantitative', title: 'MB', scale: { zero: false } },
        },
      },
    ],
  }
  return {
    'server.svg': {
      title: { text: 'agentmem serve under load', subtitle: `${result.preloaded.toLocaleString('en')} memories preloaded` },
      vconcat: [requests, rss],
    } as Chart,
  }
}
