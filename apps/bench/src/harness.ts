import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { Embedder } from '@agentmem/embeddings'
import { miniLmShape, writeRandomBertModel } from '@agentmem/embeddings/testing'
import { loadLocomo } from './suites/locomo/data.js'

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

/** p50 / p95 / p99 of per-call latencies, in ms. */
export interface LatencyStats {
  p50Ms: number
  p95Ms: number
  p99Ms: number
}

export function latencyStats(samples: number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), p99Ms: percentile(sorted, 99) }
}

/** Runs `run`, appending its duration (ms) to `samples`. */
export async function timed<T>(samples: number[], run: () => Promise<T>): Promise<T> {
  const started = performance.now()
  const result = await run()
  samples.push(performance.now() - started)
  return result
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  )
}

/** Watches the event loop and the process's RSS while a measured block runs. */
export async function observe<T>(run: () => Promise<T>): Promise<{ result: T; loopP99Ms: number; loopMaxMs: number; peakRssMb: number; seconds: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let peakRss = process.memoryUsage().rss
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 50)
  histogram.enable()
  const started = performance.now()
  try {
    const result = await run()
    const seconds = (performance.now() - started) / 1000
    return {
      result,
      seconds,
      loopP99Ms: histogram.percentile(99) / 1e6,
      loopMaxMs: histogram.max / 1e6,
      peakRssMb: Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20,
    }
  } finally {
    histogram.disable()
    clearInterval(sampler)
  }
}

/** The machine and versions every report starts with. */
export function machineHeader(): Record<string, string | number> {
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version
    } catch {
      return 'n/a'
    }
  }
  let commit = 'n/a'
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim()
  } catch {}
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    onnxruntimeNode: pkg('onnxruntime-node'),
    transformersJs: pkg('@huggingface/transformers'),
    commit,
    date: new Date().toISOString(),
    // cli.ts turns it off before any suite runs, as the agentmem CLI does.
    v8Pretenuring: 'off',
    // What sizes LanceDB's CPU pool once cli.ts ran widenStoreComputePool: both unset is LanceDB's own size.
    lanceEnvironment: ['LANCE_CPU_THREADS', 'LANCE_IO_CORE_RESERVATION'].map((name) => `${name}=${process.env[name] ?? 'unset'}`).join(', '),
  }
}

/** Short and medium sentences: LoCoMo dialogue turns as `speaker: text` (read at run time, never copied into the repo). */
export function locomoTurns(count: number): string[] {
  const turns = loadLocomo().flatMap((c) => c.turns.map((t) => `${t.speaker}: ${t.said}`))
  return Array.from({ length: count }, (_, i) => turns[i % turns.length] as string)
}

/** all-MiniLM-L6-v2's tokenizer files in ../shared (no weights exist on these machines). */
export const miniLmTokenizerFolder = fileURLToPath(new URL('../../../../shared/models/all-MiniLM-L6-v2', import.meta.url))

/** A BERT with all-MiniLM-L6-v2's exact shape and tokenizer but random weights (no weights exist here). */
export function writeMiniLmShapedModel(folder: string, options: { quantized?: boolean } = {}): Promise<string> {
  return writeRandomBertModel({
    folder,
    tokenizerFrom: miniLmTokenizerFolder,
    shape: miniLmShape,
    pooling: 'mean',
    maxLength: 256,
    quantized: options.quantized ?? false, // also the same weights as a dynamically quantized int8 graph
  })
}

/**
 * Filling a store with a slow model would measure the model, not the store. This wrapper serves
 * vectors for the base LoCoMo turns computed once by the real model (the ` #n` suffix that makes
 * texts unique is ignored); everything else, queries included, goes to the real model.
 */
export async function precomputed(embedder: Embedder, turns: string[]): Promise<Embedder> {
  const unique = [...new Set(turns)]
  const vectors = new Map<string, Float32Array>()
  for (let i = 0; i < unique.length; i += 256) {
    const chunk = unique.slice(i, i + 256)
    const out = await embedder.embed(chunk)
    for (const [j, t] of chunk.entries()) vectors.set(t, out[j] as Float32Array)
  }
  return {
    modelId: embedder.modelId,
    dimensions: embedder.dimensions,
    async embed(texts, options) {
      const missing = texts.filter((t) => !vectors.has(t.replace(/ #\d+$/, '')))
      const computed = missing.length > 0 ? await embedder.embed(missing, options) : []
      let next = 0
      return texts.map((t) => vectors.get(t.replace(/ #\d+$/, '')) ?? (computed[next++] as Float32Array))
    },
    stats: () => embedder.stats(),
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  }
}
