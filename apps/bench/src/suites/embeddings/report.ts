import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, targetsTable, title } from '../../report/markdown.js'
import type { Headline } from '../../suite.js'
import type { EmbeddingsSuiteResult, ModeResult } from './run.js'

/** The MiniLM-shaped contenders: the offline default model is another model, charted apart would mislead. */
const shaped = (result: EmbeddingsSuiteResult) => Object.entries(result.contenders).filter(([name]) => !name.includes('offline'))

function find(result: EmbeddingsSuiteResult, prefix: string, mode: string): ModeResult | undefined {
  return shaped(result)
    .find(([name]) => name.startsWith(prefix))?.[1]
    .find((r) => r.mode === mode)
}

const tps = (result: EmbeddingsSuiteResult, prefix: string, mode: string) => find(result, prefix, mode)?.textsPerSecond ?? Number.NaN

export function embeddingsTargets(result: EmbeddingsSuiteResult): Target[] {
  const e64 = tps(result, 'E ', 'single c=64')
  const ratio = (label: string, measured: number, min: number): Target => ({ label, measured, goal: `>= ${min}x`, met: measured >= min, digits: 2 })
  const eP50 = find(result, 'E ', 'single c=1')?.p50Ms ?? Number.NaN
  const rawP50 = find(result, 'A ', 'single c=1')?.p50Ms ?? Number.NaN
  const loop = (prefix: string) => find(result, prefix, 'single c=64')?.loopP99Ms ?? Number.NaN
  return [
    ratio('E c=64 vs A raw batches (texts/s)', e64 / tps(result, 'A ', 'batch'), 0.85),
    // Issue 14 asks 1.5x (the first embeddings issue asked 3x: a CPU transformer gains little from batching).
    ratio('E c=64 vs B one lock c=64', e64 / tps(result, 'B ', 'single c=64'), 1.5),
    ratio('E c=64 vs C pool c=64', e64 / tps(result, 'C ', 'single c=64'), 1.5),
    ratio('E c=64 vs D transformers.js single calls c=64', e64 / tps(result, 'D ', 'single c=64'), 2),
    ratio('E batch call vs D batch call', tps(result, 'E ', 'batch') / tps(result, 'D ', 'batch'), 1),
    { label: 'E p50 at c=1 vs one raw run', measured: eP50 / rawP50, goal: '<= 1.1x', met: eP50 / rawP50 <= 1.1, digits: 2 },
    ...(['1', '8', '64'] as const).map((c): Target => {
      const p99 = find(result, 'E ', `single c=${c}`)?.loopP99Ms ?? Number.NaN
      return { label: `E event-loop delay p99 at c=${c} (ms)`, measured: p99, goal: '< 10 ms', met: p99 < 10, digits: 2 }
    }),
    { label: 'B event-loop delay p99 at c=64 (ms)', measured: loop('B '), goal: '>= 10 ms (blocks)', met: loop('B ') >= 10, digits: 2 },
    { label: 'D event-loop delay p99 at c=64 (ms)', measured: loop('D '), goal: '>= 10 ms (blocks)', met: loop('D ') >= 10, digits: 2 },
    ...(result.int8Fidelity ? [ratio('F int8 c=64 vs E fp32 c=64 (texts/s)', tps(result, 'F ', 'single c=64') / e64, 1.8)] : []),
    // Issue 14: ours at least every other contender (lock, pool, transformers.js, fastembed-js) at each concurrency.
    ...(['1', '8', '64'] as const).map((c) => {
      const mode = `single c=${c}`
      const best = Math.max(...['B ', 'C ', 'D ', 'G '].map((p) => tps(result, p, mode)).filter((v) => !Number.isNaN(v)))
      return ratio(`E c=${c} vs the best of B, C, D, G at c=${c}`, tps(result, 'E ', mode) / best, 1)
    }),
  ]
}

function ratio64(result: EmbeddingsSuiteResult, prefix: string): Target {
  const measured = tps(result, 'E ', 'single c=64') / tps(result, prefix, 'single c=64')
  return { label: `E c=64 vs ${prefix.trim()} c=64`, measured, goal: '>= 1x', met: measured >= 1, digits: 2 }
}

export function embeddingsHeadlines(result: EmbeddingsSuiteResult): Headline[] {
  const [, b, c, d] = embeddingsTargets(result)
  const e64 = fmt(tps(result, 'E ', 'single c=64'), 0)
  const row = (peer: string, prefix: string, target: Target | undefined): Headline => ({
    peer,
    what: 'texts/s, 64 concurrent single-text callers (MiniLM-shaped model)',
    agentmem: e64,
    other: fmt(tps(result, prefix, 'single c=64'), 0),
    ratio: `${fmt(target?.measured, 2)}x`,
    target,
  })
  const loop = (prefix: string) => `${fmt(find(result, prefix, 'single c=64')?.loopP99Ms)} ms`
  const g = find(result, 'G ', 'single c=64')
  return [
    row('transformers.js pipeline', 'D ', d),
    ...(g ? [row('fastembed-js', 'G ', ratio64(result, 'G '))] : []),
    row('one ONNX session behind a lock', 'B ', b),
    row('a pool of N sessions', 'C ', c),
    { peer: 'transformers.js pipeline', what: 'event-loop delay p99 at 64 callers', agentmem: loop('E '), other: loop('D '), ratio: '' },
  ]
}

