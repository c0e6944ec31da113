import { readFileSync } from 'node:fs'
import type { Embedder } from '@agentmem/embeddings'
import * as lancedb from '@lancedb/lancedb'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type ListOptions, Memory, type MemoryItem, type SearchOptions, type SearchResult } from '../src/index.js'
import { defaultEmbedder, holdStore, openTemp, seededRandom, storeOf, tempDir } from './helpers/fixtures.js'

/**
 * Issue 13: the scope-resident index answers exactly what the store's indexes answer, stays
 * coherent with every kind of write under concurrency, evicts under its budget, and hears of
 * writes made elsewhere through `invalidate`.
 */

/** Every scope the equivalence queries read. */
async function warmAll(memory: Memory): Promise<void> {
  for (const scope of [{ userId: 'c0' }, { userId: 'c1' }, { userId: 'c0', agentId: 'a' }, { userId: 'c1', agentId: 'a' }, { agentId: 'a' }]) {
    await memory.warm(scope)
  }
}

interface RawConversation {
  conversation: Record<string, unknown>
  qa: Array<{ question: string }>
}
const locomo = JSON.parse(readFileSync(new URL('../../../../shared/data/locomo/locomo10.json', import.meta.url), 'utf8')) as RawConversation[]

function turns(conversation: RawConversation): Array<{ text: string; speaker: string; session: number }> {
  return Object.entries(conversation.conversation)
    .filter(([key, value]) => /^session_\d+$/.test(key) && Array.isArray(value))
    .flatMap(([key, value]) =>
      (value as Array<{ speaker: string; text: string }>).map((turn) => ({ text: turn.text, speaker: turn.speaker, session: Number(key.slice(8)) })),
    )
}

/**
 * Same ranking: the same scores (to float precision: the store computes cosine in float32) and the
 * same ids in order, except that results whose scores tie within that precision may swap, also
 * across the cut at topK.
 */
function expectSameRanking(actual: SearchResult[], expected: SearchResult[], label: string): number {
  expect(actual.length, label).toBe(expected.length)
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-5
  let swaps = 0
  actual.forEach((hit, i) => {
    const other = expected[i] as SearchResult
    expect(near(hit.score, other.score), `${label}: score at ${i}: ${hit.score} vs ${other.score}`).toBe(true)
    if (hit.id === other.id) return
    swaps++
    const twin = expected.find((e) => e.id === hit.id)
    const last = expected.at(-1) as SearchResult
    expect(twin ? near(twin.score, hit.score) : near(hit.score, last.score), `${label}: ${hit.id} at ${i} is no tie`).toBe(true)
  })
  return swaps
}

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

