import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEmbedder, ensureStaticModel, ModelRunner, readModelSpec } from '@agentmem/embeddings'
import { locomoTurns, median, writeMiniLmShapedModel } from '../../harness.js'
import type { RunOptions } from '../../suite.js'
import { FASTEMBED } from './fastembed.js'
import type { Contender, ModeResult } from './measure.js'

const cores = availableParallelism()
/** A: one ORT session on the main thread fed batches of 32 (tokenisation included). B: the same session behind a mutex, one text per run. */
async function rawSession(folder: string): Promise<ModelRunner> {
  return ModelRunner.load({ folder, spec: await readModelSpec(folder), intraOpThreads: cores })
}

const contenders: Record<string, (folder: string) => Promise<Contender>> = {
  'A raw session, batches of 32': async (folder) => {
    const runner = await rawSession(folder)
    return {
      embedAll: async (texts) => {
        for (let i = 0; i < texts.length; i += 32) await runner.embed(texts.slice(i, i + 32))
      },
      embedOne: (text) => runner.embed([text]), // only used at concurrency 1: the "single raw run"
      close: () => runner.release(),
    }
  },
  'B one session behind a lock': async (folder) => {
    const runner = await rawSession(folder)
    let lock: Promise<unknown> = Promise.resolve()
    return {
      embedOne: (text) => {
        const run = lock.then(() => runner.embed([text]))
        lock = run.catch(() => {})
        return run
      },
      close: () => runner.release(),
    }
  },
  // N = cores workers, each with all-core intra-op threads, one text per run. Dispatch is our
  // least-loaded pick rather than round-robin, which can only help this contender.
  'C pool of N sessions, one text per run': async (folder) => {
    const embedder = await createEmbedder({ modelPath: folder, progress: false, workers: cores, threadsPerWorker: cores, maxBatchSize: 1, maxWaitMs: 0 })
    return { embedOne: (text) => embedder.embed([text]), close: () => embedder.close() }
  },
  'D transformers.js pipeline': async (folder) => {
    const { env, pipeline } = await import('@huggingface/transformers')
    env.allowRemoteModels = false
    env.localModelPath = join(folder, '..')
    const extractor = await pipeline('feature-extraction', folder.split('/').at(-1) as string, { dtype: 'fp32' })
    const run = (texts: string[]) => extractor(texts, { pooling: 'mean', normalize: true })
    return {
      embedOne: (text) => run([text]),
      embedAll: async (texts) => {
        for (let i = 0; i < texts.length; i += 32) await run(texts.slice(i, i + 32))
      },
      close: () => extractor.dispose(),
    }
  },
  'E agentmem pooled embedder': async (folder) => {
    const embedder = await createEmbedder({ modelPath: folder, progress: false })
    return { embedOne: (text) => embedder.embed([text]), embedAll: (texts) => embedder.embed(texts), close: () => embedder.close() }
  },
  'F agentmem pooled embedder, int8 model': async (folder) => {
    const embedder = await createEmbedder({ modelPath: folder, quantized: true, progress: false })
    return { embedOne: (text) => embedder.embed([text]), embedAll: (texts) => embedder.embed(texts), close: () => embedder.close() }
  },
  'E agentmem, offline default model': async () => {
    const embedder = await createEmbedder({ progress: false })
    return { embedOne: (text) => embedder.embed([text]), embedAll: (texts) => embedder.embed(texts), close: () => embedder.close() }
  },
}

/** Times the offline default model's first build (fresh cache) and its cached start. */
async function offlineModelStartTimes(): Promise<{ firstBuildS: number; cachedStartS: number }> {
  const cache = await mkdtemp(join(tmpdir(), 'agentmem-bench-static-'))
  try {
    let started = performance.now()
    await ensureStaticModel(cache)
    const firstBuildS = (performance.now() - started) / 1000
    started = performance.now()
    const embedder = await createEmbedder({ cacheDir: cache, progress: false })
    const cachedStartS = (performance.now() - started) / 1000
    await embedder.close()
    return { firstBuildS, cachedStartS }
  } finally {
    await rm(cache, { recursive: true, force: true })
  }
}

/** Builds contender `name` (not fastembed-js: see child.ts) for the model in `folder`. */
export async function makeContender(name: string, folder: string): Promise<Contender> {
  const make = contenders[name]
  if (!make) throw new Error(`unknown contender ${name}`)
  return make(folder)
}

export type { ModeResult } from './measure.js'

