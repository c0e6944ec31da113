import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'

/**
 * CI smoke: each suite's `--quick` run finishes and writes its report. It checks that the
 * harness works, never how fast anything is (2 shared cores are no place for speed targets).
 */
const bench = fileURLToPath(new URL('..', import.meta.url))
let out: string
// One `pnpm bench all --quick`, as a user would run it; each suite's report is then checked.
// Minutes, not seconds: mem0's first run also builds better-sqlite3 (about a minute).
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'agentmem-bench-smoke-'))
  await promisify(execFile)('pnpm', ['bench', 'all', '--quick', '--out', out], { cwd: bench, env: { ...process.env, LANCEDB_LOG: 'error' } })
}, 1_800_000)
afterAll(async () => {
  await rm(out, { recursive: true, force: true })
})

for (const [suite, heading] of [
  ['embeddings', '| contender | mode | texts/s |'],
  ['memory', '## By store size'],
  ['mem0', '## By store size'],
  ['locomo', '### By category: R@10 / nDCG@10'],
  ['server', '| routes | connections |'],
  ['search', '| requests | connections | requests/s | x `/health` |'],
  ['infer', '## With the LLM down'],
  ['rerank', '| reranker | candidates | p50 ms |'],
] as const) {
  it(`pnpm bench all --quick writes the ${suite} report and its charts`, () => {
    const report = readFileSync(join(out, `${suite}.md`), 'utf8')
    expect(report).toContain('quick smoke run')
    expect(report.replace(/ +/g, ' ')).toContain(heading.replace(/ +/g, ' '))
    expect(existsSync(join(out, `${suite}.json`))).toBe(true)
    const charts = [...report.matchAll(/!\[[^\]]*\]\(([^)]+\.svg)\)/g)].map((m) => m[1] as string)
    expect(charts.length).toBeGreaterThan(0)
    for (const chart of charts) expect(readFileSync(join(out, chart), 'utf8')).toMatch(/^<svg /)
  })
}

/**
 * Issue 18: a ranking change must not cost quality on the quick set (deterministic: same data,
 * same model). Hybrid on categories 1-4 of conv-26 and conv-30, in the quick run: Recall@10 62.8
 * before the BM25 length normalisation and conversation context, 70.4 after; with feedback and
 * context weighted towards the next message, Recall@10 71.78 and nDCG@10 54.70.
 */
it('keeps LoCoMo quick-set hybrid Recall@10 and nDCG@10 at their measured level', () => {
  const result = JSON.parse(readFileSync(join(out, 'locomo.json'), 'utf8')) as {
    runs: Array<{ retrievers: Array<{ retriever: string; byGroup: Record<string, { recall10: { mean: number }; ndcg10: { mean: number } }> }> }>
  }
  const hybrid = result.runs[0]?.retrievers.find((r) => r.retriever === 'AgentMem hybrid')
  expect(hybrid?.byGroup['1-4']?.recall10.mean).toBeGreaterThanOrEqual(71.5)
  expect(hybrid?.byGroup['1-4']?.ndcg10.mean).toBeGreaterThanOrEqual(54.5)
})
