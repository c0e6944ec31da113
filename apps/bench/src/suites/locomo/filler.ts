import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { Memory, memoryOpenOptionsSchema } from '@agentmem/memory'
import { fillerCases, fillerMemories } from './filler-set.js'

export interface FillerRun {
  /** The Memory's `fillerWeight`: 1 is no prior (before), the default is after. */
  fillerWeight: number
  /** Percent of questions whose fact ranks first / in the top 3. */
  hit1: number
  hit3: number
  /** Questions whose first result was filler. */
  fillerFirst: number
}

export interface FillerSetResult {
  questions: number
  memories: number
  runs: FillerRun[]
}

/**
 * Every fact and every filler text in one scope; each question must find its fact. Run with the
 * prior off and at the default weight, on the same store, with hybrid search (the default).
 */
export async function runFillerSet(embedder: Embedder, work: string): Promise<FillerSetResult> {
  const path = join(work, `filler-${embedder.modelId.replace(/\W+/g, '-')}`)
  const scope = { userId: 'filler-set' }
  const facts = fillerCases.map((c) => c.fact)
  {
    await using memory = await Memory.open({ path, embedder })
    await memory.addBatch([...facts, ...fillerMemories].map((messages) => ({ messages, ...scope })))
  }
  const filler = new Set(fillerMemories)
  const runs: FillerRun[] = []
  const defaultWeight = memoryOpenOptionsSchema.shape.fillerWeight.parse(undefined)
  for (const fillerWeight of [1, defaultWeight]) {
    await using memory = await Memory.open({ path, embedder, fillerWeight })
    let hit1 = 0
    let hit3 = 0
    let fillerFirst = 0
    for (const { fact, question } of fillerCases) {
      const { results } = await memory.search(question, { ...scope, topK: 3 })
      const texts = results.map((r) => r.memory)
      if (texts[0] === fact) hit1++
      if (texts.includes(fact)) hit3++
      if (filler.has(texts[0] as string)) fillerFirst++
    }
    const percent = (n: number) => (100 * n) / fillerCases.length
    runs.push({ fillerWeight, hit1: percent(hit1), hit3: percent(hit3), fillerFirst })
  }
  return { questions: fillerCases.length, memories: facts.length + fillerMemories.length, runs }
}