export interface EmbeddingsSuiteResult {
  texts: number
  repetitions: number
  contenders: Record<string, ModeResult[]>
  offlineModel: { firstBuildS: number; cachedStartS: number }
  /** Cosine between the fp32 and int8 graphs' vectors of the same texts (same random weights), batches of 8. */
  int8Fidelity?: { texts: number; meanCosine: number; minCosine: number }
}

/** fp32 against int8 vectors of the same model, text by text, in the pool's default batches of 8 (dynamic quantization scales each batch). */
async function int8Fidelity(folder: string, texts: string[]): Promise<NonNullable<EmbeddingsSuiteResult['int8Fidelity']>> {
  const spec = await readModelSpec(folder)
  const [fp32, int8] = await Promise.all([
    ModelRunner.load({ folder, spec, intraOpThreads: cores }),
    ModelRunner.load({ folder, spec: { ...spec, onnxFile: spec.quantizedOnnxFile as string }, intraOpThreads: cores }),
  ])
  const cosines: number[] = []
  try {
    for (let i = 0; i < texts.length; i += 8) {
      const batch = texts.slice(i, i + 8)
      const [a, b] = [await fp32.embed(batch), await int8.embed(batch)]
      const dims = spec.dimensions
      for (let t = 0; t < batch.length; t++) {
        let dot = 0
        for (let d = 0; d < dims; d++) dot += (a[t * dims + d] as number) * (b[t * dims + d] as number)
        cosines.push(dot)
      }
    }
  } finally {
    await Promise.all([fp32.release(), int8.release()])
  }
  return { texts: cosines.length, meanCosine: cosines.reduce((s, c) => s + c, 0) / cosines.length, minCosine: Math.min(...cosines) }
}

/** Orchestrates: writes the MiniLM-shaped model, runs each contender in its own process, interleaved over repetitions. */
export async function runEmbeddingsSuite(options: RunOptions): Promise<EmbeddingsSuiteResult> {
  const count = options.quick ? 64 : 1000
  const repetitions = options.quick ? 1 : 3
  const work = await mkdtemp(join(tmpdir(), 'agentmem-bench-'))
  try {
    const folder = await writeMiniLmShapedModel(join(work, 'minilm-shaped'), { quantized: true })
    const runs: Record<string, ModeResult[][]> = {}
    const names = [...Object.keys(contenders), FASTEMBED]
    options.progress.total(repetitions * names.length + 2)
    for (let rep = 0; rep < repetitions; rep++) {
      for (const name of names) {
        options.progress.step(`rep ${rep + 1}/${repetitions}: ${name}`)
        // fastembed-js pads every text to 256 tokens: a quarter of the texts measures its rate as well, in a quarter of the time.
        const result = await inChildProcess(name, folder, name === FASTEMBED ? Math.ceil(count / 4) : count)
        runs[name] = [...(runs[name] ?? []), result]
      }
    }
    // Median over repetitions, mode by mode.
    const merged = Object.fromEntries(
      Object.entries(runs).map(([name, reps]) => [
        name,
        (reps[0] as ModeResult[]).map((first, m) => {
          const all = reps.map((r) => r[m] as ModeResult)
          const med = (key: keyof ModeResult) => median(all.map((r) => r[key] as number))
          return {
            ...first,
            textsPerSecond: med('textsPerSecond'),
            p50Ms: first.p50Ms === undefined ? undefined : med('p50Ms'),
            p99Ms: first.p99Ms === undefined ? undefined : med('p99Ms'),
            loopP99Ms: med('loopP99Ms'),
            loopMaxMs: med('loopMaxMs'),
            peakRssMb: med('peakRssMb'),
          }
        }),
      ]),
    )
    options.progress.step('int8 fidelity: fp32 vs int8 vectors of the same texts')
    const fidelity = await int8Fidelity(folder, locomoTurns(count))
    options.progress.step('offline default model: first build and cached start')
    return { texts: count, repetitions, contenders: merged, offlineModel: await offlineModelStartTimes(), int8Fidelity: fidelity }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

const childScript = fileURLToPath(new URL('./child.ts', import.meta.url))

function inChildProcess(name: string, folder: string, count: number): Promise<ModeResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, childScript, name, folder, String(count)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    child.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? ''
      if (code === 0) resolve(JSON.parse(last) as ModeResult[])
      else reject(new Error(`contender ${name} exited with ${code}`))
    })
  })
}
