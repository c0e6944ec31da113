/**
 * Suite `memory`: the engine's own costs on real storage. For each model: add throughput
 * (sequential, 32 concurrent, addBatch of 1,000), then at growing store sizes (1,000 users, one
 * scope per search) search p50/p95/p99, list and delete latency, peak RSS and disk use.
 */
import { execSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder, type Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import { type LatencyStats, latencyStats, locomoTurns, observe, precomputed, timed, writeMiniLmShapedModel } from '../../harness.js'
import type { Progress, RunOptions } from '../../suite.js'

export interface SizeResult {
  size: number
  /** Memories/s while filling the store with addBatch calls of 5,000. */
  fillPerSecond: number
  fillSeconds: number
  search: Record<'hybrid' | 'vector' | 'keyword', LatencyStats & { meanResults: number }>
  listPage100: LatencyStats
  deleteOne: LatencyStats
  diskMb: number
  peakRssMb: number
}
export interface ModelResult {
  model: string
  dimensions: number
  addSequentialPerSecond: number
  addSequential: LatencyStats
  addConcurrent32PerSecond: number
  addBatch1000PerSecond: number
  sizes: SizeResult[]
  note?: string
}
export interface MemorySuiteResult {
  models: ModelResult[]
}

const users = 1000

function diskMb(path: string): number {
  let out: string
  try {
    out = execSync(`du -sk ${JSON.stringify(path)}`, { stdio: ['ignore', 'pipe', 'ignore'] }).toString()
  } catch (error) {
    // LanceDB's background work may remove a temporary file while du walks the folder: du exits 1
    // but still prints the total of what it could read.
    out = String((error as { stdout?: Buffer }).stdout ?? '')
  }
  const kb = Number(out.split('\t')[0])
  if (!Number.isFinite(kb) || out === '') throw new Error(`du -sk ${path} printed no total`)
  return kb / 1024
}

async function measureAdds(embedder: Embedder, work: string, quick: boolean, progress: Progress) {
  progress.step(`${embedder.modelId}: adds`)
  const path = join(work, `adds-${embedder.modelId}`)
  const memory = await Memory.open({ path, embedder })
  const turns = locomoTurns(quick ? 2000 : 20_000)
  let n = 0
  const text = () => `${turns[n % turns.length]} #${n++}`
  try {
    const sequential: number[] = []
    const sequentialCount = quick ? 50 : 500
    const seqStart = performance.now()
    for (let i = 0; i < sequentialCount; i++) await timed(sequential, () => memory.add(text(), { userId: `user-${i % users}` }))
    const addSequentialPerSecond = sequentialCount / ((performance.now() - seqStart) / 1000)
    progress.log(`  ${embedder.modelId}: sequential add ${addSequentialPerSecond.toFixed(0)}/s`)

    const concurrentCount = quick ? 320 : 3200
    let issued = 0
    const concStart = performance.now()
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (issued < concurrentCount) {
          issued++
          await memory.add(text(), { userId: `user-${issued % users}` })
        }
      }),
    )
    const addConcurrent32PerSecond = concurrentCount / ((performance.now() - concStart) / 1000)
    progress.log(`  ${embedder.modelId}: 32 concurrent adds ${addConcurrent32PerSecond.toFixed(0)}/s`)

    // Sustained rate: one warm-up call, then consecutive calls timed together, so the compactions
    // they trigger are paid inside the measurement, as a bulk loader would pay them.
    const batch = () => memory.addBatch(Array.from({ length: 1000 }, (_, i) => ({ messages: text(), userId: `user-${i % users}` })))
    await batch()
    const batchCount = quick ? 3 : 20
    const batchStart = performance.now()
    for (let r = 0; r < batchCount; r++) await batch()
    const addBatch1000PerSecond = (batchCount * 1000) / ((performance.now() - batchStart) / 1000)
    progress.log(`  ${embedder.modelId}: addBatch(1000) ${addBatch1000PerSecond.toFixed(0)}/s (${batchCount} consecutive calls)`)
    return { addSequentialPerSecond, addSequential: latencyStats(sequential), addConcurrent32PerSecond, addBatch1000PerSecond }
  } finally {
    await memory.close()
    await rm(path, { recursive: true, force: true })
  }
}

