import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defaultEmbedder, openTestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

it('confines every route to the key tenant, even with the same user ids', async () => {
  await using t = await openTestApp(embedder)
  const add = async (key: string, text: string) =>
    (await t.call('POST', '/v1/memories', { key, body: { messages: text, user_id: 'shared', agent_id: 'bot' } })).body.results[0].id as string
  const idA = await add(t.keyA, 'tenant A secret: the launch code is 1234')
  const idB = await add(t.keyB, 'tenant B secret: the vault is in Oslo')
  await t.call('POST', '/v3/memories/add/', {
    key: t.keyB,
    body: { messages: [{ role: 'user', content: 'tenant B likes sushi' }], user_id: 'shared', infer: false },
  })

  const seenBy = async (key: string) => {
    const texts = new Set<string>()
    const collect = (items: Array<{ memory: string }>) => {
      for (const item of items) texts.add(item.memory)
    }
    for (const mode of ['hybrid', 'vector', 'keyword']) {
      collect(
        (await t.call('POST', '/v1/memories/search', { key, body: { query: 'tenant secret launch vault sushi', user_id: 'shared', mode, top_k: 50 } })).body
          .results,
      )
    }
    collect((await t.call('GET', '/v1/memories?user_id=shared', { key })).body.results)
    collect((await t.call('GET', '/v1/memories?agent_id=bot', { key })).body.results)
    collect((await t.call('POST', '/v3/memories/search/', { key, body: { query: 'tenant secret', filters: { user_id: 'shared' } } })).body.results)
    collect((await t.call('POST', '/v3/memories/', { key, body: { filters: { user_id: 'shared' } } })).body.results)
    return texts
  }
  expect([...(await seenBy(t.keyA))].sort()).toEqual(['tenant A secret: the launch code is 1234'])
  expect([...(await seenBy(t.keyB))].sort()).toEqual(['tenant B likes sushi', 'tenant B secret: the vault is in Oslo'])

  // Another tenant's id is indistinguishable from a missing one, on every route that takes an id.
  for (const [method, path, body] of [
    ['GET', `/v1/memories/${idB}`, undefined],
    ['PATCH', `/v1/memories/${idB}`, { text: 'hijacked' }],
    ['DELETE', `/v1/memories/${idB}?purge=true`, undefined],
    ['GET', `/v1/memories/${idB}/`, undefined],
    ['PUT', `/v1/memories/${idB}/`, { text: 'hijacked' }],
    ['DELETE', `/v1/memories/${idB}/`, undefined],
    ['PUT', '/v1/batch/', { memories: [{ memory_id: idB, text: 'hijacked' }] }],
    ['DELETE', '/v1/batch/', { memories: [{ memory_id: idB }] }],
    ['GET', `/v1/memories/${idB}/history`, undefined],
    ['GET', `/v1/memories/${idB}/history/`, undefined],
  ] as const) {
    const res = await t.call(method, path, { key: t.keyA, body })
    expect([method, path, res.status, res.body.error?.code]).toEqual([method, path, 404, 'MEMORY_NOT_FOUND'])
  }

  // Scope-wide deletes and entity listings of A never reach B.
  expect((await t.call('GET', '/v1/entities', { key: t.keyA })).body.results).toEqual(
    expect.arrayContaining([
      { type: 'user', id: 'shared', count: 1 },
      { type: 'agent', id: 'bot', count: 1 },
    ]),
  )
  expect((await t.call('GET', '/v1/entities/', { key: t.keyA })).body.results).toEqual(
    expect.arrayContaining([expect.objectContaining({ name: 'shared', type: 'user', total_memories: 1 })]),
  )
  expect((await t.call('DELETE', '/v1/memories?user_id=shared', { key: t.keyA })).body).toEqual({ deleted: 1 })
  expect((await t.call('DELETE', '/v2/entities/user/shared/', { key: t.keyA })).status).toBe(200)
  expect((await t.call('GET', `/v1/memories/${idB}`, { key: t.keyB })).body.memory).toBe('tenant B secret: the vault is in Oslo')
  expect((await t.call('GET', '/v1/memories?user_id=shared', { key: t.keyB })).body.results).toHaveLength(2)
  expect((await t.call('GET', `/v1/memories/${idA}`, { key: t.keyA })).status).toBe(404)
})

it("numbers history events per memory, so their ids say nothing of other tenants' writes", async () => {
  await using t = await openTestApp(embedder)
  const add = async (key: string, text: string) =>
    (await t.call('POST', '/v1/memories', { key, body: { messages: text, user_id: 'u', infer: false } })).body.results[0].id as string
  const idA = await add(t.keyA, 'tenant A: first note')
  for (let i = 0; i < 5; i++) await add(t.keyB, `tenant B: busy writing, note ${i}`)
  expect((await t.call('PATCH', `/v1/memories/${idA}`, { key: t.keyA, body: { text: 'tenant A: edited note' } })).status).toBe(200)
  const native = (await t.call('GET', `/v1/memories/${idA}/history`, { key: t.keyA })).body.results
  expect(native.map((e: { id: number; event: string }) => [e.id, e.event])).toEqual([
    [1, 'ADD'],
    [2, 'UPDATE'],
  ])
  const mem0 = (await t.call('GET', `/v1/memories/${idA}/history/`, { key: t.keyA })).body
  expect(mem0.map((e: { id: string }) => e.id)).toEqual(['1', '2'])
})
