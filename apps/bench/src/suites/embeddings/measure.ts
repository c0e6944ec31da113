/**
 * The embeddings suite's measurement loop. It imports no ONNX Runtime: fastembed-js brings its own
 * (1.21), whose native binding cannot load beside ours (1.30) in one process.
 */
import { locomoTurns, observe, percentile } from '../../harness.js'

/** One way of embedding: single-text calls, a batch call, or both. */
export interface Contender {
  embedOne?(text: string): Promise<unknown>
  embedAll?(texts: string[]): Promise<unknown>
  close(): Promise<void>
}

export const CONCURRENCY = [1, 8, 64]

export interface ModeResult {
  mode: string
  texts: number
  textsPerSecond: number
  p50Ms?: number
  p99Ms?: number
  loopP99Ms: number
  loopMaxMs: number
  peakRssMb: number
}

/** Measures one contender (in a child process of its own, so RSS and threads do not mix). */
export async function measureContender(name: string, contender: Contender, count: number): Promise<ModeResult[]> {
  const texts = locomoTurns(count)
  const results: ModeResult[] = []
  // Warm-up: first runs allocate ORT arenas and JIT the JS paths.
  if (contender.embedOne) for (const text of texts.slice(0, 20)) await contender.embedOne(text)
  if (contender.embedAll) await contender.embedAll(texts.slice(0, 64))

  const embedOne = contender.embedOne
  const levels = name.startsWith('A ') ? [1] : CONCURRENCY
  for (const concurrency of embedOne ? levels : []) {
    const one = embedOne as (text: string) => Promise<unknown> // defined: the loop runs only then
    const latencies: number[] = []
    let next = 0
    const observed = await observe(() =>
      Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < texts.length) {
            const text = texts[next++] as string
            const started = performance.now()
            await one(text)
            latencies.push(performance.now() - started)
          }
        }),
      ),
    )
    latencies.sort((a, b) => a - b)
    results.push({
      mode: `single c=${concurrency}`,
      texts: texts.length,
      textsPerSecond: texts.length / observed.seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      ...pick(observed),
    })
  }
  if (contender.embedAll) {
    const embedAll = contender.embedAll
    const observed = await observe(() => embedAll(texts))
    results.push({ mode: 'batch', texts: texts.length, textsPerSecond: texts.length / observed.seconds, ...pick(observed) })
  }
  await contender.close()
  return results
}

function pick(o: { loopP99Ms: number; loopMaxMs: number; peakRssMb: number }) {
  return { loopP99Ms: o.loopP99Ms, loopMaxMs: o.loopMaxMs, peakRssMb: o.peakRssMb }
}
