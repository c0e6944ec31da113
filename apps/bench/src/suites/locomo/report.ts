import type { Chart } from '../../report/chart.js'
import { chartImage, fmt, generatedBy, type SuiteRun, type Target, targetsTable, title } from '../../report/markdown.js'
import type { Headline } from '../../suite.js'
import type { FillerSetResult } from './filler.js'
import type { Estimate } from './metrics.js'
import { depth, type Group, groups, type LocomoSuiteResult, type ModelRun, tuningConversations } from './run.js'

const groupName: Record<Group, string> = {
  '1': '1 multi-hop',
  '2': '2 temporal',
  '3': '3 open-domain',
  '4': '4 single-hop',
  '1-4': 'cats 1–4',
  'held-out': 'cats 1–4 held-out',
  '5': '5 adversarial',
}

/** AgentMem hybrid in the AgentMem blue and Mem0 in orange, as in every chart; the other retrievers lighter. */
const retrieverColours = [
  ['AgentMem vector', '#bfdbfe'],
  ['AgentMem keyword', '#60a5fa'],
  ['AgentMem hybrid', '#2563eb'],
  ['Mem0', '#f59e0b'],
] as const

/** The LoCoMo paper's best retriever (DRAGON, a trained dense model), Recall@10 on categories 1-4: issue 18's bar for the offline model. */
const dragonRecall10 = 66.2

const chartFile = (run: ModelRun) => `locomo-${run.model.replace(/\W+/g, '-')}.svg`

export function locomoTargets(result: LocomoSuiteResult): Target[] {
  return result.runs.flatMap((run) => {
    const hybrid = run.retrievers.find((r) => r.retriever === 'AgentMem hybrid')
    const beatsFloor = (group: Group, label: string): Target[] => {
      const measured = hybrid?.byGroup[group].recall10.mean ?? Number.NaN
      if (Number.isNaN(measured)) return []
      return [
        {
          label: `${run.model}: AgentMem hybrid Recall@10, ${label}`,
          measured,
          goal: `> ${result.floorRecall10} (plain BM25)`,
          met: measured > result.floorRecall10,
        },
        {
          label: `${run.model}: AgentMem hybrid Recall@10, ${label}, against a trained retriever`,
          measured,
          goal: `>= ${dragonRecall10} (DRAGON)`,
          met: measured >= dragonRecall10,
        },
      ]
    }
    const foreign = run.retrievers.reduce((n, r) => n + r.foreignResults, 0)
    return [
      ...beatsFloor('1-4', 'categories 1-4'),
      ...beatsFloor('held-out', 'categories 1-4, held-out conversations'),
      { label: `${run.model}: results from another conversation, all retrievers`, measured: foreign, goal: '0', met: foreign === 0, digits: 0 },
    ]
  })
}

/** The first model's (the offline default's) hybrid retriever against Mem0 and the BM25 floor. */
export function locomoHeadlines(result: LocomoSuiteResult): Headline[] {
  const run = result.runs[0]
  const hybrid = run?.retrievers.find((r) => r.retriever === 'AgentMem hybrid')
  const mem0 = run?.retrievers.find((r) => r.retriever === 'Mem0')
  if (!run || !hybrid || !mem0) return []
  const difference = run.pairs.find((p) => p.b === 'Mem0' && p.metric === 'recall10')?.difference
  const what = `LoCoMo Recall@10, categories 1-4 (${run.model})`
  return [
    {
      peer: 'Mem0 (mem0ai/oss)',
      what,
      agentmem: fmt(hybrid.byGroup['1-4'].recall10.mean),
      other: fmt(mem0.byGroup['1-4'].recall10.mean),
      ratio: difference ? `+${fmt(difference.mean)} points (${fmt(difference.lo)}–${fmt(difference.hi)})` : '',
    },
    {
      peer: 'plain BM25 (PROVENANCE.md)',
      what,
      agentmem: fmt(hybrid.byGroup['1-4'].recall10.mean),
      other: fmt(result.floorRecall10),
      ratio: `+${fmt(hybrid.byGroup['1-4'].recall10.mean - result.floorRecall10)} points`,
      target: locomoTargets(result)[0],
    },
    {
      peer: 'Mem0 (mem0ai/oss)',
      what: `LoCoMo search p50 (${run.model})`,
      agentmem: `${fmt(hybrid.search.p50Ms)} ms`,
      other: `${fmt(mem0.search.p50Ms)} ms`,
      ratio: `${fmt(mem0.search.p50Ms / hybrid.search.p50Ms, 0)}x`,
    },
  ]
}

