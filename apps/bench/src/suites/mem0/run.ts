/**
 * Suite `mem0`: AgentMem vs Mem0's open-source `Memory` (mem0ai/oss) with the same embedder,
 * both `infer: false`. Each contender runs in its own process per model, so RSS is its own.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { writeMiniLmShapedModel } from '../../harness.js'
import type { RunOptions } from '../../suite.js'
import type { Mem0ChildResult } from './child.js'
import { ensureBetterSqlite3 } from './contenders.js'

export interface Mem0SuiteResult {
  sizes: number[]
  fillBudgetSeconds: number
  runs: Mem0ChildResult[]
}

const child = fileURLToPath(new URL('./child.ts', import.meta.url))
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href

function runChild(args: string[], onProgress: (line: string) => void): Promise<Mem0ChildResult> {
  const proc = spawn(process.execPath, ['--conditions=agentmem-source', '--import', tsx, child, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LANCEDB_LOG: 'error' },
  })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  return new Promise((resolve, reject) =>
    proc.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1)
      if (code !== 0 || !last) return reject(new Error(`${args[0]} exited with ${code}: ${stderr.slice(-2000)}`))
      const result = JSON.parse(last) as Mem0ChildResult
      for (const s of result.sizes) {
        onProgress(
          `  ${result.contender} (${result.model}) @ ${s.size}: ${s.reached < s.size ? `fill budget ran out at ${s.reached}` : `search p50 ${s.search?.p50Ms.toFixed(1)} ms, p99 ${s.search?.p99Ms.toFixed(1)} ms`}`,
        )
      }
      resolve(result)
    }),
  )
}

export async function runMem0Suite(options: RunOptions): Promise<Mem0SuiteResult> {
  ensureBetterSqlite3(options.progress.log)
  const sizes = options.sizes ?? (options.quick ? [1000] : [1000, 10_000, 100_000])
  const fillBudgetSeconds = options.quick ? 60 : 300
  const work = await mkdtemp(join(tmpdir(), 'agentmem-bench-mem0-'))
  try {
    // A quick run checks the harness: the offline model alone (the MiniLM-shaped one took 67 of its 100 s of measuring).
    const models = options.quick ? ['offline'] : ['offline', await writeMiniLmShapedModel(join(work, 'minilm-shaped'))]
    const runs: Mem0ChildResult[] = []
    options.progress.total(models.length * 2)
    for (const model of models) {
      for (const contender of ['agentmem', 'mem0']) {
        options.progress.step(`${contender} with ${model === 'offline' ? 'the offline model' : 'the MiniLM-shaped model'}`)
        const result = await runChild([contender, model, sizes.join(','), String(options.quick), String(fillBudgetSeconds)], options.progress.log)
        options.progress.log(
          `  ${contender}: sequential adds ${result.addSequentialPerSecond.toFixed(0)}/s, 32 concurrent ${result.addConcurrent32PerSecond.toFixed(0)}/s`,
        )
        runs.push(result)
      }
    }
    return { sizes, fillBudgetSeconds, runs }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
