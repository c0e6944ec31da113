/**
 * One contender of the `mem0` suite with one model, in its own process (so that its RSS is its
 * own): `tsx src/suites/mem0/child.ts <agentmem|mem0> <offline|model folder> <sizes> <quick> <fill budget s>`.
 * Prints its results as the last line of stdout.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder, type Embedder } from '@agentmem/embeddings'
import { type LatencyStats, latencyStats, locomoTurns, observe, precomputed, timed } from '../../harness.js'
import { type ContenderName, openContender } from './contenders.js'

export interface Mem0SizeResult {
  size: number
  /** Memories stored when the fill budget ran out; equals `size` when it did not. */
  reached: number
  fillPerSecond: number
  search?: LatencyStats & { meanResults: number }
  list?: LatencyStats
  update?: LatencyStats
  delete?: LatencyStats
  peakRssMb: number
}
export interface Mem0ChildResult {
  contender: ContenderName
  model: string
  addSequentialPerSecond: number
  addSequential: LatencyStats
  addConcurrent32PerSecond: number
  sizes: Mem0SizeResult[]
}

const users = 1000

async function measureAdds(name: ContenderName, embedder: Embedder, work: string, quick: boolean) {
  const store = await openContender(name, join(work, 'adds'), embedder)
  const turns = locomoTurns(5000)
  let n = 0
  const text = () => `${turns[n % turns.length]} #${n++}`
  try {
    // A few untimed adds first: the first write of a fresh store (table creation, statement
    // preparation) is not what a sequential add costs.
    for (let i = 0; i < 5; i++) await store.add(text(), `user-${i % users}`)
    const sequential: number[] = []
    const count = quick ? 30 : 200
    const started = performance.now()
    for (let i = 0; i < count; i++) await timed(sequential, () => store.add(text(), `user-${i % users}`))
    const addSequentialPerSecond = count / ((performance.now() - started) / 1000)
    const concurrent = quick ? 320 : 2000
    let issued = 0
    const concStart = performance.now()
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (issued < concurrent) await store.add(text(), `user-${issued++ % users}`)
      }),
    )
    return { addSequentialPerSecond, addSequential: latencyStats(sequential), addConcurrent32PerSecond: concurrent / ((performance.now() - concStart) / 1000) }
  } finally {
    await store.close()
  }
}

async function measureSizes(name: ContenderName, embedder: Embedder, work: string, sizes: number[], quick: boolean, budgetSeconds: number) {
  const turns = locomoTurns(6000)
  const filler = await precomputed(embedder, turns)
  const store = await openContender(name, join(work, 'sizes'), filler)
  const queries = turns.filter((_, i) => i % 29 === 0)
  const results: Mem0SizeResult[] = []
  let stored = 0
  try {
    for (const size of sizes) {
      const outcome = await observe(async () => {
        const fillStart = performance.now()
        const before = stored
        while (stored < size && (performance.now() - fillStart) / 1000 < budgetSeconds) {
          const count = Math.min(1000, size - stored)
          await store.fill(
            Array.from({ length: count }, (_, i) => ({ text: `${turns[(stored + i) % turns.length]} #${stored + i}`, userId: `user-${(stored + i) % users}` })),
          )
          stored += count
        }
        const fillPerSecond = (stored - before) / ((performance.now() - fillStart) / 1000)
        if (stored < size) return { size, reached: stored, fillPerSecond }
        const search: number[] = []
        let returned = 0
        const count = quick ? 30 : 200
        for (let i = 0; i < 10; i++) await store.search(queries[i] as string, `user-${i}`, 10)
        for (let i = 0; i < count; i++)
          returned += (await timed(search, () => store.search(queries[i % queries.length] as string, `user-${(i * 37) % users}`, 10))).length
        const list: number[] = []
        for (let i = 0; i < (quick ? 10 : 50); i++) await timed(list, () => store.list(`user-${(i * 13) % users}`))
        const updates: number[] = []
        const deletes: number[] = []
        for (let i = 0; i < (quick ? 5 : 20); i++) {
          const [toUpdate] = await store.list(`user-${(i * 7) % users}`)
          if (toUpdate) await timed(updates, () => store.update(toUpdate.id, `${turns[i]} (updated ${size})`))
          const [toDelete] = await store.list(`user-${(i * 7 + 500) % users}`)
          if (toDelete) await timed(deletes, () => store.delete(toDelete.id))
        }
        return {
          size,
          reached: stored,
          fillPerSecond,
          search: { ...latencyStats(search), meanResults: returned / count },
          list: latencyStats(list),
          update: latencyStats(updates),
          delete: latencyStats(deletes),
        }
      })
      results.push({ ...outcome.result, peakRssMb: outcome.peakRssMb })
      if (outcome.result.reached < size) break
    }
    return results
  } finally {
    await store.close()
  }
}

const [name, model, sizesArg, quickArg, budgetArg] = process.argv.slice(2)
const work = await mkdtemp(join(tmpdir(), `agentmem-bench-${name}-`))
const embedder = model === 'offline' ? await createEmbedder({ progress: false }) : await createEmbedder({ modelPath: model as string, progress: false })
try {
  const quick = quickArg === 'true'
  const adds = await measureAdds(name as ContenderName, embedder, work, quick)
  const sizes = await measureSizes(name as ContenderName, embedder, work, (sizesArg as string).split(',').map(Number), quick, Number(budgetArg))
  const result: Mem0ChildResult = { contender: name as ContenderName, model: embedder.modelId, ...adds, sizes }
  process.stdout.write(`${JSON.stringify(result)}\n`)
} finally {
  await embedder.close()
  await rm(work, { recursive: true, force: true })
}
process.exit(0)
