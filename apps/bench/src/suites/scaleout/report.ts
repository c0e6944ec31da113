import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, targetsTable, title } from '../../report/markdown.js'
import type { ReplicaLoad, ScaleoutSuiteResult } from './run.js'

const loadName: Record<ReplicaLoad['name'], string> = { search: 'hybrid search', mix: '1 add : 4 searches' }
const failures = (result: ScaleoutSuiteResult) => result.loads.reduce((n, l) => n + l.runs.reduce((m, r) => m + r.errors + r.non2xx, 0), 0)

export function scaleoutTargets(result: ScaleoutSuiteResult): Target[] {
  return [
    { label: 'errors and non-2xx responses, all runs', measured: failures(result), goal: '0', met: failures(result) === 0, digits: 0 },
    {
      label: "another replica's write visible to a resident search, p99 (ms)",
      measured: result.visibility.p99Ms,
      goal: '<= 1000 (the documented bound)',
      met: result.visibility.p99Ms <= 1000,
      digits: 0,
    },
    ...(result.duringMaintenance
      ? [
          {
            label: "a write acknowledged during a maintenance visible to another replica's resident search, max (ms)",
            measured: result.duringMaintenance.during.maxMs,
            goal: '<= 1000 (the documented bound)',
            met: result.duringMaintenance.during.maxMs <= 1000,
            digits: 0,
          },
        ]
      : []),
  ]
}

export function scaleoutReport(run: SuiteRun<ScaleoutSuiteResult>): string {
  const { quick, result } = run
  const rows = result.loads.map((l) => {
    const m = l.median
    return `| ${loadName[l.name]} | ${l.replicas} | ${fmt(m.requestsPerSecond, 0)} | ${fmt(m.p50Ms, 1)} | ${fmt(m.p99Ms, 1)} | ${m.errors} | ${m.non2xx} | ${l.runs.map((r) => fmt(r.requestsPerSecond, 0)).join(' / ')} |`
  })
  const storage = result.storage.map(
    (s) => `| ${s.store} | ${s.searches} | ${fmt(s.latency.p50Ms, 2)} | ${fmt(s.latency.p95Ms, 2)} | ${fmt(s.latency.p99Ms, 2)} |`,
  )
  const v = result.visibility
  const logRows = Object.entries(result.logEvents ?? {}).flatMap(([replica, events]) =>
    Object.entries(events)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([event, count]) => `| ${replica} | ${event} | ${count} |`),
  )
  return `${title('Scale-out benchmark: replicas on PostgreSQL and Ceph RGW', quick)}

${generatedBy(run).slice(0, -1)}. Load average (1 min) at the start ${fmt(result.loadAverage.start, 2)}, at the end ${fmt(result.loadAverage.end, 2)}.

Real services on this machine: PostgreSQL 15 (metadata, API keys, the leader lock) and a single-node Ceph
RGW serving S3 for LanceDB, started by \`@agentmem/test-services\`. **On 2 cores the replicas, PostgreSQL,
Ceph and the load generator share the same CPU**: a second or third replica adds no cores here, so these
numbers show what coordination costs and that nothing breaks, not how throughput scales on more machines.
Every replica is \`agentmem serve\` with the offline default model, info logs, no rate limit.

## Targets

${targetsTable(scaleoutTargets(result))}

## Requests/s by replica count

${result.memories.toLocaleString('en')} LoCoMo turns over ${result.users} users, preloaded through one replica. autocannon spreads 16
connections over the replicas (${result.secondsPerRun} s per run, ${result.repetitions} repetition(s), medians); requests/s are summed,
latencies are every replica's 2xx responses together, in ms. In the mix a fifth of the requests add: a
follower forwards each to the leader and answers once the leader's notices of it have reached it (of its commit, or, in runs
before the leader told its commits, of its LanceDB write).

${chartImage('Requests/s by replica count', 'scaleout-requests.svg')}

| requests | replicas | requests/s | p50 ms | p99 ms | errors | non-2xx | each run (requests/s) |
|---|---:|---:|---:|---:|---:|---:|---|
${rows.join('\n')}

## Time to see another replica's write

${v.trials} trials: an add acknowledged by a follower, then searches on another replica's resident copy of that
scope until the new memory ranks first. From acknowledgement to found: p50 **${fmt(v.p50Ms, 0)} ms**, p95 ${fmt(v.p95Ms, 0)} ms,
p99 ${fmt(v.p99Ms, 0)} ms, max ${fmt(v.maxMs, 0)} ms. The leader tells the followers each write at its commit (PostgreSQL
NOTIFY with the rows' images), and they lay them over their resident scopes; its LanceDB write follows after a 100 ms linger
(in runs before commit \`dc22d7d\`, the notice came after that write).

${result.duringMaintenance ? duringMaintenanceSection(result.duringMaintenance) : ''}## Search latency: Ceph RGW vs local disk

In process, resident index off (every search reads LanceDB: the path of a scope read for the first time, or
one too big to hold), after \`optimize()\`, sequential hybrid searches, top 10; latencies in ms.

| store | searches | p50 | p95 | p99 |
|---|---:|---:|---:|---:|
${storage.join('\n')}

## What the replicas logged

Each replica's JSON log at info and up over the whole run (scaleout-1 leads from the start; success
access lines are at debug and not counted; \`memory.maintain\` is logged at info when it takes 1 s or more).

| replica | level and event | count |
|---|---|---:|
${logRows.join('\n')}
`
}