async function measureSizes(embedder: Embedder, sizes: number[], work: string, quick: boolean, progress: Progress): Promise<SizeResult[]> {
  // As many turns as the largest store needs, up to all of LoCoMo's, and the queries below: a MiniLM-shaped model embeds ~300 a second here.
  const turns = locomoTurns(Math.min(6000, Math.max(...sizes)))
  const filler = await precomputed(embedder, [...turns, ...locomoTurns(6000).filter((_, i) => i % 29 === 0)])
  const path = join(work, `sizes-${embedder.modelId}`)
  const memory = await Memory.open({ path, embedder: filler })
  const results: SizeResult[] = []
  let stored = 0
  try {
    for (const size of sizes) {
      progress.step(`${embedder.modelId}: ${size.toLocaleString('en')} memories`)
      const fill = await observe(async () => {
        while (stored < size) {
          const count = Math.min(5000, size - stored)
          await memory.addBatch(
            Array.from({ length: count }, (_, i) => ({
              messages: `${turns[(stored + i) % turns.length]} #${stored + i}`,
              userId: `user-${(stored + i) % users}`,
            })),
          )
          stored += count
        }
        await memory.optimize()
      })
      progress.log(`  ${embedder.modelId}: filled to ${size} in ${fill.seconds.toFixed(1)} s`)
      const queries = locomoTurns(6000).filter((_, i) => i % 29 === 0)
      const count = quick ? 30 : 300
      const search = {} as SizeResult['search']
      const measured = await observe(async () => {
        // Every search is the first read of its user (each mode its own users; 37 is coprime with
        // 1,000, so 3 x (300 + 10) users are distinct): the latency of a scope not resident yet.
        // The smaller size's searches left their scopes resident: forget them.
        await memory.invalidate()
        const user = (n: number) => `user-${(n * 37) % users}`
        for (const [m, mode] of (['hybrid', 'vector', 'keyword'] as const).entries()) {
          const samples: number[] = []
          let returned = 0
          const first = m * (count + 10)
          for (let i = 0; i < 10; i++) await memory.search(queries[i] as string, { userId: user(first + count + i), mode })
          for (let i = 0; i < count; i++) {
            const { results } = await timed(samples, () => memory.search(queries[i % queries.length] as string, { userId: user(first + i), mode }))
            returned += results.length
          }
          search[mode] = { ...latencyStats(samples), meanResults: returned / count }
        }
        const list: number[] = []
        for (let i = 0; i < (quick ? 20 : 100); i++) await timed(list, () => memory.getAll({ userId: `user-${(i * 13) % users}`, limit: 100 }))
        const deletes: number[] = []
        for (let i = 0; i < (quick ? 10 : 50); i++) {
          const victim = (await memory.getAll({ userId: `user-${(i * 7) % users}`, limit: 1 })).results[0]
          if (victim) await timed(deletes, () => memory.delete(victim.id))
        }
        return { list: latencyStats(list), deletes: latencyStats(deletes) }
      })
      const result: SizeResult = {
        size,
        fillSeconds: fill.seconds,
        fillPerSecond: (size - (results.at(-1)?.size ?? 0)) / fill.seconds,
        search,
        listPage100: measured.result.list,
        deleteOne: measured.result.deletes,
        diskMb: diskMb(path),
        peakRssMb: Math.max(fill.peakRssMb, measured.peakRssMb),
      }
      progress.log(
        `  ${embedder.modelId} @ ${size}: hybrid p50 ${search.hybrid.p50Ms.toFixed(1)} ms, p99 ${search.hybrid.p99Ms.toFixed(1)} ms; disk ${result.diskMb.toFixed(0)} MB`,
      )
      results.push(result)
    }
    return results
  } finally {
    await memory.close()
    await rm(path, { recursive: true, force: true })
  }
}

export async function runMemorySuite(options: RunOptions): Promise<MemorySuiteResult> {
  const work = await mkdtemp(join(tmpdir(), 'agentmem-bench-memory-'))
  const models: ModelResult[] = []
  const sizes = options.sizes ?? (options.quick ? [2000] : [10_000, 100_000, 1_000_000])
  const shapedSizes = options.quick ? [2000] : [10_000, 100_000]
  options.progress.total(2 + sizes.length + shapedSizes.length)
  try {
    const offline = await createEmbedder()
    try {
      options.progress.log(`model ${offline.modelId}`)
      const adds = await measureAdds(offline, work, options.quick, options.progress)
      models.push({
        model: offline.modelId,
        dimensions: offline.dimensions,
        ...adds,
        sizes: await measureSizes(offline, sizes, work, options.quick, options.progress),
      })
    } finally {
      await offline.close()
    }
    const folder = await writeMiniLmShapedModel(join(work, 'minilm-shaped'))
    const minilm = await createEmbedder({ modelPath: folder })
    try {
      options.progress.log(`model ${minilm.modelId} (MiniLM-shaped, random weights)`)
      const adds = await measureAdds(minilm, work, true, options.progress)
      models.push({
        model: `${minilm.modelId} (MiniLM-shaped)`,
        dimensions: minilm.dimensions,
        ...adds,
        sizes: await measureSizes(minilm, shapedSizes, work, options.quick, options.progress),
        note: 'Add throughput measured with the quick counts (the model embeds ~200 texts/s on 2 cores). Stores filled from vectors of the 5.9k LoCoMo turns precomputed by this model; queries embedded live.',
      })
    } finally {
      await minilm.close()
    }
    return { models }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