function fillerSection(filler: FillerSetResult): string {
  const rows = filler.runs.map(
    (r) =>
      `| ${r.fillerWeight === 1 ? '1 (no prior: before)' : `${r.fillerWeight} (default: after)`} | ${fmt(r.hit1)} | ${fmt(r.hit3)} | ${r.fillerFirst} of ${filler.questions} |`,
  )
  return `
### Facts among filler (this repository's own set, not LoCoMo)

${filler.memories} memories in one scope: ${filler.questions} facts and ${filler.memories - filler.questions} acknowledgements, greetings and thanks ("Noted!",
"Got it, thanks!"), as an agent keeping every message stores them. Each fact has one paraphrased question
(apps/bench/src/suites/locomo/filler-set.ts). AgentMem hybrid, top 3, by the Memory's \`fillerWeight\`.

| fillerWeight | Hit@1 % | Hit@3 % | filler ranked first |
|---|---:|---:|---:|
${rows.join('\n')}
`
}

export function locomoReport(header: SuiteRun<LocomoSuiteResult>): string {
  const { quick, result } = header
  const ci = (e: Estimate) => `${fmt(e.mean)} (${fmt(e.lo)}–${fmt(e.hi)})`
  const sections = result.runs.map((run) => {
    const full = (group: Group) =>
      run.retrievers.map((r) => {
        const g = r.byGroup[group]
        return `| ${r.retriever} | ${ci(g.recall1)} | ${ci(g.recall5)} | ${ci(g.recall10)} | ${ci(g.recall20)} | ${ci(g.hit10)} | ${ci(g.ndcg10)} | ${ci(g.mrr)} |`
      })
    const tableHeader = '| retriever | R@1 | R@5 | R@10 | R@20 | Hit@10 | nDCG@10 | MRR |\n|---|---:|---:|---:|---:|---:|---:|---:|'
    const perCategory = run.retrievers.map(
      (r) => `| ${r.retriever} | ${groups.map((g) => `${fmt(r.byGroup[g].recall10.mean)} / ${fmt(r.byGroup[g].ndcg10.mean)}`).join(' | ')} |`,
    )
    const pairs = run.pairs.map((p) => `| ${p.a} − ${p.b} | ${p.metric === 'recall10' ? 'R@10' : 'nDCG@10'} | ${ci(p.difference)} |`)
    const ingest = run.ingest.map(
      (i) =>
        `| ${i.contender === 'agentmem' ? 'AgentMem (addBatch per conversation)' : 'Mem0 (add, 32 concurrent)'} | ${i.turns.toLocaleString('en')} | ${i.memories.toLocaleString('en')} | ${Math.round(i.perSecond).toLocaleString('en')} |`,
    )
    const filler = run.filler ? fillerSection(run.filler) : ''
    const latency = run.retrievers.map(
      (r) => `| ${r.retriever} | ${fmt(r.search.p50Ms)} | ${fmt(r.search.p95Ms)} | ${fmt(r.search.p99Ms)} | ${r.foreignResults} |`,
    )
    return `## Model: ${run.model}

### Categories 1–4 (${result.questions['1-4'].toLocaleString('en')} questions), percent, 95% bootstrap interval

${tableHeader}
${full('1-4').join('\n')}

### Category 5, adversarial (${result.questions['5'].toLocaleString('en')} questions)

${tableHeader}
${full('5').join('\n')}

### By category: R@10 / nDCG@10

${chartImage('Recall@10 by category', chartFile(run))}

| retriever | ${groups.map((g) => `${groupName[g]} (${result.questions[g]})`).join(' | ')} |
|---|${groups.map(() => '---:').join('|')}|
${perCategory.join('\n')}

### Paired differences on categories 1–4 (percentage points, 95% paired bootstrap interval)

| pair | metric | difference |
|---|---|---:|
${pairs.join('\n')}

### Ingest and search

| contender | turns | memories | turns/s |
|---|---:|---:|---:|
${ingest.join('\n')}

| retriever | search p50 ms | p95 ms | p99 ms | results from another conversation |
|---|---:|---:|---:|---:|
${latency.join('\n')}
${filler}`
  })
  return `${title('LoCoMo retrieval quality', quick)}

${generatedBy(header)}

LoCoMo (Maharana et al., ACL 2024; CC BY-NC 4.0, read from \`../shared/data/locomo\`, never copied):
${result.conversations.length} conversations (${result.conversations.join(', ')}), ${result.turns.toLocaleString('en')} turns. One memory per
dialog turn (\`speaker: text\`, plus \`[image: caption]\` for image turns), one user scope per conversation, the
question as the query, top ${depth} results. Evidence ids are normalised as PROVENANCE.md prescribes; questions left with
no usable evidence are skipped. A result counts for every turn it stands for (AgentMem stores identical turns of one
conversation once). Both contenders use the same embedder instance; Mem0 is \`mem0ai/oss\` with \`infer: false\`,
its default stores and \`threshold: 0\`. Intervals: ${result.resamples.toLocaleString('en')} bootstrap resamples of the questions.

Reference floor: plain BM25 reaches Recall@10 ${result.floorRecall10} on categories 1–4 (PROVENANCE.md). AgentMem's hybrid
fusion weight was picked on ${tuningConversations.join(' and ')} (the quick set); "held-out" scores categories 1–4 of the
other conversations only.

## Targets

${targetsTable(locomoTargets(result))}

${sections.join('\n')}`
}

