import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder, createReranker, type Reranker } from '@agentmem/embeddings'
import { type BertShape, miniLmShape, writeRandomBertModel } from '@agentmem/embeddings/testing'
import { Memory } from '@agentmem/memory'
import { type LatencyStats, latencyStats, miniLmTokenizerFolder, timed } from '../../harness.js'
import type { RunOptions } from '../../suite.js'
import { loadLocomo } from '../locomo/data.js'

/** BERT-base's layers: bge-reranker-base (XLM-RoBERTa base) has the same, and a larger vocabulary (a bigger table lookup, not more compute). */
const bertBaseShape: BertShape = { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocabSize: 30522, maxPositions: 512 }

interface RerankModel {
  name: string
  shape: BertShape
  quantized: boolean
  /** Skipped in quick runs: writing and loading 110M random weights takes longer than the smoke run. */
  fullOnly?: boolean
}

const models: RerankModel[] = [
  { name: 'MiniLM-L6 fp32 (ms-marco-MiniLM-L-6-v2 shape)', shape: miniLmShape, quantized: false },
  { name: 'MiniLM-L6 int8 (same weights, dynamic int8)', shape: miniLmShape, quantized: true },
  { name: 'BERT-base fp32 (bge-reranker-base compute)', shape: bertBaseShape, quantized: false, fullOnly: true },
]

export const RERANK_CANDIDATES = [20, 50]

export interface RerankCase extends LatencyStats {
  model: string
  /** First-stage candidates the reranker read per search (`rerank: { topN }`). */
  candidates: number
  searches: number
}

export interface RerankSuiteResult {
  memories: number
  searches: number
  /** memory.search without rerank on the same store and queries: what reranking adds to. */
  firstStage: LatencyStats
  cases: RerankCase[]
}

/**
 * What `rerank` costs a search: one LoCoMo conversation stored with the offline model, its
 * questions searched (top 10) without reranking and with each cross-encoder shape reading the
 * first stage's best 20 and 50. Random weights: the compute of a real model of that shape, not
 * its ranking (no weights exist on this machine), so this measures time only.
 */
export async function runRerankSuite(options: RunOptions): Promise<RerankSuiteResult> {
  const [conversation] = loadLocomo()
  if (!conversation) throw new Error('LoCoMo has no conversations')
  const queries = conversation.questions.slice(0, options.quick ? 5 : 100).map((q) => q.question)
  const chosen = models.filter((m) => !(options.quick && m.fullOnly))
  const work = await mkdtemp(join(tmpdir(), 'agentmem-bench-rerank-'))
  const embedder = await createEmbedder({ progress: false })
  options.progress.total(chosen.length + 2)
  try {
    options.progress.step(`store ${conversation.turns.length} turns`)
    const path = join(work, 'store')
    const scope = { userId: conversation.id }
    {
      await using memory = await Memory.open({ path, embedder })
      await memory.addBatch(conversation.turns.map((t) => ({ messages: t.text, ...scope })))
    }
    const search = async (memory: Memory, rerank: false | { topN: number }) => {
      const samples: number[] = []
      for (const query of queries.slice(0, 3)) await memory.search(query, { ...scope, topK: 10, rerank }) // warm-up
      for (const query of queries) await timed(samples, () => memory.search(query, { ...scope, topK: 10, rerank }))
      return latencyStats(samples)
    }
    options.progress.step('first stage only')
    let firstStage: LatencyStats
    {
      await using memory = await Memory.open({ path, embedder })
      firstStage = await search(memory, false)
    }
    const cases: RerankCase[] = []
    for (const [i, model] of chosen.entries()) {
      options.progress.step(model.name)
      const folder = await writeRandomBertModel({
        folder: join(work, `cross-encoder-${i}`),
        tokenizerFrom: miniLmTokenizerFolder,
        shape: model.shape,
        maxLength: 512,
        head: 'sequence-classification',
        quantized: model.quantized,
      })
      const reranker: Reranker = await createReranker({ modelPath: folder, quantized: model.quantized, progress: false })
      try {
        await using memory = await Memory.open({ path, embedder, reranker })
        for (const candidates of RERANK_CANDIDATES) {
          cases.push({ model: model.name, candidates, searches: queries.length, ...(await search(memory, { topN: candidates })) })
        }
      } finally {
        await reranker.close()
      }
    }
    return { memories: conversation.turns.length, searches: queries.length, firstStage, cases }
  } finally {
    await embedder.close()
    await rm(work, { recursive: true, force: true })
  }
}
