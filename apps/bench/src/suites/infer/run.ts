/**
 * Suite `infer`: adds with inference, AgentMem vs Mem0 (mem0ai/oss), the same embedder instance
 * and the same scripted LLM: a local HTTP server speaking the OpenAI protocol that answers at
 * once with the same facts for both. So the numbers are the pipelines' own: LLM calls and tokens
 * per add, and the time of an add outside the LLM. Then the LLM goes down, to see what is kept.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder } from '@agentmem/embeddings'
import { decisionsReply, factsReply, type LlmCall, type LlmReply, startScriptedLlm } from '@agentmem/memory/testing'
import { type LatencyStats, latencyStats, median } from '../../harness.js'
import type { RunOptions } from '../../suite.js'
import { loadLocomo } from '../locomo/data.js'
import { type ContenderName, type ContenderStore, ensureBetterSqlite3, openContender } from '../mem0/contenders.js'

export interface InferContenderResult {
  contender: ContenderName
  adds: number
  /** Memories the adds reported, in total. */
  memories: number
  llmCallsPerAdd: number
  promptTokensPerAdd: number
  completionTokensPerAdd: number
  /** Wall time per add, ms. */
  wall: LatencyStats
  /** Wall time minus (LLM calls x measured round trip of one scripted call), ms. */
  excludingLlm: LatencyStats
  /** With the LLM answering 500: adds attempted, adds whose input was kept, adds that threw. */
  outage: { adds: number; kept: number; threw: number; secondsPerAdd: number }
}

export interface InferSuiteResult {
  model: string
  adds: number
  factsPerAdd: number
  llmRoundTripMs: number
  contenders: InferContenderResult[]
}

type Turn = { role: 'user' | 'assistant'; content: string }

/** Consecutive turn pairs of LoCoMo conversations: speaker A as the user, B as the assistant. */
function turnPairs(count: number): Array<{ userId: string; messages: Turn[] }> {
  const pairs: Array<{ userId: string; messages: Turn[] }> = []
  for (const conversation of loadLocomo()) {
    const first = conversation.turns[0]?.speaker
    for (let i = 0; i + 1 < conversation.turns.length && pairs.length < count; i += 2) {
      const messages = [conversation.turns[i], conversation.turns[i + 1]].map((t) => ({
        role: t?.speaker === first ? ('user' as const) : ('assistant' as const),
        // The caption stays: `text` without its `speaker: ` prefix.
        content: t ? t.text.slice(t.speaker.length + 2) : '',
      }))
      pairs.push({ userId: conversation.id, messages })
    }
  }
  return pairs
}

/**
 * The scripted model: the facts of the add in progress, in each pipeline's own format. Mem0's
 * additive extraction returns `{ memory: [{ text }] }` (JSON mode); AgentMem's extraction
 * `{ facts }` and its decision call ADD for every fact.
 */
function scriptedModel(current: () => string[]): (call: LlmCall) => LlmReply {
  return (call) => {
    if (call.system.includes('Memory Extractor')) return { json: { memory: current().map((text) => ({ text })) } }
    if (call.schema === 'facts') return factsReply(...current())
    if (call.schema === 'decisions') {
      const count = (call.user.split('New facts:')[1]?.match(/^\[\d+\]/gm) ?? []).length
      return decisionsReply(...Array.from({ length: count }, (_, fact) => ({ fact, event: 'ADD' })))
    }
    return { status: 500 }
  }
}