/** Recall@10 by question category, one chart per model, with the bootstrap intervals and the BM25 floor. */
export function locomoCharts({ result }: SuiteRun<LocomoSuiteResult>): Record<string, Chart> {
  const order = groups.map((g) => groupName[g])
  return Object.fromEntries(
    result.runs.map((run) => {
      const values = run.retrievers.flatMap((r) =>
        groups.map((g) => ({ retriever: r.retriever, category: groupName[g], ...r.byGroup[g].recall10, questions: result.questions[g] })),
      )
      const x = { field: 'category', type: 'nominal', sort: order, title: 'question category', axis: { labelAngle: 0 } } as const
      const chart: Chart = {
        title: {
          text: `LoCoMo Recall@10 by question category (${run.model}; higher is better)`,
          subtitle: `whiskers: 95% bootstrap interval; dashed line: plain BM25 on categories 1–4 (${result.floorRecall10})`,
        },
        width: 820,
        height: 260,
        layer: [
          {
            data: { values },
            layer: [
              {
                mark: 'bar',
                encoding: {
                  x,
                  xOffset: { field: 'retriever', type: 'nominal', sort: run.retrievers.map((r) => r.retriever) },
                  y: { field: 'mean', type: 'quantitative', title: 'Recall@10 (%)', scale: { domain: [0, 100] } },
                  color: {
                    field: 'retriever',
                    type: 'nominal',
                    title: null,
                    scale: { domain: retrieverColours.map(([r]) => r), range: retrieverColours.map(([, c]) => c) },
                    legend: { orient: 'top' },
                  },
                },
              },
              {
                mark: { type: 'rule', color: '#333' },
                encoding: {
                  x,
                  xOffset: { field: 'retriever', type: 'nominal', sort: run.retrievers.map((r) => r.retriever) },
                  y: { field: 'lo', type: 'quantitative' },
                  y2: { field: 'hi' },
                },
              },
            ],
          },
          {
            data: { values: [{ floor: result.floorRecall10 }] },
            mark: { type: 'rule', strokeDash: [6, 4], color: '#dc2626' },
            encoding: { y: { field: 'floor', type: 'quantitative' } },
          },
        ],
      }
      return [chartFile(run), chart]
    }),
  )
}