export function scaleoutCharts({ result }: SuiteRun<ScaleoutSuiteResult>): Record<string, Chart> {
  return {
    'scaleout-requests.svg': {
      title: { text: 'Requests/s by replica count', subtitle: 'replicas, PostgreSQL, Ceph RGW and autocannon share 2 cores' },
      data: {
        values: result.loads.map((l) => ({
          requests: loadName[l.name],
          replicas: `${l.replicas} replica${l.replicas === 1 ? '' : 's'}`,
          requestsPerSecond: l.median.requestsPerSecond,
          label: fmt(l.median.requestsPerSecond, 0),
        })),
      },
      facet: { row: { field: 'requests', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } } },
      spec: {
        width: 420,
        encoding: {
          y: { field: 'replicas', type: 'nominal', title: null },
          x: { field: 'requestsPerSecond', type: 'quantitative', title: 'requests/s' },
        },
        layer: [
          { mark: 'bar', encoding: { color: { value: '#2563eb' } } },
          { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { text: { field: 'label', type: 'nominal' } } },
        ],
      },
    },
  }
}

function duringMaintenanceSection(m: NonNullable<ScaleoutSuiteResult['duringMaintenance']>): string {
  const row = (name: string, l: NonNullable<ScaleoutSuiteResult['duringMaintenance']>['during']) =>
    `| ${name} | ${l.trials} | ${fmt(l.p50Ms, 0)} | ${fmt(l.p95Ms, 0)} | ${fmt(l.p99Ms, 0)} | ${fmt(l.maxMs, 0)} |`
  return `## Time to see a write made during a maintenance

In process: two replicas on the same services (${m.memories.toLocaleString('en')} LoCoMo turns preloaded), the leader maintaining after
every apply within its time budget (compaction and index refresh on the RGW; ${m.maintenances.count} maintenances, p50
${fmt(m.maintenances.p50Ms, 0)} ms, max ${fmt(m.maintenances.maxMs, 0)} ms). For ${m.seconds} s the leader acknowledges an add every ~50 ms, and the
follower searches its resident copy of the scope until the add ranks first; adds are split by whether a
maintenance was running when the leader acknowledged them (its log says when each ran). The leader tells
followers each write at its commit; its LanceDB write waits for the maintenance.

| acknowledged | adds | p50 ms | p95 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|
${row('during a maintenance', m.during)}
${row('outside one', m.outside)}

`
}