describe('resident index vs store indexes', () => {
  it('rank LoCoMo questions alike in every mode and list and count alike, with filters, deletes, updates and superseded memories', async () => {
    await using dir = await tempDir('resident-equivalence')
    const queries: Array<{ query: string; options: SearchOptions }> = []
    const listings: ListOptions[] = []
    const conversations = locomo.slice(0, 2)
    let memory = await Memory.open({ path: dir.path, embedder })
    try {
      for (const [c, conversation] of conversations.entries()) {
        const items = turns(conversation).map((turn, i) => ({
          messages: turn.text,
          userId: `c${c}`,
          agentId: i % 3 === 0 ? 'a' : undefined,
          metadata: { speaker: turn.speaker, session: turn.session, tags: i % 2 ? ['even'] : ['odd', 'x'] },
        }))
        const { results } = await memory.addBatch(items)
        // Writes of every kind once the scopes are resident (the resident index must follow them).
        await warmAll(memory)
        const random = seededRandom(c + 1)
        for (const [i, r] of results.entries()) {
          const dice = random()
          if (dice < 0.05) await memory.delete(r.id)
          else if (dice < 0.1 || i === results.length - 1) await memory.update(r.id, { text: `${r.memory} (edited)` })
        }
        await memory.import(
          turns(conversation)
            .slice(0, 20)
            .map((turn) => ({ memory: `${turn.text} superseded`, userId: `c${c}`, validTo: '2024-01-01T00:00:00.000Z' })),
        )
        const speaker = turns(conversation)[0]?.speaker as string
        for (const { question } of conversation.qa.slice(0, 40)) {
          queries.push({ query: question, options: { userId: `c${c}`, topK: 10, explain: true } })
          queries.push({ query: question, options: { userId: `c${c}`, topK: 5, mode: 'keyword' } })
          queries.push({ query: question, options: { userId: `c${c}`, topK: 5, mode: 'vector' } })
        }
        listings.push(
          { userId: `c${c}` },
          { userId: `c${c}`, includeSuperseded: true },
          { userId: `c${c}`, agentId: 'a', filters: { metadata: { speaker } } },
          c === 0
            ? { agentId: 'a', filters: { OR: [{ metadata: { session: { gte: 5 } } }, { metadata: { tags: 'x' } }] } }
            : { agentId: 'a', includeSuperseded: true, filters: { NOT: { user_id: 'c0' } } },
        )
        for (const { question } of conversation.qa.slice(40, 50)) {
          queries.push({ query: question, options: { userId: `c${c}`, filters: { metadata: { speaker } } } })
          queries.push({ query: question, options: { userId: `c${c}`, filters: { OR: [{ metadata: { session: { gte: 5 } } }, { metadata: { tags: 'x' } }] } } })
          queries.push({ query: question, options: { userId: `c${c}`, includeSuperseded: true, topK: 20 } })
          queries.push({ query: question, options: { userId: `c${c}`, agentId: 'a', includeSuperseded: true, topK: 20 } })
          queries.push({ query: question, options: { agentId: 'a', filters: { NOT: { user_id: 'c0' } } } })
        }
      }
      const run = async () => {
        await warmAll(memory)
        return Promise.all(queries.map(async ({ query, options }) => (await memory.search(query, options)).results))
      }
      // Lists and counts too: every page of getAll (7 at a time, so cursors land inside the scope) and count.
      const lists = async () => {
        await warmAll(memory)
        const pages: unknown[] = []
        for (const options of listings) {
          const listed: MemoryItem[] = []
          let cursor: string | undefined
          do {
            const page = await memory.getAll({ ...options, limit: 7, ...(cursor !== undefined && { cursor }) })
            listed.push(...page.results)
            cursor = page.nextCursor ?? undefined
          } while (cursor !== undefined)
          pages.push({ listed, count: await memory.count(options) })
        }
        return pages
      }
      const resident = await run()
      const residentLists = await lists()
      expect(memory.stats().resident.scopes).toBe(5)
      expect(resident.some((r) => r.some((hit) => hit.validTo !== null))).toBe(true)
      await memory.close()

      // The same store with the resident index off: every search reads LanceDB.
      memory = await Memory.open({ path: dir.path, embedder, resident: { budgetBytes: 0 } })
      const store = await run()
      const storeLists = await lists()
      expect(memory.stats().resident.scopes).toBe(0)
      await memory.close()

      // Loaded from the store after a reopen, rather than kept current by writes.
      memory = await Memory.open({ path: dir.path, embedder })
      const reloaded = await run()
      expect(residentLists).toEqual(storeLists)
      expect(await lists()).toEqual(storeLists)
      expect(JSON.stringify(storeLists).length).toBeGreaterThan(20_000)
      let swaps = 0
      queries.forEach(({ query, options }, i) => {
        const label = `${JSON.stringify(options)} ${query}`
        swaps += expectSameRanking(resident[i] as SearchResult[], store[i] as SearchResult[], label)
        swaps += expectSameRanking(reloaded[i] as SearchResult[], store[i] as SearchResult[], label)
      })
      expect(resident.flat().length).toBeGreaterThan(queries.length * 4)
      // Conversation context (search/context.ts) took part: its neighbours come from each path's own rows.
      expect(store.flat().filter((hit) => hit.explain?.context).length).toBeGreaterThan(50)
      // So did feedback (search/feedback.ts): the resident path scores it from its postings, the store path from the texts.
      expect(resident.flat().filter((hit) => hit.explain?.feedback).length).toBeGreaterThan(50)
      console.log(`resident equivalence: ${queries.length} queries, ${resident.flat().length} results, ${swaps} tie swaps`)
    } finally {
      await memory.close()
    }
  })

  it('rank a small scope read whole for one search (the budget full) as the store path does, keep nothing, and see an add not in the store yet', async () => {
    await using dir = await tempDir('resident-read-once')
    const users = ['o0', 'o1', 'o2']
    const questions = locomo[0]?.qa.slice(0, 6).map((qa) => qa.question) ?? []
    const run = async (memory: Memory) => {
      const answers: SearchResult[][] = []
      // Each scope twice: a third read would load it, in the background.
      for (const [i, question] of questions.entries()) {
        answers.push((await memory.search(question, { userId: users[i % users.length] as string, topK: 10, explain: true })).results)
      }
      return answers
    }
    let memory = await Memory.open({ path: dir.path, embedder })
    try {
      const texts = turns(locomo[0] as RawConversation).map((turn) => turn.text)
      for (const [u, userId] of users.entries()) await memory.addBatch(texts.slice(u * 120, u * 120 + 120).map((messages) => ({ messages, userId })))
      await memory.addBatch(texts.slice(360, 420).map((messages) => ({ messages, userId: 'filler' })))
      await memory.addBatch(texts.slice(0, 300).map((messages) => ({ messages: `${messages} (again)`, userId: 'wide' })))
      await memory.warm({ userId: 'filler' })
      const fillerBytes = memory.stats().resident.usedBytes
      await memory.close()
      // A budget the filler's scope fills to 95%: nearly full, so no first read loads a scope to keep it.
      memory = await Memory.open({ path: dir.path, embedder, resident: { budgetBytes: Math.ceil(fillerBytes / 0.95) } })
      await memory.warm({ userId: 'filler' })
      const vectors = storeOf(memory) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
      const calls: Record<string, number> = {}
      for (const method of ['vectorSearch', 'keywordMatches', 'scopeRows', 'list', 'count']) {
        const original = vectors[method] as (...args: unknown[]) => Promise<unknown>
        vectors[method] = (...args: unknown[]) => {
          calls[method] = (calls[method] ?? 0) + 1
          return original.apply(vectors, args)
        }
      }
      const readOnce = await run(memory)
      // Every search read its scope whole (a list) and ranked it in memory: none asked the store's indexes.
      expect(calls).toEqual({ count: questions.length, list: questions.length })
      expect(memory.stats().resident).toMatchObject({ scopes: 1, loads: 1, usedBytes: fillerBytes })
      // An acknowledged add the writer has not applied to the store yet (it lingers) is found. In
      // another tenant, whose keyword statistics the comparison below does not read.
      const other = memory.withTenant('other')
      await other.search('zebras', { userId: 'o3' }) // counts the tenant's (empty) keyword statistics
      const apply = holdStore(memory, 'apply')
      try {
        await other.add('Zebras graze on the savanna at dawn', { userId: 'o3' })
        expect((await other.search('zebras savanna', { userId: 'o3' })).results.map((r) => r.memory)).toEqual(['Zebras graze on the savanna at dawn'])
      } finally {
        apply.release()
      }
      expect(calls['list']).toBe(questions.length + 2)
      // A scope over 250 memories goes to the store path; counted once, its next read is not.
      const counts = calls['count'] as number
      await memory.search('sailing', { userId: 'wide' })
      await memory.search('harbours', { userId: 'wide' })
      expect([calls['count'], calls['vectorSearch']]).toEqual([counts + 1, 2])
      await memory.close()

      memory = await Memory.open({ path: dir.path, embedder, resident: { budgetBytes: 0 } })
      const store = await run(memory)
      for (const [i, question] of questions.entries()) expectSameRanking(readOnce[i] as SearchResult[], store[i] as SearchResult[], question)
      expect(store.flat().filter((hit) => hit.explain?.context).length).toBeGreaterThan(0)
    } finally {
      await memory.close()
    }
  })

  it('rank a scope of more memories than the store path ranks by their texts alike, on its first store search and after', async () => {
    // Over 1,000 rows, the store path's first search finds the scope too big to rank by the texts it
    // read and asks the full-text index after that read; later searches ask it beside the read.
    await using dir = await tempDir('resident-wide-scope')
    const texts = locomo.slice(2, 5).flatMap((conversation) => turns(conversation).map((turn) => turn.text))
    expect(texts.length).toBeGreaterThan(1000)
    const questions = locomo.slice(2, 5).flatMap((conversation) => conversation.qa.slice(0, 8).map((qa) => qa.question))
    const run = async (memory: Memory) => {
      const answers: SearchResult[][] = []
      for (const question of questions) answers.push((await memory.search(question, { userId: 'w', topK: 10, explain: true })).results)
      return answers
    }
    let memory = await Memory.open({ path: dir.path, embedder, resident: { maxScopeRows: 5000 } })
    try {
      for (let i = 0; i < texts.length; i += 500)
        await memory.addBatch(texts.slice(i, i + 500).map((text, j) => ({ messages: `${text} #${i + j}`, userId: 'w' })))
      await memory.warm({ userId: 'w' })
      const resident = await run(memory)
      expect(memory.stats().resident.scopes).toBe(1)
      await memory.close()
      memory = await Memory.open({ path: dir.path, embedder, resident: { budgetBytes: 0 } })
      const store = await run(memory)
      for (const [i, question] of questions.entries()) expectSameRanking(store[i] as SearchResult[], resident[i] as SearchResult[], question)
      expect(store.flat().filter((hit) => hit.explain?.keyword && hit.explain.context).length).toBeGreaterThan(0)
    } finally {
      await memory.close()
    }
  })

  it('read quotes and other full-text query syntax in a query as plain words, on both paths', async () => {
    // The store path's full-text net read `"Lisbon"` as a phrase query, which the index cannot
    // answer (no positions): MEMORY_STORAGE_FAILED, a 500 over HTTP.
    const queries = ['"Lisbon"', 'Lisbon AND cat', 'Lisb*', 'text:Lisbon', '(Lisbon', '+Lisbon -cat', 'Lisbon~2', 'cat^3 "sleeps all', 'Lisbon OR']
    const answers: string[][][] = []
    // The resident index; the store path; the store path with the full-text net (scope over maxScopeRows).
    for (const resident of [{}, { budgetBytes: 0 }, { maxScopeRows: 2 }]) {
      await using store = await openTemp(embedder, { resident })
      await store.memory.addBatch(
        ['I live in Lisbon', 'My cat sleeps all day', 'Lisbon has seven hills and a cat'].map((messages) => ({ messages, userId: 'q' })),
      )
      await store.memory.warm({ userId: 'q' }).catch(() => undefined) // over maxScopeRows: not loaded
      const ranked: string[][] = []
      for (const query of queries) {
        for (const mode of ['keyword', 'hybrid'] as const) {
          const { results } = await store.memory.search(query, { userId: 'q', mode })
          ranked.push(results.map((r) => `${r.memory} ${r.score.toFixed(5)}`))
        }
      }
      answers.push(ranked)
    }
    const [onResident, onStore, onNet] = answers
    expect(onResident?.flat().length).toBeGreaterThan(queries.length * 2)
    expect(onStore).toEqual(onResident)
    expect(onNet).toEqual(onResident)
  })

  it('find nothing by vector for a query of words the model does not know; its keyword matches still count', async () => {
    for (const resident of [{}, { budgetBytes: 0 }]) {
      await using store = await openTemp(embedder, { resident })
      const { memory } = store
      await memory.addBatch([
        { messages: 'I kayak on the lake every summer', userId: 'u' },
        { messages: 'The qzxvbn rollout failed again', userId: 'u' },
      ])
      await memory.search('lake', { userId: 'u' }) // loads the scope where the index is on
      const texts = async (query: string, mode: 'hybrid' | 'vector') => (await memory.search(query, { userId: 'u', mode })).results.map((r) => r.memory)
      const label = JSON.stringify(resident)
      // Before, every memory came back at score 0, in id order.
      expect(await texts('zzqqxx wwvvkk', 'hybrid'), label).toEqual([])
      expect(await texts('zzqqxx wwvvkk', 'vector'), label).toEqual([])
      // The keyword match; the other memory only by the context its thread neighbour lends it.
      const { results } = await memory.search('qzxvbn', { userId: 'u', explain: true })
      expect(
        results.map((r) => r.memory),
        label,
      ).toEqual(['The qzxvbn rollout failed again', 'I kayak on the lake every summer'])
      expect(
        results.map((r) => [r.explain?.keyword !== null, r.explain?.context?.from]),
        label,
      ).toEqual([
        [true, undefined],
        [false, results[0]?.id],
      ])
      expect(await texts('qzxvbn', 'vector'), label).toEqual([])
      expect(await texts('kayak', 'vector'), label).toHaveLength(2)
    }
  })

  it('find a memory the model reads as nothing by keywords and context only, on both paths', async () => {
    // The offline default embeds words it does not know (here all of a Japanese text) as zeros. The
    // store's cosine search never returns such a row; the resident scan ranked it at 0, among the
    // vector candidates, so feedback and fusion scored every other hit differently.
    const answers: SearchResult[][][] = []
    for (const resident of [{}, { budgetBytes: 0 }]) {
      await using store = await openTemp(embedder, { resident })
      await store.memory.addBatch(['I live in Lisbon', '東京に住んでいます', 'My cat sleeps all day'].map((messages) => ({ messages, userId: 'r' })))
      await store.memory.search('Lisbon', { userId: 'r' }) // loads the scope where the index is on
      const run = async (query: string, mode: 'hybrid' | 'vector', topK = 10) => (await store.memory.search(query, { userId: 'r', mode, topK })).results
      answers.push([
        await run('Lisbon', 'vector'),
        await run('Lisbon', 'hybrid'),
        // The Japanese memory follows the best hit in its thread: the context it is lent lifts it
        // over the cat, which the resident path must see although it is no vector candidate.
        await run('Lisbon', 'hybrid', 2),
        await run('東京に住んでいます cat', 'hybrid'),
      ])
    }
    // Two stores, so two sets of ids: compared by text, scores to float32 precision.
    const [resident, store] = answers.map((runs) => runs.map((results) => results.map((r) => `${r.memory} ${r.score.toFixed(5)}`)))
    expect(resident?.[0]?.map((hit) => hit.replace(/ -?\d+\.\d+$/, ''))).toEqual(['I live in Lisbon', 'My cat sleeps all day'])
    expect(resident?.[2]?.map((hit) => hit.replace(/ -?\d+\.\d+$/, ''))).toEqual(['I live in Lisbon', '東京に住んでいます'])
    expect(store).toEqual(resident)
  })

  it('rank a query the model cannot read alike when a thread neighbour outranks a keyword hit', async () => {
    // A holds all four unknown query words, C one of them (another thread), B follows A in A's
    // thread: B's context from A (0.3 x 0.7) beats C's keyword share (~0.7 / 4). The resident path
    // took "no vector candidates" for "no row left out" and never scored B.
    const rankings: string[][] = []
    for (const resident of [{}, { budgetBytes: 0 }]) {
      await using store = await openTemp(embedder, { resident })
      await store.memory.addBatch([
        { messages: 'qzxa was mentioned once', userId: 'z', runId: 'r2' },
        { messages: 'qzxa qzxb qzxc qzxd all together', userId: 'z', runId: 'r1' },
        { messages: 'The meeting moved to Thursday afternoon', userId: 'z', runId: 'r1' },
      ])
      await store.memory.search('meeting', { userId: 'z' }) // loads the scope where the index is on
      const { results } = await store.memory.search('qzxa qzxb qzxc qzxd', { userId: 'z', topK: 2, explain: true })
      rankings.push(results.map((r) => r.memory))
    }
    expect(rankings[0]).toEqual(['qzxa qzxb qzxc qzxd all together', 'The meeting moved to Thursday afternoon'])
    expect(rankings[1]).toEqual(rankings[0])
  })
})

