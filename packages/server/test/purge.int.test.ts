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

const texts = (history: Array<{ previous_memory: string | null; new_memory: string | null }>) => history.map((h) => [h.previous_memory, h.new_memory])

it('issue 17: the native API purges a memory deleted earlier, and a whole scope', async () => {
  await using t = await openTestApp(embedder)
  const id = (await t.call('POST', '/v1/memories', { body: { messages: 'my PIN is 4321', user_id: 'u1' } })).body.results[0].id
  expect((await t.call('DELETE', `/v1/memories/${id}`)).status).toBe(200)
  expect(texts((await t.call('GET', `/v1/memories/${id}/history`)).body.results)).toEqual([
    [null, 'my PIN is 4321'],
    ['my PIN is 4321', null],
  ])
  // Purging after a plain delete works (and again: it is idempotent); GET stays 404.
  for (let i = 0; i < 2; i++)
    expect(await t.call('DELETE', `/v1/memories/${id}?purge=true`)).toMatchObject({ status: 200, body: { deleted: true, purged: true } })
  expect((await t.call('GET', `/v1/memories/${id}`)).status).toBe(404)
  const history = (await t.call('GET', `/v1/memories/${id}/history`)).body.results
  expect(history.map((h: { event: string; purged: boolean }) => [h.event, h.purged])).toEqual([
    ['ADD', true],
    ['DELETE', true],
  ])
  expect(texts(history)).toEqual([
    [null, null],
    [null, null],
  ])
  // Another tenant cannot purge it: 404 as for any id it does not have.
  expect((await t.call('DELETE', `/v1/memories/${id}?purge=true`, { key: t.keyB })).body.error.code).toBe('MEMORY_NOT_FOUND')

  // A scope purge reaches the scope's memories deleted earlier.
  const early = (await t.call('POST', '/v1/memories', { body: { messages: 'my old address is 5 Elm St', user_id: 'u2' } })).body.results[0].id
  await t.call('POST', '/v1/memories', { body: { messages: 'my new address is 9 Oak Rd', user_id: 'u2' } })
  await t.call('DELETE', `/v1/memories/${early}`)
  expect((await t.call('DELETE', '/v1/memories?user_id=u2&purge=true')).body).toEqual({ deleted: 1 })
  expect(texts((await t.call('GET', `/v1/memories/${early}/history`)).body.results)).toEqual([
    [null, null],
    [null, null],
  ])
})

it('issue 17: the mem0ai client purges through delete and deleteAll, and reports a metadata merge as UPDATE', async () => {
  await using t = await openTestApp(embedder)
  await using server = await listen(t.app)
  const client = new MemoryClient({ apiKey: t.keyA, host: server.url })
  const [added] = await client.add([{ role: 'user', content: 'I am allergic to peanuts' }], { userId: 'alice', infer: false })
  const id = added?.id as string
  const [merged] = await client.add([{ role: 'user', content: 'I am allergic to peanuts' }], { userId: 'alice', infer: false, metadata: { severity: 'high' } })
  expect(merged).toMatchObject({ id, event: 'UPDATE' })
  expect((await client.get(id)).metadata).toEqual({ severity: 'high' })

  await client.delete(id)
  // The client passes options it does not know through as query parameters.
  await client.delete(id, { purge: true } as never)
  expect((await client.history(id)).map((h) => [h.event, h.oldMemory, h.newMemory])).toEqual([
    ['ADD', null, null],
    ['UPDATE', null, null],
    ['DELETE', null, null],
  ])

  const [other] = await client.add([{ role: 'user', content: 'I live in Berlin' }], { userId: 'alice', infer: false })
  await client.delete(other?.id as string)
  await client.add([{ role: 'user', content: 'I work in Potsdam' }], { userId: 'alice', infer: false })
  expect((await client.deleteAll({ userId: 'alice', purge: true } as never)).message).toMatch(/\(1\)/)
  expect((await client.history(other?.id as string)).every((h) => h.oldMemory === null && h.newMemory === null)).toBe(true)
  await expect(client.delete(id, { purge: 'yes' } as never)).rejects.toThrow()
})
