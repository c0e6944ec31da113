import type { Embedder } from '@agentmem/embeddings'
import { MemoryClient } from 'mem0ai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defaultEmbedder, listen, openTestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

it('serves the official mem0ai MemoryClient end to end, confined to its key tenant', async () => {
  await using t = await openTestApp(embedder)
  await using server = await listen(t.app)
  const a = new MemoryClient({ apiKey: t.keyA, host: server.url })
  const b = new MemoryClient({ apiKey: t.keyB, host: server.url })
  await a.ping()

  const added = await a.add(
    [
      { role: 'user', content: 'I am allergic to peanuts' },
      { role: 'assistant', content: 'Got it, no peanuts for you' },
    ],
    { userId: 'alice', metadata: { source: 'chat' }, infer: false },
  )
  expect(added.map((m) => m.event)).toEqual(['ADD', 'ADD'])
  const id = added[0]?.id as string
  await a.add([{ role: 'user', content: 'I live in Berlin' }], { userId: 'alice', infer: false })
  await b.add([{ role: 'user', content: 'I live in Madrid' }], { userId: 'alice', infer: false })

  const found = await a.search('is alice allergic to anything?', { filters: { user_id: 'alice' }, topK: 2 })
  expect(found.results[0]).toMatchObject({ id, memory: 'I am allergic to peanuts', userId: 'alice' })
  expect(found.results[0]?.score).toBeGreaterThan(0)
  const whereB = await b.search('where does alice live?', { filters: { user_id: 'alice' } })
  expect(whereB.results.map((m) => m.memory)).toEqual(['I live in Madrid'])

  const all = await a.getAll({ filters: { user_id: 'alice' }, pageSize: 2 })
  expect(all.count).toBe(3)
  expect(all.results.map((m) => m.memory)).toEqual(['I am allergic to peanuts', 'Got it, no peanuts for you'])
  expect(all.next).toMatch(/page=2/)
  const page2 = await a.getAll({ filters: { user_id: 'alice' }, page: 2, pageSize: 2 })
  expect(page2.results.map((m) => m.memory)).toEqual(['I live in Berlin'])

  expect(await a.get(id)).toMatchObject({ id, memory: 'I am allergic to peanuts', metadata: { source: 'chat' } })
  await a.update(id, { text: 'I am allergic to peanuts and cashews' })
  expect((await a.get(id)).memory).toBe('I am allergic to peanuts and cashews')
  await expect(b.get(id)).rejects.toThrow(/MEMORY_NOT_FOUND/)
  await expect(b.update(id, { text: 'hijacked' })).rejects.toThrow(/MEMORY_NOT_FOUND/)

  const users = await a.users()
  expect(users.results).toEqual([expect.objectContaining({ name: 'alice', type: 'user', totalMemories: 3 })])

  await a.delete(id)
  await expect(a.get(id)).rejects.toThrow(/MEMORY_NOT_FOUND/)
  const history = await a.history(id)
  expect(history.map((h) => [h.event, h.oldMemory, h.newMemory])).toEqual([
    ['ADD', null, 'I am allergic to peanuts'],
    ['UPDATE', 'I am allergic to peanuts', 'I am allergic to peanuts and cashews'],
    ['DELETE', 'I am allergic to peanuts and cashews', null],
  ])

  await a.deleteAll({ userId: 'alice' })
  expect((await a.getAll({ filters: { user_id: 'alice' } })).results).toEqual([])
  expect((await b.getAll({ filters: { user_id: 'alice' } })).results.map((m) => m.memory)).toEqual(['I live in Madrid'])

  // Platform-only features answer a clear 501, which the client surfaces as an error.
  await expect(a.feedback({ memoryId: id, feedback: 'POSITIVE' as never })).rejects.toThrow(/NOT_IMPLEMENTED/)
  await expect(new MemoryClient({ apiKey: 'wrong', host: server.url }).ping()).rejects.toThrow(/UNAUTHORIZED/)
})