export async function runInferSuite(options: RunOptions): Promise<InferSuiteResult> {
  ensureBetterSqlite3(options.progress.log)
  const count = options.quick ? 20 : 300
  const outageAdds = options.quick ? 3 : 10
  const warmup = 5
  const pairs = turnPairs(warmup + count + outageAdds)
  let current: string[] = []
  const llm = await startScriptedLlm(scriptedModel(() => current))
  const embedder = await createEmbedder({ progress: false })
  const work = await mkdtemp(join(tmpdir(), 'agentmem-bench-infer-'))
  try {
    // One scripted call's round trip from this process, with a prompt of typical size.
    current = ['A fact of typical length about the user and their plans.']
    const rtt: number[] = []
    for (let i = 0; i < 100; i++) {
      const started = performance.now()
      const res = await fetch(`${llm.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'scripted',
          response_format: { type: 'json_schema', json_schema: { name: 'facts' } },
          messages: [
            { role: 'system', content: 'x'.repeat(3000) },
            { role: 'user', content: 'y'.repeat(300) },
          ],
        }),
      })
      await res.text()
      rtt.push(performance.now() - started)
    }
    const llmRoundTripMs = median(rtt.slice(10))
    options.progress.log(`scripted LLM round trip: ${llmRoundTripMs.toFixed(2)} ms`)

    const names: ContenderName[] = ['agentmem', 'mem0']
    // A step per 50 adds, then the outage.
    options.progress.total(Math.ceil((warmup + count) / 50) + 1)
    const stores = new Map<ContenderName, ContenderStore>()
    for (const name of names) stores.set(name, await openContender(name, join(work, name), embedder, { llmBaseUrl: llm.baseUrl }))
    const samples = new Map(names.map((n) => [n, { wall: [] as number[], excluding: [] as number[], calls: 0, prompt: 0, completion: 0, memories: 0 }]))
    try {
      // Interleaved: each pair is added by one contender, then the other, so both see the same machine.
      for (const [i, pair] of pairs.slice(0, warmup + count).entries()) {
        current = pair.messages.map((m) => m.content)
        for (const name of names) {
          const before = llm.calls.length
          const started = performance.now()
          const memories = await (stores.get(name) as ContenderStore).addInfer(pair.messages, pair.userId)
          const ms = performance.now() - started
          if (i < warmup) continue
          const calls = llm.calls.slice(before)
          const s = samples.get(name) as NonNullable<ReturnType<typeof samples.get>>
          s.wall.push(ms)
          s.excluding.push(ms - calls.length * llmRoundTripMs)
          s.calls += calls.length
          s.prompt += calls.reduce((n, c) => n + c.promptTokens, 0)
          s.completion += calls.reduce((n, c) => n + c.completionTokens, 0)
          s.memories += memories
        }
        if ((i + 1) % 50 === 0) options.progress.step(`${i + 1 - warmup} adds`)
      }
      // The LLM goes down: what happens to what the user said?
      llm.fallback = () => ({ status: 500 })
      options.progress.step('the LLM is down')
      const outage = new Map<ContenderName, InferContenderResult['outage']>()
      for (const name of names) {
        const store = stores.get(name) as ContenderStore
        let threw = 0
        const started = performance.now()
        for (const pair of pairs.slice(warmup + count)) await store.addInfer(pair.messages, 'outage').catch(() => threw++)
        const secondsPerAdd = (performance.now() - started) / 1000 / outageAdds
        const kept = (await store.list('outage')).length
        outage.set(name, { adds: outageAdds, kept, threw, secondsPerAdd })
        options.progress.log(`  ${name} with the LLM down: ${threw} of ${outageAdds} adds threw, ${kept} memories kept`)
      }
      const contenders = names.map((name) => {
        const s = samples.get(name) as NonNullable<ReturnType<typeof samples.get>>
        return {
          contender: name,
          adds: count,
          memories: s.memories,
          llmCallsPerAdd: s.calls / count,
          promptTokensPerAdd: s.prompt / count,
          completionTokensPerAdd: s.completion / count,
          wall: latencyStats(s.wall),
          excludingLlm: latencyStats(s.excluding),
          outage: outage.get(name) as InferContenderResult['outage'],
        }
      })
      for (const c of contenders) {
        options.progress.log(
          `  ${c.contender}: ${c.llmCallsPerAdd.toFixed(2)} LLM calls/add, ${c.promptTokensPerAdd.toFixed(0)} prompt tokens/add, ${c.excludingLlm.p50Ms.toFixed(1)} ms/add outside the LLM (p50)`,
        )
      }
      return { model: embedder.modelId, adds: count, factsPerAdd: 2, llmRoundTripMs, contenders }
    } finally {
      for (const store of stores.values()) await store.close()
    }
  } finally {
    await embedder.close()
    await llm.close()
    await rm(work, { recursive: true, force: true })
  }
}
