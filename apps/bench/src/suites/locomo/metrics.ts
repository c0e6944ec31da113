/**
 * Retrieval metrics for one question (binary relevance against the evidence turns) and bootstrap
 * confidence intervals over questions.
 */
import { seededRandom } from '@agentmem/memory/testing'

export const metrics = ['recall1', 'recall5', 'recall10', 'recall20', 'hit10', 'ndcg10', 'mrr'] as const
export type Metric = (typeof metrics)[number]
export type QuestionScores = Record<Metric, number>

/**
 * `ranked[i]` is the set of evidence ids result i stands for: one turn, or several when a store
 * merged identical turns into one memory.
 */
export function scoreRanking(ranked: ReadonlyArray<readonly string[]>, evidence: readonly string[]): QuestionScores {
  const wanted = new Set(evidence)
  const found = new Set<string>()
  const recallAt: number[] = []
  let dcg = 0
  let firstHit = 0
  ranked.forEach((ids, i) => {
    const fresh = ids.filter((id) => wanted.has(id) && !found.has(id))
    for (const id of fresh) found.add(id)
    if (fresh.length > 0 && i < 10) dcg += 1 / Math.log2(i + 2)
    if (firstHit === 0 && ids.some((id) => wanted.has(id))) firstHit = i + 1
    recallAt[i + 1] = found.size / wanted.size
  })
  const recall = (k: number) => recallAt[Math.min(k, ranked.length)] ?? 0
  let idcg = 0
  for (let i = 0; i < Math.min(wanted.size, 10); i++) idcg += 1 / Math.log2(i + 2)
  return {
    recall1: recall(1),
    recall5: recall(5),
    recall10: recall(10),
    recall20: recall(20),
    hit10: recall(10) > 0 ? 1 : 0,
    ndcg10: dcg / idcg,
    mrr: firstHit === 0 ? 0 : 1 / firstHit,
  }
}

/** Mean and 95% percentile-bootstrap interval, in percent. */
export interface Estimate {
  mean: number
  lo: number
  hi: number
}

function interval(means: number[], mean: number): Estimate {
  const sorted = [...means].sort((a, b) => a - b)
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) * 100
  return { mean: mean * 100, lo: at(0.025), hi: at(0.975) }
}

/** Every metric's mean over the questions, each with a bootstrap interval (same resamples for all metrics). */
export function summarise(scores: QuestionScores[], resamples: number, seed = 1): Record<Metric, Estimate> & { n: number } {
  if (scores.length === 0)
    return { n: 0, ...(Object.fromEntries(metrics.map((m) => [m, { mean: Number.NaN, lo: Number.NaN, hi: Number.NaN }])) as Record<Metric, Estimate>) }
  const random = seededRandom(seed)
  const boot: Record<Metric, number[]> = Object.fromEntries(metrics.map((m) => [m, []])) as never
  for (let r = 0; r < resamples; r++) {
    const sums = Object.fromEntries(metrics.map((m) => [m, 0])) as Record<Metric, number>
    for (let i = 0; i < scores.length; i++) {
      const s = scores[Math.floor(random() * scores.length)] as QuestionScores
      for (const m of metrics) sums[m] += s[m]
    }
    for (const m of metrics) boot[m].push(sums[m] / scores.length)
  }
  const mean = (m: Metric) => scores.reduce((sum, s) => sum + s[m], 0) / scores.length
  return { n: scores.length, ...(Object.fromEntries(metrics.map((m) => [m, interval(boot[m], mean(m))])) as Record<Metric, Estimate>) }
}

/** Paired bootstrap of mean(a - b) over the same questions, in percentage points. */
export function pairedDifference(a: number[], b: number[], resamples: number, seed = 2): Estimate {
  const random = seededRandom(seed)
  const diffs = a.map((x, i) => x - (b[i] as number))
  const means: number[] = []
  for (let r = 0; r < resamples; r++) {
    let sum = 0
    for (let i = 0; i < diffs.length; i++) sum += diffs[Math.floor(random() * diffs.length)] as number
    means.push(sum / diffs.length)
  }
  return interval(means, diffs.reduce((s, d) => s + d, 0) / diffs.length)
}