export function embeddingsReport(run: SuiteRun<EmbeddingsSuiteResult>): string {
  const { quick, result } = run
  const rows = Object.entries(result.contenders).flatMap(([name, modes]) =>
    modes.map(
      (r) =>
        `| ${name} | ${r.mode} | ${fmt(r.textsPerSecond, 0)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.loopP99Ms)} | ${fmt(r.loopMaxMs)} | ${fmt(r.peakRssMb, 0)} |`,
    ),
  )
  return `${title('Embeddings benchmark', quick)}

${generatedBy(run, { versions: true })}

Model: a BERT with all-MiniLM-L6-v2's exact shape (6 layers, hidden 384, 12 heads, FFN 1536, vocab 30522) and
seeded random weights, with the real MiniLM tokenizer: the same compute as the real model (real weights cannot be
downloaded here). Texts: ${result.texts} LoCoMo dialogue turns (\`speaker: text\`). Each contender runs in its own
process (clean RSS, no shared threads); ${result.repetitions} repetition(s), interleaved, medians reported.
Single-text modes are closed loops of c concurrent callers; latency is per call.

${chartImage('Texts/s by concurrency, MiniLM-shaped model', 'embeddings-throughput.svg')}

${chartImage('Event-loop delay p99 at 64 callers', 'embeddings-event-loop.svg')}

| contender | mode | texts/s | p50 ms | p99 ms | loop delay p99 ms | loop delay max ms | peak RSS MB |
|---|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

${int8Section(result)}Offline default model (glove-100d-sif): first build ${fmt(result.offlineModel.firstBuildS)} s, cached start ${fmt(result.offlineModel.cachedStartS, 2)} s.

## Targets

${targetsTable(embeddingsTargets(result))}

Notes:
- A tokenises inside its timed loop (the tokenizer runs on the main thread), like every other contender.
- C uses the pool's least-loaded dispatch instead of strict round-robin, which can only flatter C.
- "single c=1" for A is one raw run per text: the latency floor E is compared with.
- G is fastembed-js 2.1.0 as shipped: single texts through \`queryEmbed\`, the batch through \`embed(texts, 32)\`. It pads
  every text to the model's maximum length (256 here) and pools the first token, so its vectors differ from the others'.
`
}

function int8Section(result: EmbeddingsSuiteResult): string {
  const f = result.int8Fidelity
  if (!f) return ''
  return `F runs the same random weights dynamically quantized the way ORT's \`quantize_dynamic\` does it (int8 weights, one
scale per tensor, uint8 activations scaled per batch: DynamicQuantizeLinear, MatMulInteger, int8 embedding tables),
so it measures ORT's real integer kernels. Fidelity over ${f.texts} LoCoMo turns, fp32 vs int8 vectors of the same text
(batches of 8): mean cosine ${fmt(f.meanCosine, 5)}, min ${fmt(f.minCosine, 5)}. Random weights are not trained ones:
a real model's int8 error depends on its weight ranges, so this bounds the kernels' speed, not a real model's quality.

`
}

/** E, AgentMem's embedder, in the AgentMem blue of every chart; F, its int8 run, in a lighter blue. */
const contenderColour = (name: string) => ({ A: '#94a3b8', B: '#f59e0b', C: '#16a34a', D: '#dc2626', E: '#2563eb', F: '#60a5fa', G: '#9333ea' })[name[0] as 'A']
const colour = (names: string[]) => ({ domain: names, range: names.map(contenderColour) })

const modeLabel = (mode: string) => (mode === 'batch' ? 'one batch call' : mode.replace('single ', ''))

export function embeddingsCharts({ result }: SuiteRun<EmbeddingsSuiteResult>): Record<string, Chart> {
  const rows = shaped(result).flatMap(([contender, modes]) => modes.map((m) => ({ ...m, contender, mode: modeLabel(m.mode) })))
  const order = ['c=1', 'c=8', 'c=64', 'one batch call']
  const names = shaped(result).map(([name]) => name)
  return {
    'embeddings-throughput.svg': {
      title: { text: 'Texts/s by concurrency (MiniLM-shaped model; higher is better)', subtitle: 'c = concurrent single-text callers' },
      data: { values: rows },
      mark: 'bar',
      width: 160,
      height: 220,
      encoding: {
        column: { field: 'mode', type: 'ordinal', sort: order, title: null },
        x: { field: 'contender', type: 'nominal', axis: null },
        y: { field: 'textsPerSecond', type: 'quantitative', title: 'texts/s' },
        color: { field: 'contender', type: 'nominal', title: null, scale: colour(names), legend: { orient: 'bottom', columns: 2 } },
        tooltip: [{ field: 'contender' }, { field: 'textsPerSecond', format: '.0f' }],
      },
    },
    'embeddings-event-loop.svg': {
      title: {
        text: 'Event-loop delay p99 with 64 callers',
        subtitle: 'ms, log scale, lower is better; dashed line: 10 ms, above which the process stalls its other work',
      },
      width: 420,
      layer: [
        {
          data: { values: rows.filter((r) => r.mode === 'c=64') },
          encoding: {
            y: { field: 'contender', type: 'nominal', title: null },
            // A log scale has no zero: bars start at 0.1 ms.
            x: { field: 'loopP99Ms', type: 'quantitative', scale: { type: 'log', domain: [0.1, 1000] }, title: 'ms' },
          },
          layer: [
            { mark: 'bar', encoding: { x2: { datum: 0.1 }, color: { field: 'contender', type: 'nominal', scale: colour(names), legend: null } } },
            { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { text: { field: 'loopP99Ms', type: 'quantitative', format: '.1f' } } },
          ],
        },
        {
          data: { values: [{ ms: 10 }] },
          mark: { type: 'rule', strokeDash: [6, 4], color: '#dc2626' },
          encoding: { x: { field: 'ms', type: 'quantitative' } },
        },
      ],
    },
  }
}
