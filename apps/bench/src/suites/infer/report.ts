import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, title } from '../../report/markdown.js'
import type { Headline } from '../../suite.js'
import type { InferContenderResult, InferSuiteResult } from './run.js'

const name = (c: string) => (c === 'agentmem' ? 'AgentMem' : 'Mem0 (mem0ai/oss)')
const contenders = (result: InferSuiteResult) => ({
  ours: result.contenders.find((c) => c.contender === 'agentmem'),
  theirs: result.contenders.find((c) => c.contender === 'mem0'),
})
const tokens = (c: InferContenderResult) => c.promptTokensPerAdd + c.completionTokensPerAdd

/** The suite states no targets: it compares the two pipelines. */
export const inferTargets = (_result: InferSuiteResult): Target[] => []

export function inferHeadlines(result: InferSuiteResult): Headline[] {
  const { ours, theirs } = contenders(result)
  if (!ours || !theirs) return []
  const peer = 'Mem0 (mem0ai/oss)'
  return [
    {
      peer,
      what: 'add with inference, ms outside the LLM (p50; scripted LLM)',
      agentmem: `${fmt(ours.excludingLlm.p50Ms)} ms`,
      other: `${fmt(theirs.excludingLlm.p50Ms)} ms`,
      ratio: `${fmt(theirs.excludingLlm.p50Ms / ours.excludingLlm.p50Ms, 2)}x`,
    },
    {
      peer,
      what: 'LLM tokens per add (prompt + completion)',
      agentmem: fmt(tokens(ours), 0),
      other: fmt(tokens(theirs), 0),
      ratio: `${fmt(tokens(theirs) / tokens(ours))}x fewer`,
    },
    {
      peer,
      what: 'adds while the LLM is down: inputs kept',
      agentmem: `${ours.outage.adds - ours.outage.threw} of ${ours.outage.adds} (${ours.outage.kept} memories)`,
      other: `${theirs.outage.adds - theirs.outage.threw} of ${theirs.outage.adds} (${theirs.outage.kept} memories)`,
      ratio: '',
    },
  ]
}

export function inferReport(run: SuiteRun<InferSuiteResult>): string {
  const { quick, result } = run
  const rows = result.contenders.map(
    (c) =>
      `| ${name(c.contender)} | ${fmt(c.llmCallsPerAdd, 2)} | ${fmt(c.promptTokensPerAdd, 0)} | ${fmt(c.completionTokensPerAdd, 0)} | ${fmt(c.excludingLlm.p50Ms)} / ${fmt(c.excludingLlm.p95Ms)} / ${fmt(c.excludingLlm.p99Ms)} | ${fmt(c.wall.p50Ms)} | ${fmt(c.memories / c.adds, 2)} |`,
  )
  const outage = result.contenders.map(
    (c) => `| ${name(c.contender)} | ${c.outage.adds} | ${c.outage.threw} | ${c.outage.kept} | ${fmt(c.outage.secondsPerAdd, 2)} |`,
  )
  const { ours, theirs } = contenders(result)
  const ratio = ours && theirs ? theirs.excludingLlm.p50Ms / ours.excludingLlm.p50Ms : Number.NaN
  return `${title('Inference mode: AgentMem vs Mem0 (mem0ai/oss)', quick)}

${generatedBy(run)}

Both contenders add ${result.adds.toLocaleString('en')} LoCoMo turn pairs (speaker A as the user, B as the assistant; one scope
per conversation) with inference on, interleaved add by add, after 5 warm-up adds each. They share one
embedder instance (${result.model}) and one scripted LLM: a local HTTP server speaking the OpenAI
chat-completions protocol that answers at once with the same ${result.factsPerAdd} facts per add (the two turns' texts), in
each pipeline's own format, and ADD for every AgentMem decision. Tokens are the server's count (characters / 4),
so they measure prompt size. "Outside the LLM" is the wall time minus the add's LLM calls times one scripted
call's measured round trip (${fmt(result.llmRoundTripMs, 2)} ms).

${chartImage('Time per add outside the LLM and tokens per add, AgentMem vs Mem0', 'infer.svg')}

| contender | LLM calls / add | prompt tokens / add | completion tokens / add | ms / add outside the LLM, p50 / p95 / p99 | wall ms / add, p50 | memories reported / add |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Mem0 / AgentMem, time per add outside the LLM (p50): **${fmt(ratio, 2)}x**.

## With the LLM down

The scripted LLM answers 500 to every call. The adds go to a fresh scope; "kept" counts the memories in that
scope afterwards.

| contender | adds | threw | memories kept | seconds / add |
|---|---:|---:|---:|---:|
${outage.join('\n')}
`
}

export function inferCharts({ result }: SuiteRun<InferSuiteResult>): Record<string, Chart> {
  const time = result.contenders.flatMap((c) =>
    (['p50', 'p95', 'p99'] as const).map((p) => ({ contender: name(c.contender), percentile: p, ms: c.excludingLlm[`${p}Ms`] })),
  )
  const tokenRows = result.contenders.flatMap((c) => [
    { contender: name(c.contender), kind: 'prompt', tokens: c.promptTokensPerAdd },
    { contender: name(c.contender), kind: 'completion', tokens: c.completionTokensPerAdd },
  ])
  const color = { field: 'contender', type: 'nominal', title: null, legend: { orient: 'top' } } as const
  return {
    'infer.svg': {
      title: { text: 'Adds with inference, AgentMem vs Mem0 (lower is better)', subtitle: 'same embedder, one scripted LLM that answers at once' },
      hconcat: [
        {
          title: 'ms per add outside the LLM',
          data: { values: time },
          mark: 'bar',
          width: 240,
          height: 200,
          encoding: {
            x: { field: 'percentile', type: 'nominal', title: null, axis: { labelAngle: 0 } },
            xOffset: { field: 'contender', type: 'nominal' },
            y: { field: 'ms', type: 'quantitative', title: 'ms' },
            color,
          },
        },
        {
          title: 'LLM tokens per add',
          data: { values: tokenRows },
          mark: 'bar',
          width: 240,
          height: 200,
          encoding: {
            x: { field: 'kind', type: 'nominal', title: null, sort: ['prompt', 'completion'], axis: { labelAngle: 0 } },
            xOffset: { field: 'contender', type: 'nominal' },
            y: { field: 'tokens', type: 'quantitative', title: 'tokens' },
            color,
          },
        },
      ],
    },
  }
}
