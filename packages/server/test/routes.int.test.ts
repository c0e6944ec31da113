import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultEmbedder, openTestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

const missingId = '01900000-0000-7000-8000-000000000000'

describe('native API', () => {
  it('adds, searches, lists, gets, updates, deletes and keeps history', async () => {
    await using t = await openTestApp(embedder)
    const added = await t.call('POST', '/v1/memories', { body: { messages: 'I moved to Lisbon in May', user_id: 'u1', metadata: { topic: 'home' } } })
    expect(added.status).toBe(200)
    expect(added.body.results).toEqual([{ id: expect.any(String), memory: 'I moved to Lisbon in May', event: 'ADD' }])
    const id = added.body.results[0].id as string
    expect(added.headers.get('x-request-id')).toBeTruthy()

    const messages = await t.call('POST', '/v1/memories', {
      body: {
        messages: [
          { role: 'system', content: 'be nice' },
          { role: 'user', content: 'My sister is called Ana' },
          { role: 'assistant', content: 'Noted, Ana is your sister' },
        ],
        user_id: 'u1',
      },
    })
    expect(messages.body.results.map((r: { event: string }) => r.event)).toEqual(['ADD', 'ADD'])

    const batch = await t.call('POST', '/v1/memories/batch', {
      body: {
        items: [
          { messages: 'I like green tea', user_id: 'u1' },
          { messages: 'I like green tea', user_id: 'u1' },
          { messages: 'I play chess', agent_id: 'coach' },
        ],
      },
    })
    expect(batch.status).toBe(200)
    expect(batch.body.results.map((r: { index: number; event: string }) => [r.index, r.event])).toEqual([
      [0, 'ADD'],
      [1, 'NONE'],
      [2, 'ADD'],
    ])

    const search = await t.call('POST', '/v1/memories/search', { body: { query: 'which city did I move to?', user_id: 'u1', top_k: 2, explain: true } })
    expect(search.status).toBe(200)
    expect(search.body.results[0]).toMatchObject({ id, memory: 'I moved to Lisbon in May', user_id: 'u1', metadata: { topic: 'home' } })
    expect(search.body.results[0].explain.vector.score).toBeGreaterThan(0)
    expect(search.body.results).toHaveLength(2)

    const keyword = await t.call('POST', '/v1/memories/search', { body: { query: 'chess', agent_id: 'coach', mode: 'keyword' } })
    expect(keyword.body.results.map((r: { memory: string }) => r.memory)).toEqual(['I play chess'])

    const filtered = await t.call('POST', '/v1/memories/search', { body: { query: 'Lisbon', user_id: 'u1', filters: { 'metadata.topic': 'work' } } })
    expect(filtered.body.results).toEqual([])

    const page1 = await t.call('GET', '/v1/memories?user_id=u1&limit=2')
    expect(page1.body.results).toHaveLength(2)
    const page2 = await t.call('GET', `/v1/memories?user_id=u1&limit=2&cursor=${page1.body.next_cursor}`)
    expect(page2.body.results).toHaveLength(2)
    expect(page2.body.next_cursor).toBeNull()
    const listed = [...page1.body.results, ...page2.body.results].map((m: { memory: string }) => m.memory)
    expect(listed).toEqual(['I moved to Lisbon in May', 'My sister is called Ana', 'Noted, Ana is your sister', 'I like green tea'])
    const byFilter = await t.call('GET', `/v1/memories?user_id=u1&filters=${encodeURIComponent(JSON.stringify({ 'metadata.topic': 'home' }))}`)
    expect(byFilter.body.results.map((m: { id: string }) => m.id)).toEqual([id])

    expect((await t.call('GET', `/v1/memories/${id}`)).body).toMatchObject({ id, memory: 'I moved to Lisbon in May', role: null })
    const updated = await t.call('PATCH', `/v1/memories/${id}`, { body: { text: 'I moved to Porto in June' } })
    expect(updated.body).toMatchObject({ id, memory: 'I moved to Porto in June', metadata: { topic: 'home' } })

    expect((await t.call('DELETE', `/v1/memories/${id}`)).body).toEqual({ deleted: true, purged: false })
    expect((await t.call('GET', `/v1/memories/${id}`)).status).toBe(404)
    const history = await t.call('GET', `/v1/memories/${id}/history`)
    expect(
      history.body.results.map((h: { event: string; previous_memory: string | null; new_memory: string | null; actor: string }) => [
        h.event,
        h.previous_memory,
        h.new_memory,
      ]),
    ).toEqual([
      ['ADD', null, 'I moved to Lisbon in May'],
      ['UPDATE', 'I moved to Lisbon in May', 'I moved to Porto in June'],
      ['DELETE', 'I moved to Porto in June', null],
    ])
    // The audit trail names the key that made each change.
    expect(new Set(history.body.results.map((h: { actor: string }) => h.actor)).size).toBe(1)
    expect(history.body.results[0].actor).toMatch(/^key_/)

    const entities = await t.call('GET', '/v1/entities')
    expect(entities.body.results).toEqual(
      expect.arrayContaining([
        { type: 'user', id: 'u1', count: 3 },
        { type: 'agent', id: 'coach', count: 1 },
      ]),
    )
    // Filtered by type on both routes; an unknown parameter or type is refused, not ignored.
    expect((await t.call('GET', '/v1/entities?type=agent')).body.results).toEqual([{ type: 'agent', id: 'coach', count: 1 }])
    expect((await t.call('GET', '/v1/entities/?type=agent')).body.results.map((e: { id: string }) => e.id)).toEqual(['coach'])
    // users() alone lists every entity (deleteUsers() deletes what it lists); users({ page, pageSize }) pages.
    const all = (await t.call('GET', '/v1/entities/')).body
    expect([all.count, all.results.length, all.next, all.previous]).toEqual([2, 2, null, null])
    const first = (await t.call('GET', '/v1/entities/?page=1&page_size=1')).body
    const second = (await t.call('GET', '/v1/entities/?page=2&page_size=1')).body
    expect([first.count, first.results.length, first.previous, second.next, second.previous !== null]).toEqual([2, 1, null, null, true])
    expect(new URL(first.next).searchParams.get('page')).toBe('2')
    expect(new Set([first.results[0].id, second.results[0].id])).toEqual(new Set(['u1', 'coach']))
    for (const query of ['type=app', 'user_id=u1']) {
      for (const path of ['/v1/entities', '/v1/entities/']) {
        const refused = await t.call('GET', `${path}?${query}`)
        expect([path, query, refused.status, refused.body.error?.code]).toEqual([path, query, 400, 'REQUEST_VALIDATION_FAILED'])
      }
    }

    expect((await t.call('DELETE', '/v1/memories?user_id=u1&purge=true')).body).toEqual({ deleted: 3 })
    expect((await t.call('GET', '/v1/memories?user_id=u1')).body.results).toEqual([])
  })

  it('answers validation failures with 400 and the offending fields, never a 500', async () => {
    await using t = await openTestApp(embedder)
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/v1/memories', { messages: 'x' }], // no scope
      ['POST', '/v1/memories', { messages: '', user_id: 'u' }],
      ['POST', '/v1/memories', { messages: 42, user_id: 'u' }],
      ['POST', '/v1/memories', { messages: 'x', user_id: 'u', surprise: true }],
      ['POST', '/v1/memories', { messages: 'x', user_id: 'u', metadata: { user_id: 'other' } }],
      ['POST', '/v1/memories', '{"messages": "x", '],
      ['POST', '/v1/memories/search', { query: 'x', user_id: 'u', filters: { 'metadata.a': { regex: '.*' } } }],
      ['POST', '/v1/memories/search', { query: 'x', user_id: 'u', mode: 'telepathy' }],
      ['POST', '/v1/memories/batch', { items: [] }],
      ['PATCH', '/v1/memories/not-a-uuid', { text: 'x' }],
      ['PATCH', `/v1/memories/${missingId}`, {}],
    ]
    for (const [method, path, body] of cases) {
      const res = await t.call(method, path, { body })
      expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 })
      expect(res.body.error).toMatchObject({ code: expect.any(String), message: expect.any(String), request_id: expect.any(String) })
    }
    const unknownField = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: 'u', surprise: true } })
    expect(unknownField.body.error.code).toBe('REQUEST_VALIDATION_FAILED')
    expect(unknownField.body.error.details.issues[0].message).toMatch(/surprise/)
    const badFilter = await t.call('POST', '/v1/memories/search', { body: { query: 'x', user_id: 'u', filters: { 'metadata.a': { regex: '.*' } } } })
    expect(badFilter.body.error.code).toBe('MEMORY_INVALID_FILTER')
    const infer = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: 'u', infer: true } })
    expect([infer.status, infer.body.error.code]).toEqual([501, 'MEMORY_INFERENCE_NOT_CONFIGURED'])
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results).toEqual([])
  })

  it('answers 404 for missing memories and routes', async () => {
    await using t = await openTestApp(embedder)
    for (const [method, path, body] of [
      ['GET', `/v1/memories/${missingId}`, undefined],
      ['PATCH', `/v1/memories/${missingId}`, { text: 'x' }],
      ['DELETE', `/v1/memories/${missingId}`, undefined],
    ] as const) {
      const res = await t.call(method, path, { body })
      expect([res.status, res.body.error.code]).toEqual([404, 'MEMORY_NOT_FOUND'])
    }
    const route = await t.call('GET', '/v1/nothing-here')
    expect([route.status, route.body.error.code]).toEqual([404, 'ROUTE_NOT_FOUND'])
  })

  it('refuses missing, malformed, unknown and revoked keys with 401, and non-admin keys on admin routes with 403', async () => {
    await using t = await openTestApp(embedder)
    const attempts: Array<[Record<string, string>, RegExp]> = [
      [{}, /key is required/],
      [{ authorization: 'Bearer nope' }, /invalid or revoked/],
      [{ authorization: 'Basic abc' }, /must be Bearer <key>/],
      [{ authorization: t.keyA }, /must be Bearer <key>/], // the key without its scheme
      [{ authorization: `Bearer ${t.keyA}x` }, /invalid or revoked/],
    ]
    for (const [headers, message] of attempts) {
      const res = await t.call('GET', '/v1/memories?user_id=u', { key: null, headers })
      expect([res.status, res.body.error.code]).toEqual([401, 'UNAUTHORIZED'])
      expect(res.body.error.message).toMatch(message)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
    const [info] = await t.keys.list({ tenantId: 'b' })
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: t.keyB })).status).toBe(200)
    await t.keys.revoke(info?.id as string)
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: t.keyB })).status).toBe(401)

    for (const [method, path, body] of [
      ['GET', '/v1/admin/keys', undefined],
      ['POST', '/v1/admin/keys', { tenant: 'c' }],
      ['DELETE', '/v1/admin/keys/key_x', undefined],
      ['POST', '/v1/admin/tenants/a/reset', undefined],
    ] as const) {
      const res = await t.call(method, path, { body })
      expect([path, res.status, res.body.error.code]).toEqual([path, 403, 'FORBIDDEN'])
    }
  })

  it('lets an admin key manage keys and reset one tenant only', async () => {
    await using t = await openTestApp(embedder)
    await t.call('POST', '/v1/memories', { body: { messages: 'tenant a fact', user_id: 'u' } })
    await t.call('POST', '/v1/memories', { key: t.keyB, body: { messages: 'tenant b fact', user_id: 'u' } })
    const created = await t.call('POST', '/v1/admin/keys', { key: t.adminKey, body: { tenant: 'c', name: 'ci' } })
    expect(created.body).toMatchObject({ tenant: 'c', name: 'ci', role: 'tenant', key: expect.stringMatching(/^am_/) })
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: created.body.key })).body.results).toEqual([])
    const listed = await t.call('GET', '/v1/admin/keys?tenant=c', { key: t.adminKey })
    expect(listed.body.results).toHaveLength(1)
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key)
    expect((await t.call('DELETE', `/v1/admin/keys/${created.body.id}`, { key: t.adminKey })).body).toEqual({ revoked: true })
    expect((await t.call('DELETE', `/v1/admin/keys/${created.body.id}`, { key: t.adminKey })).status).toBe(404)
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: created.body.key })).status).toBe(401)

    expect((await t.call('POST', '/v1/admin/tenants/a/reset', { key: t.adminKey })).body).toEqual({ reset: true, deleted: 1 })
    // Nothing left, or a tenant that never had anything (a typo): the count says so.
    for (const tenant of ['a', 'no-such-tenant']) {
      expect((await t.call('POST', `/v1/admin/tenants/${tenant}/reset`, { key: t.adminKey })).body).toEqual({ reset: true, deleted: 0 })
    }
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results).toEqual([])
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: t.keyB })).body.results.map((m: { memory: string }) => m.memory)).toEqual(['tenant b fact'])
  })

  it('enforces body size, batch size, text length and top_k limits, then rate limits with Retry-After', async () => {
    await using t = await openTestApp(embedder, { bodyLimitBytes: 4096, maxBatchItems: 3, maxTextLength: 100, maxTopK: 20, rateLimitPerMinute: 30 })
    const big = await t.call('POST', '/v1/memories', { body: { messages: 'x'.repeat(5000), user_id: 'u' } })
    expect([big.status, big.body.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE'])
    const long = await t.call('POST', '/v1/memories', { body: { messages: 'y'.repeat(101), user_id: 'u' } })
    expect([long.status, long.body.error.code]).toEqual([400, 'REQUEST_VALIDATION_FAILED'])
    const batch = await t.call('POST', '/v1/memories/batch', { body: { items: Array.from({ length: 4 }, (_, i) => ({ messages: `m${i}`, user_id: 'u' })) } })
    expect(batch.status).toBe(400)
    const topK = await t.call('POST', '/v1/memories/search', { body: { query: 'x', user_id: 'u', top_k: 21 } })
    expect(topK.status).toBe(400)
    expect(topK.body.error.details.issues[0].path).toBe('top_k')
    // Mem0's route names this server's limit however far past it the ask is.
    for (const top_k of [21, 100_000]) {
      const mem0TopK = await t.call('POST', '/v3/memories/search/', {
        key: null,
        headers: { authorization: `Token ${t.keyA}` },
        body: { query: 'x', filters: { user_id: 'u' }, top_k },
      })
      expect([mem0TopK.status, mem0TopK.body.error.message]).toEqual([400, "top_k is larger than this server's limit of 20"])
    }
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results).toEqual([])

    let limited: Awaited<ReturnType<typeof t.call>> | undefined
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await t.call('GET', '/v1/memories?user_id=u')
      if (res.status === 429) limited = res
    }
    expect(limited?.body.error.code).toBe('RATE_LIMITED')
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // Limits are per key: another key is still served.
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: t.keyB })).status).toBe(200)
  })

  it('serves health, readiness, metrics, the OpenAPI document and offline docs', async () => {
    await using t = await openTestApp(embedder)
    await t.call('POST', '/v1/memories', { body: { messages: 'a fact', user_id: 'u' } })
    await t.call('POST', '/v1/memories/search', { body: { query: 'fact', user_id: 'u' } })
    await t.memory.withTenant('a').warm({ userId: 'u' })
    expect((await t.call('GET', '/health', { key: null })).body).toEqual({ status: 'ok' })
    expect((await t.call('GET', '/ready', { key: null })).body).toEqual({ status: 'ready' })
    // Asked for by browsers on every dashboard page: no content, no 401 in their console.
    expect((await t.app.request('/favicon.ico')).status).toBe(204)
    // The whole server's totals: an admin key's to read, not a tenant's.
    expect((await t.call('GET', '/metrics', { key: null })).status).toBe(401)
    expect((await t.call('GET', '/metrics')).body.error.code).toBe('FORBIDDEN')
    const metrics = await t.call('GET', '/metrics', { key: t.adminKey })
    expect(metrics.body).toMatch(/agentmem_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/memories"/)
    expect(metrics.body).toMatch(/agentmem_memories 1/)
    expect(metrics.body).toMatch(/agentmem_embedding_queue_depth 0/)
    expect(metrics.body).toMatch(/^agentmem_embedding_worker_starts_total \d+$/m)
    // The warmed scope is resident: one scope of one memory, within the default budget.
    expect(metrics.body).toMatch(/agentmem_resident_scopes 1/)
    expect(metrics.body).toMatch(/agentmem_resident_rows 1/)
    expect(metrics.body).toMatch(/agentmem_resident_budget_bytes 268435456/)
    expect(Number(/agentmem_resident_bytes (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThan(0)
    const openapi = await t.call('GET', '/openapi.json', { key: null })
    expect(openapi.body.openapi).toBe('3.1.0')
    expect(Object.keys(openapi.body.paths)).toEqual(
      expect.arrayContaining(['/v1/memories', '/v1/memories/search', '/v1/memories/{id}', '/v1/memories/{id}/history']),
    )
    expect(openapi.body.components.schemas.SearchRequest.properties.top_k.maximum).toBe(100)
    const docs = await t.app.request('/docs')
    const html = await docs.text()
    expect(html).not.toMatch(/https?:\/\//)
    expect((await t.app.request('/docs/swagger-ui-bundle.js')).status).toBe(200)
  })

  it('serves /metrics to anyone with metricsAccess public, for a scraper that sends no key', async () => {
    await using t = await openTestApp(embedder, { metricsAccess: 'public' })
    const metrics = await t.call('GET', '/metrics', { key: null })
    expect([metrics.status, metrics.body]).toEqual([200, expect.stringMatching(/agentmem_memories 0/)])
    // Only /metrics: the API still needs a key.
    expect((await t.call('GET', '/v1/memories?user_id=u', { key: null })).status).toBe(401)
  })

  it('answers the Mem0 routes with the same envelopes: validation, limits, unknown ids, auth, platform-only features', async () => {
    await using t = await openTestApp(embedder, { maxTopK: 20 })
    const token = (key: string) => ({ key: null, headers: { authorization: `Token ${key}` } })
    const added = await t.call('POST', '/v3/memories/add/', {
      ...token(t.keyA),
      body: { messages: [{ role: 'user', content: 'I like tea' }], user_id: 'u', infer: false },
    })
    expect(added.body).toEqual([{ id: expect.any(String), memory: 'I like tea', data: { memory: 'I like tea' }, event: 'ADD' }])
    const again = await t.call('POST', '/v3/memories/add/', { ...token(t.keyA), body: { messages: 'I like tea', user_id: 'u' } })
    expect(again.body[0].event).toBe('NOOP')

    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', '/v3/memories/add/', { messages: [], user_id: 'u' }, 400, 'REQUEST_VALIDATION_FAILED'],
      ['POST', '/v3/memories/add/', { messages: 'x' }, 400, 'MEMORY_SCOPE_REQUIRED'],
      ['POST', '/v3/memories/add/', { messages: 'x', user_id: 'u', app_id: 'shop' }, 501, 'NOT_IMPLEMENTED'],
      // Platform accounts, as the client sends them when made with organizationId / projectId (a 400 "unrecognized keys" before).
      ['POST', '/v3/memories/add/', { messages: 'x', user_id: 'u', org_id: 'o', project_id: 'p' }, 501, 'NOT_IMPLEMENTED'],
      ['POST', '/v3/memories/add/', { messages: 'x', user_id: 'u', custom_categories: [{ food: 'food' }] }, 501, 'NOT_IMPLEMENTED'],
      ['POST', '/v3/memories/search/', { query: 'tea', filters: { user_id: 'u' }, top_k: 21 }, 400, 'REQUEST_VALIDATION_FAILED'],
      ['POST', '/v3/memories/search/', { query: 'tea', filters: { user_id: 'u' }, rerank: true }, 501, 'MEMORY_RERANKER_NOT_CONFIGURED'],
      ['POST', '/v3/memories/search/', { query: 'tea' }, 400, 'MEMORY_SCOPE_REQUIRED'],
      ['POST', '/v3/memories/search/', { query: 'tea', filters: { user_id: 'u', colour: 'red' } }, 400, 'MEMORY_INVALID_FILTER'],
      ['POST', '/v3/memories/?page=0', { filters: { user_id: 'u' } }, 400, 'REQUEST_VALIDATION_FAILED'],
      ['POST', '/v3/memories/', {}, 400, 'MEMORY_SCOPE_REQUIRED'],
      ['GET', '/v1/memories/01900000-0000-7000-8000-000000000000/', undefined, 404, 'MEMORY_NOT_FOUND'],
      ['PUT', '/v1/memories/01900000-0000-7000-8000-000000000000/', { text: 'x' }, 404, 'MEMORY_NOT_FOUND'],
      ['DELETE', '/v1/memories/', undefined, 400, 'MEMORY_SCOPE_REQUIRED'],
      ['PUT', '/v1/batch/', { memories: [{ memory_id: 'nope', text: 'x' }] }, 400, 'REQUEST_VALIDATION_FAILED'],
      // An id twice: the second delete used to find nothing and answer 404 after the first had deleted it.
      ['DELETE', '/v1/batch/', { memories: [{ memory_id: added.body[0].id }, { memory_id: added.body[0].id }] }, 400, 'REQUEST_VALIDATION_FAILED'],
      [
        'PUT',
        '/v1/batch/',
        {
          memories: [
            { memory_id: added.body[0].id, text: 'a' },
            { memory_id: added.body[0].id, text: 'b' },
          ],
        },
        400,
        'REQUEST_VALIDATION_FAILED',
      ],
      ['DELETE', '/v2/entities/app/shop/', undefined, 501, 'NOT_IMPLEMENTED'],
      ['POST', '/v1/feedback/', { memory_id: 'x', feedback: 'POSITIVE' }, 501, 'NOT_IMPLEMENTED'],
      ['GET', '/api/v1/orgs/organizations/o/projects/p/', undefined, 501, 'NOT_IMPLEMENTED'],
    ]
    for (const [method, path, body, status, code] of cases) {
      const res = await t.call(method, path, { ...token(t.keyA), body })
      expect([method, path, res.status, res.body.error?.code]).toEqual([method, path, status, code])
    }
    // getAll() without a scope is refused as a list (it said "count needs ...").
    expect((await t.call('POST', '/v3/memories/', { ...token(t.keyA), body: {} })).body.error.message).toMatch(/^list needs at least one of user_id/)
    const unauthorized = await t.call('POST', '/v3/memories/search/', {
      key: null,
      headers: { authorization: 'Token wrong' },
      body: { query: 'tea', filters: { user_id: 'u' } },
    })
    expect([unauthorized.status, unauthorized.body.error.code]).toEqual([401, 'UNAUTHORIZED'])
    // Nothing above wrote anything.
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results.map((m: { memory: string }) => m.memory)).toEqual(['I like tea'])
  })
})