interface Expected {
  text: string
  userId: string
  metadata: Record<string, unknown>
  superseded: boolean
}

/** Every memory of a user, superseded ones included, as a search over the whole scope returns them. */
async function scopeContents(memory: Memory, userId: string): Promise<Map<string, Expected>> {
  const { results } = await memory.search('anything', { userId, mode: 'vector', topK: 1000, includeSuperseded: true })
  return new Map(results.map((r) => [r.id, { text: r.memory, userId, metadata: r.metadata, superseded: r.validTo !== null }]))
}

describe('resident index coherence', () => {
  it.each([
    ['', false],
    [', with the search thread answering some of the searches', true],
  ])('follows interleaved adds, updates, deletes, purges, supersessions and resets under concurrency, reading its own writes%s', async (_, searchThread) => {
    await using store = await openTemp(embedder, { resident: { searchThread, searchThreadMinRows: 1 } })
    const { memory } = store
    const random = seededRandom(13)
    const users = ['u0', 'u1', 'u2']
    const model = new Map<string, Expected>()
    /** Ids deleted (plain, purged, or by a deleteAll): get finds none of them. */
    const gone = new Set<string>()
    let n = 0
    /** Ids an op of this round already works on: ops on one id in one round would race in the model. */
    const taken = new Set<string>()
    const pick = () => {
      const ids = [...model.keys()].filter((id) => !taken.has(id))
      const id = ids[Math.floor(random() * ids.length)]
      if (id) taken.add(id)
      return id
    }
    const add = async (userId: string) => {
      const k = n++
      const text = `note ${k} about ${['coffee', 'tea', 'hiking', 'chess'][k % 4]} for ${userId}`
      const { results } = await memory.add(text, { userId, metadata: { k } })
      const id = results[0]?.id as string
      model.set(id, { text, userId, metadata: { k }, superseded: false })
      // Read your writes: the acknowledged add is found at once.
      const found = await memory.search(text, { userId, mode: 'keyword', topK: 3 })
      expect(found.results.map((r) => r.id)).toContain(id)
    }
    const update = async () => {
      const id = pick()
      const current = id === undefined ? undefined : model.get(id)
      if (!id || !current || current.superseded) return
      const text = `${current.text} revised ${n++}`
      model.set(id, { ...current, text, metadata: { revised: true } })
      await memory.update(id, { text, metadata: { revised: true } })
    }
    const remove = async (purge: boolean) => {
      const id = pick()
      if (!id) return
      model.delete(id)
      gone.add(id)
      await memory.delete(id, { purge })
    }
    const supersede = async (userId: string) => {
      const text = `old fact ${n++} of ${userId}`
      const { results } = await memory.import([{ memory: text, userId, validTo: '2025-01-01T00:00:00.000Z' }])
      model.set(results[0]?.id as string, { text, userId, metadata: {}, superseded: true })
    }

    for (const userId of users) await add(userId)
    for (const userId of users) await memory.warm({ userId }) // resident from here on
    for (let round = 0; round < 12; round++) {
      taken.clear()
      const ops: Array<Promise<unknown>> = []
      for (let i = 0; i < 8; i++) {
        const userId = users[Math.floor(random() * users.length)] as string
        const dice = random()
        if (dice < 0.45) ops.push(add(userId))
        else if (dice < 0.6) ops.push(update())
        else if (dice < 0.72) ops.push(remove(false))
        else if (dice < 0.77) ops.push(remove(true))
        else if (dice < 0.87) ops.push(supersede(userId))
        else ops.push(memory.search('coffee', { userId }))
      }
      if (round === 6) {
        // Another tenant's reset must not touch this one; this tenant's deleteAll empties a scope.
        ops.push(
          memory
            .withTenant('other')
            .add('other tenant', { userId: 'u0' })
            .then(() => memory.withTenant('other').reset()),
        )
      }
      await Promise.all(ops)
      if (round === 9) {
        await memory.deleteAll({ userId: 'u2' })
        for (const [id, expected] of model) {
          if (expected.userId !== 'u2') continue
          model.delete(id)
          gone.add(id)
        }
      }
      // get reads a resident row where a scope holds it (all do here), the store otherwise: alike.
      for (const [id, expected] of model) {
        const got = await memory.get(id)
        expect(got && { text: got.memory, userId: got.userId, metadata: got.metadata, superseded: got.validTo !== null }, `round ${round}, get ${id}`).toEqual(
          expected,
        )
      }
      for (const id of gone) expect(await memory.get(id), `round ${round}, get deleted ${id}`).toBeNull()
      for (const userId of users) {
        const expected = new Map([...model].filter(([, e]) => e.userId === userId))
        expect(await scopeContents(memory, userId), `round ${round}, ${userId}`).toEqual(expected)
        const current = await memory.search('anything', { userId, mode: 'vector', topK: 1000 })
        expect(current.results.length).toBe([...expected.values()].filter((e) => !e.superseded).length)
        // Lists and counts read the same resident rows, in id order.
        const listed = (await memory.getAll({ userId, includeSuperseded: true, limit: 1000 })).results
        expect(new Map(listed.map((r) => [r.id, { text: r.memory, userId, metadata: r.metadata, superseded: r.validTo !== null }]))).toEqual(expected)
        expect(listed.map((r) => r.id)).toEqual([...expected.keys()].sort())
        expect(await memory.count({ userId })).toBe(current.results.length)
      }
    }
    const stats = memory.stats().resident
    expect(stats.hits).toBeGreaterThan(50)
    expect(stats.usedBytes).toBeGreaterThan(0)
    if (searchThread) expect(memory.stats().searchThread?.searches).toBeGreaterThan(0)

    // A reset empties this tenant's resident scopes too.
    const ids = [...model.keys()]
    await memory.reset()
    for (const userId of users) expect((await scopeContents(memory, userId)).size).toBe(0)
    for (const id of ids) expect(await memory.get(id)).toBeNull()
  })

  it("counts a tenant's keyword statistics while writes go on, and counts those writes", async () => {
    await using dir = await tempDir('resident-stats-beside-commits')
    let memory = await Memory.open({ path: dir.path, embedder })
    try {
      const { results } = await memory.addBatch(
        Array.from({ length: 40 }, (_, i) => ({ messages: `fact ${i} about ${i % 2 ? 'sailing boats' : 'quiet harbours'}`, userId: 'u' })),
      )
      await memory.size() // every row in the store
      // The first search counts the tenant's statistics: hold that scan of its texts.
      const vectors = storeOf(memory) as unknown as { scanTexts(tenantId: string): AsyncIterable<string[]> }
      const scanTexts = vectors.scanTexts.bind(vectors)
      let open = () => {}
      const gate = new Promise<void>((resolve) => {
        open = resolve
      })
      let scanning = false
      vectors.scanTexts = async function* (tenantId: string) {
        scanning = true
        await gate
        yield* scanTexts(tenantId)
      }
      const first = memory.search('harbours', { userId: 'u', mode: 'keyword', topK: 50 })
      await vi.waitFor(() => expect(scanning).toBe(true))
      // Acknowledged while the scan waits (it held every commit before): an add, an update of a
      // text, a delete, and an add in another scope of the tenant.
      const writes = Promise.all([
        memory.add('harbours at night are quiet', { userId: 'u' }),
        memory.update(results[0]?.id as string, { text: 'fact 0 about windy harbours and harbours again' }),
        memory.delete(results[2]?.id as string),
        memory.add('harbours of another user', { userId: 'v' }),
      ])
      let acknowledged = false
      void writes.then(() => {
        acknowledged = true
      })
      await vi.waitFor(() => expect(acknowledged).toBe(true))
      // No write reaches the store while the scan runs (the applier lingers 100 ms at most)...
      await new Promise((resolve) => setTimeout(resolve, 400))
      expect(await storeOf(memory).countRows()).toBe(40)
      // ...and a read of a scope not held that would wait for them loads it, with them, instead.
      const listed = await Promise.race([memory.getAll({ userId: 'v' }), new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 5_000))])
      expect(listed === 'waiting' ? listed : listed.results.map((r) => r.memory)).toEqual(['harbours of another user'])
      open()
      await first
      const queries = ['harbours', 'quiet harbours', 'sailing boats at night']
      const ranked = async () => {
        const answers: string[][] = []
        for (const query of queries) {
          const found = await memory.search(query, { userId: 'u', mode: 'keyword', topK: 50 })
          answers.push(found.results.map((r) => `${r.id} ${r.score.toFixed(6)}`))
        }
        return answers
      }
      const counted = await ranked()
      await memory.close()
      // Reopened, every write is in the store and the statistics are counted from it alone.
      memory = await Memory.open({ path: dir.path, embedder })
      expect(await ranked()).toEqual(counted)
      expect(counted[0]?.length).toBe(20)
    } finally {
      await memory.close()
    }
  })

  it('evicts least recently used scopes under a tiny budget and still answers right; a scope over the row limit reads the store', async () => {
    await using store = await openTemp(embedder, { resident: { budgetBytes: 40_000, maxScopeRows: 25 } })
    const { memory } = store
    const users = Array.from({ length: 8 }, (_, i) => `e${i}`)
    for (const userId of users) {
      await memory.addBatch(Array.from({ length: 20 }, (_, i) => ({ messages: `memory ${i} of ${userId} about topic ${i % 5}`, userId })))
    }
    await memory.addBatch(Array.from({ length: 30 }, (_, i) => ({ messages: `big scope memory ${i}`, userId: 'big' })))
    for (let pass = 0; pass < 2; pass++) {
      for (const userId of users) {
        await memory.warm({ userId })
        const { results } = await memory.search('topic 3', { userId, topK: 50 })
        expect(results).toHaveLength(20)
        expect(results.every((r) => r.userId === userId)).toBe(true)
      }
    }
    const stats = memory.stats().resident
    expect(stats.evictions).toBeGreaterThan(0)
    expect(stats.usedBytes).toBeLessThanOrEqual(40_000)
    expect(stats.scopes).toBeLessThan(users.length)

    const before = memory.stats().resident.storeSearches
    const big = await memory.search('big scope memory 7', { userId: 'big', topK: 5 })
    expect(big.results[0]?.memory).toBe('big scope memory 7')
    expect(memory.stats().resident.storeSearches).toBe(before + 1)
  })

  it('loads a small scope on its first read, which waits for it; a bigger one on its second read, in the background', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await memory.addBatch(Array.from({ length: 30 }, (_, i) => ({ messages: `fact ${i} about sailing`, userId: 'y' })))
    const first = await memory.search('sailing', { userId: 'y', topK: 5 })
    expect(memory.stats().resident).toMatchObject({ scopes: 1, loads: 1, hits: 0, storeSearches: 0 })
    const again = await memory.search('sailing', { userId: 'y', topK: 5 })
    expect(memory.stats().resident.hits).toBe(1)
    expect(again.results.map((r) => r.id)).toEqual(first.results.map((r) => r.id))

    // Over firstReadLoadRows (250): reading it whole would cost more than a store search.
    await memory.addBatch(Array.from({ length: 260 }, (_, i) => ({ messages: `note ${i} about rowing`, userId: 'z' })))
    // The scope's count reads the store: wait until the batch is applied there.
    await memory.size()
    const fromStore = await memory.search('rowing', { userId: 'z', topK: 5 })
    expect(memory.stats().resident).toMatchObject({ scopes: 1, loads: 1, storeSearches: 1 })
    await memory.search('rowing', { userId: 'z', topK: 5 })
    await vi.waitFor(() => expect(memory.stats().resident.loads).toBe(2))
    const resident = await memory.search('rowing', { userId: 'z', topK: 5 })
    expect(memory.stats().resident.hits).toBe(2)
    expect(resident.results.map((r) => r.id)).toEqual(fromStore.results.map((r) => r.id))
  })

  it('lets I/O run between resident searches that callers chain without pause', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await memory.addBatch(Array.from({ length: 50 }, (_, i) => ({ messages: `fact ${i} about kayaking and rivers`, userId: 'k' })))
    await memory.search('kayaking', { userId: 'k' })
    expect(memory.stats().resident.scopes).toBe(1)
    // A resident search awaits nothing but resolved promises, so callers that loop on it would
    // hold the event loop (timers, sockets, the writer's commits) until they all stop.
    let done = 0
    let stopped = false
    // A callback that reschedules itself each turn of the loop, noting the searches done by then.
    const doneAtTurns: number[] = []
    const turn = () => {
      doneAtTurns.push(done)
      if (!stopped) setImmediate(turn)
    }
    setImmediate(turn)
    const loop = async () => {
      for (let i = 0; i < 250; i++) {
        await memory.search(`kayaking river ${i}`, { userId: 'k' })
        done++
      }
    }
    await Promise.all(Array.from({ length: 8 }, loop))
    stopped = true
    expect(memory.stats().resident.storeSearches).toBe(0)
    const gaps = [...doneAtTurns, done].map((d, i, all) => d - (all[i - 1] ?? 0))
    expect(Math.max(...gaps)).toBeLessThan(done / 4)
  })

  it('a load a read waits for that fails leaves the read to the store; an add meanwhile is not handed the failure', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await memory.addBatch(Array.from({ length: 20 }, (_, i) => ({ messages: `fact ${i} about gliding`, userId: 'g' })))
    await memory.size() // waits until the batch is in the store
    const held = holdStore(memory, 'list', { fail: new Error('object store unreachable') })
    try {
      const search = memory.search('gliding', { userId: 'g', topK: 3 })
      await vi.waitFor(() => expect(memory.stats().resident.scopes).toBe(1))
      // An add to a scope written before asks for its load without waiting (writer.ts): it must
      // not be handed the load, whose rejection nothing would then handle.
      await memory.add('one more fact about gliding', { userId: 'g' })
      held.release()
      expect((await search).results).toHaveLength(3)
      expect(memory.stats().resident).toMatchObject({ scopes: 0, loads: 0 })
    } finally {
      held.release()
    }
    expect((await memory.search('gliding', { userId: 'g', topK: 30 })).results).toHaveLength(21)
    expect(memory.stats().resident.loads).toBe(1)
  })

  it('does not keep a scope that writes not yet in the store take over maxScopeRows', async () => {
    await using store = await openTemp(embedder, { resident: { maxScopeRows: 25 } })
    const { memory } = store
    const held = holdStore(memory, 'apply')
    try {
      // Acknowledged (journaled), held from LanceDB: the scope's count reads 0.
      await memory.addBatch(Array.from({ length: 30 }, (_, i) => ({ messages: `entry ${i} about tides`, userId: 't' })))
      const search = memory.search('tides', { userId: 't', topK: 50 })
      await vi.waitFor(() => expect(memory.stats().resident.storeSearches).toBe(1))
      held.release()
      expect((await search).results).toHaveLength(30)
    } finally {
      held.release()
    }
    expect(memory.stats().resident).toMatchObject({ scopes: 0, loads: 0 })
  })

  it('a read that comes while a small scope loads waits for that load instead of searching the store', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await memory.addBatch(Array.from({ length: 20 }, (_, i) => ({ messages: `tip ${i} about knots`, userId: 'k' })))
    await memory.size() // waits until the batch is in the store
    // Hold the load's read of the scope.
    const held = holdStore(memory, 'list')
    const first = memory.search('knots', { userId: 'k', topK: 3 })
    await vi.waitFor(() => expect(memory.stats().resident.scopes).toBe(1)) // its slot is registered, loading
    const second = memory.search('knots', { userId: 'k', topK: 3 })
    held.release()
    const [a, b] = await Promise.all([first, second])
    expect(b.results.map((r) => r.id)).toEqual(a.results.map((r) => r.id))
    expect(a.results).toHaveLength(3)
    expect(memory.stats().resident).toMatchObject({ loads: 1, storeSearches: 0 })
  })

  it('lists and counts a resident scope without waiting for the store to take an acknowledged add', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    await memory.addBatch(Array.from({ length: 5 }, (_, i) => ({ messages: `walk ${i} by the river`, userId: 'r' })))
    await memory.warm({ userId: 'r' })
    const held = holdStore(memory, 'apply')
    try {
      const { results } = await memory.add('a walk in the rain', { userId: 'r' })
      await vi.waitFor(() => expect(held.held()).toBeGreaterThan(0))
      const listed = await memory.getAll({ userId: 'r', limit: 10 })
      expect(listed.results.map((r) => r.id)).toContain(results[0]?.id)
      expect(await memory.count({ userId: 'r' })).toBe(6)
    } finally {
      held.release()
    }
  })

  it('lists and counts a scope it does not hold while writes wait behind a maintenance: it loads it, with them, instead of waiting', async () => {
    // The third row makes a maintenance due.
    await using store = await openTemp(embedder, { maintenanceEveryRows: 3, maintenanceEveryCommits: 1_000_000 })
    const { memory } = store
    const maintenance = holdStore(memory, 'maintain', { after: true })
    try {
      await memory.addBatch(Array.from({ length: 3 }, (_, i) => ({ messages: `step ${i} of the recipe`, userId: 'm' })))
      await vi.waitFor(() => expect(maintenance.held()).toBeGreaterThan(0), { timeout: 10_000 })
      const { results } = await memory.add('a note written during the maintenance', { userId: 'n' })
      const listing = Promise.all([memory.getAll({ userId: 'n' }), memory.count({ userId: 'n' })])
      const answered = await Promise.race([listing, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 5_000))])
      expect(answered).not.toBe('waiting')
      const [listed, counted] = await listing
      expect(listed.results.map((r) => r.id)).toEqual([results[0]?.id])
      expect(counted).toBe(1)
    } finally {
      maintenance.release()
    }
  })

  it('answers get from a resident scope with no store query; a row of a scope not held, or evicted, from the store', async () => {
    await using store = await openTemp(embedder, { resident: { budgetBytes: 60_000, maxScopeRows: 50 } })
    const { memory } = store
    const ids = new Map<string, string[]>()
    for (const userId of ['a', 'b', 'c', 'd']) {
      const { results } = await memory.addBatch(Array.from({ length: 20 }, (_, i) => ({ messages: `fact ${i} of ${userId}`, userId })))
      ids.set(
        userId,
        results.map((r) => r.id),
      )
    }
    await memory.size() // every row in the store: a get no longer finds them among the writer's pending rows
    await memory.warm({ userId: 'a' })
    const [first, second] = ids.get('a') as string[]
    await memory.update(first as string, { text: 'fact 0 of a, revised' })
    await memory.size()

    const held = holdStore(memory, 'getByIds')
    try {
      // Settled at once, though the store holds every read by id.
      const gets = [memory.get(first as string), memory.get((second as string).toUpperCase())]
      let settled = false
      void Promise.all(gets).finally(() => {
        settled = true
      })
      await vi.waitFor(() => expect(settled).toBe(true))
      expect((await Promise.all(gets)).map((item) => item?.memory)).toEqual(['fact 0 of a, revised', 'fact 1 of a'])
      // Another tenant never reads this tenant's resident row: it asks the store, which the tenant filters.
      const otherTenant = memory.withTenant('other').get(first as string)
      const notHeld = memory.get(ids.get('b')?.[3] as string)
      await vi.waitFor(() => expect(held.held()).toBe(2))
      held.release()
      expect(await otherTenant).toBeNull()
      expect((await notHeld)?.memory).toBe('fact 3 of b')
    } finally {
      held.release()
    }

    // Loading the other scopes evicts a (the budget holds about one): its rows come from the store again, still current.
    for (const userId of ['b', 'c', 'd']) await memory.warm({ userId })
    expect(memory.stats().resident.evictions).toBeGreaterThan(0)
    for (const [userId, scopeIds] of ids) {
      for (const [i, id] of scopeIds.entries())
        expect((await memory.get(id))?.memory).toBe(userId === 'a' && i === 0 ? 'fact 0 of a, revised' : `fact ${i} of ${userId}`)
    }
    await memory.delete(second as string)
    expect(await memory.get(second as string)).toBeNull()
  })

  it('sees a write made outside this process after invalidate, not before', async () => {
    await using store = await openTemp(embedder)
    const { memory } = store
    const { results: added } = await memory.add('the resident copy knows this', { userId: 'x' })
    const id = added[0]?.id as string
    await memory.size() // in the store, where the other process's write finds it
    await memory.warm({ userId: 'x' })
    expect((await memory.search('resident copy', { userId: 'x' })).results).toHaveLength(1)
    expect(memory.stats().resident.hits).toBe(1)

    // Another process writes to the same table (what a second replica would do).
    const db = await lancedb.connect(`${store.path}/vectors`)
    const table = await db.openTable('memories')
    await table.update({ where: "user_id = 'x'", values: { text: 'written elsewhere by a replica' } })
    table.close()

    expect((await memory.search('written elsewhere replica', { userId: 'x', mode: 'keyword' })).results).toHaveLength(0)
    // get reads the resident row too: the same view as search until the invalidation.
    expect((await memory.get(id))?.memory).toBe('the resident copy knows this')
    await memory.invalidate({ userId: 'x' })
    const after = await memory.search('written elsewhere replica', { userId: 'x', mode: 'keyword' })
    expect(after.results.map((r) => r.memory)).toEqual(['written elsewhere by a replica'])
    expect((await memory.get(id))?.memory).toBe('written elsewhere by a replica')
    expect(memory.stats().resident.invalidations).toBe(1)
  })
})
