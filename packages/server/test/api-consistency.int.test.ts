import { gzipSync } from 'node:zlib'
import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultEmbedder, listen, openTestApp, type TestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

const missingId = '01900000-0000-7000-8000-000000000000'
const mem0 = (t: TestApp) => ({ key: null, headers: { authorization: `Token ${t.keyA}` } })
const texts = (results: Array<{ memory: string }>) => results.map((m) => m.memory).sort()

async function seed(t: TestApp) {
  await t.call('POST', '/v1/memories', { body: { messages: 'I like green tea', user_id: 'u', agent_id: 'barista', metadata: { topic: 'drinks' } } })
  await t.call('POST', '/v1/memories', { body: { messages: 'I like black coffee', user_id: 'u' } })
  await t.call('POST', '/v1/memories', { body: { messages: 'I like mint tea', user_id: 'other', agent_id: 'barista' } })
}

describe('issue 17, item 5: the scope inside filters, and the * wildcard', () => {
  it('native search and list take the scope from filters, at the top level or under AND', async () => {
    await using t = await openTestApp(embedder)
    await seed(t)
    const top = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', filters: { user_id: 'u' } } })
    expect([top.status, texts(top.body.results)]).toEqual([200, ['I like black coffee', 'I like green tea']])
    const under = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', filters: { AND: [{ user_id: 'u' }, { 'metadata.topic': 'drinks' }] } } })
    expect([under.status, texts(under.body.results)]).toEqual([200, ['I like green tea']])
    const list = await t.call('GET', `/v1/memories?filters=${encodeURIComponent(JSON.stringify({ AND: [{ agent_id: 'barista' }] }))}`)
    expect([list.status, texts(list.body.results)]).toEqual([200, ['I like green tea', 'I like mint tea']])
    // A scope given both ways must hold both ways: the filter still applies.
    const both = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', user_id: 'u', filters: { user_id: 'other' } } })
    expect(both.body.results).toEqual([])
  })

  it("'*' means the field is present, on the native and the Mem0 routes; where that cannot be said it is a typed 400", async () => {
    await using t = await openTestApp(embedder)
    await seed(t)
    const anyAgent = { AND: [{ user_id: 'u' }, { agent_id: '*' }] }
    const search = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', filters: anyAgent } })
    expect([search.status, texts(search.body.results)]).toEqual([200, ['I like green tea']])
    const list = await t.call('GET', `/v1/memories?filters=${encodeURIComponent(JSON.stringify(anyAgent))}`)
    expect([list.status, texts(list.body.results)]).toEqual([200, ['I like green tea']])
    const mem0Search = await t.call('POST', '/v3/memories/search/', { ...mem0(t), body: { query: 'tea', filters: anyAgent } })
    expect([mem0Search.status, texts(mem0Search.body.results)]).toEqual([200, ['I like green tea']])
    const mem0List = await t.call('POST', '/v3/memories/', { ...mem0(t), body: { filters: { user_id: 'u', agent_id: '*' } } })
    expect([mem0List.status, texts(mem0List.body.results)]).toEqual([200, ['I like green tea']])
    // '*' is never a scope id.
    const onlyWildcard = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', filters: { user_id: '*' } } })
    expect([onlyWildcard.status, onlyWildcard.body.error.code, onlyWildcard.body.error.message]).toEqual([
      400,
      'MEMORY_SCOPE_REQUIRED',
      'search needs at least one of user_id, agent_id or run_id',
    ])
    // Nor an id given as one: every surface refuses it instead of storing or matching a literal '*'.
    for (const [method, path, body] of [
      ['POST', '/v1/memories', { messages: 'x', user_id: '*' }],
      ['POST', '/v1/memories/search', { query: 'tea', agent_id: '*', user_id: 'u' }],
      ['GET', '/v1/memories?agent_id=*', undefined],
    ] as const) {
      const res = await t.call(method, path, { body })
      expect([res.status, res.body.error.code, res.body.error.message], path).toEqual([
        400,
        'REQUEST_VALIDATION_FAILED',
        expect.stringContaining("'*' is the filter wildcard"),
      ])
    }
    // The Mem0 and admin routes too, naming their own fields (they answered the engine's MEMORY_INVALID_OPTIONS / INPUT on userId, tenantId).
    for (const [path, field, auth, said] of [
      ['/v1/memories/?user_id=*', 'user_id', mem0(t), "'\\*' is the filter wildcard"],
      // No filter names a tenant: its refusal does not point at one.
      ['/v1/admin/tenants/%2A/reset', 'tenant', { key: t.adminKey }, "'\\*' cannot name a tenant"],
    ] as const) {
      const res = await t.call(path.startsWith('/v1/admin') ? 'POST' : 'DELETE', path, auth)
      expect([res.status, res.body.error.code, res.body.error.message], path).toEqual([
        400,
        'REQUEST_VALIDATION_FAILED',
        expect.stringMatching(new RegExp(`${field}.*${said}`)),
      ])
    }
    // A query parameter given twice is refused on every route (the native list read limit=2&limit=3 as NaN; Mem0 used the first page).
    for (const [method, path, auth] of [
      ['GET', '/v1/memories?user_id=u&limit=2&limit=3', {}],
      ['POST', '/v3/memories/?page=1&page=2', { ...mem0(t), body: { filters: { user_id: 'u' } } }],
    ] as const) {
      const res = await t.call(method, path, auth)
      expect([res.status, res.body.error.code, res.body.error.message], path).toEqual([
        400,
        'REQUEST_VALIDATION_FAILED',
        expect.stringMatching(/(limit|page): given more than once/),
      ])
    }
    // A parameter a route does not take is refused, not ignored: `?purge=true` on a GET purged nothing without a word.
    const taken = (await t.call('POST', '/v1/memories', { body: { messages: 'kept as it was', user_id: 'u' } })).body.results[0].id as string
    const admin = { key: t.adminKey }
    for (const [method, path, auth] of [
      ['POST', '/v1/memories?infer=true', { body: { messages: 'not added', user_id: 'u' } }],
      ['POST', '/v1/memories/batch?infer=true', { body: { items: [{ messages: 'not added', user_id: 'u' }] } }],
      ['POST', '/v1/memories/search?top_k=3', { body: { query: 'kept', user_id: 'u' } }],
      ['GET', `/v1/memories/${taken}?purge=true`, {}],
      ['PATCH', `/v1/memories/${taken}?text=changed`, { body: { text: 'changed' } }],
      ['GET', `/v1/memories/${taken}/history?limit=1`, {}],
      ['GET', `/v1/jobs/${taken}?status=done`, {}],
      ['POST', '/v1/admin/keys?role=admin', { ...admin, body: { tenant: 'nobody' } }],
      ['DELETE', '/v1/admin/keys/none?force=true', admin],
      ['POST', '/v1/admin/tenants/nobody/reset?confirm=yes', admin],
    ] as const) {
      const res = await t.call(method, path, auth)
      expect([res.status, res.body.error?.code, res.body.error?.message], path).toEqual([
        400,
        'REQUEST_VALIDATION_FAILED',
        expect.stringMatching(/unrecognized key/i),
      ])
    }
    expect((await t.call('GET', `/v1/memories/${taken}`)).body.memory).toBe('kept as it was')
    expect((await t.call('GET', '/v1/admin/keys?tenant=nobody', admin)).body.results).toEqual([])
    const entity = await t.call('DELETE', '/v1/entities/user/%2A/', mem0(t))
    expect([entity.status, entity.body.error.code, entity.body.error.message]).toEqual([
      400,
      'REQUEST_VALIDATION_FAILED',
      expect.stringMatching(/name.*'\*' is the filter wildcard/),
    ])
    // One memory named twice in two cases is given twice: refused before anything changes (the second delete failed after the first).
    const twice = (await t.call('POST', '/v1/memories', { body: { messages: 'named twice', user_id: 'u' } })).body.results[0].id as string
    const batch = await t.call('DELETE', '/v1/batch/', { ...mem0(t), body: { memories: [{ memory_id: twice }, { memory_id: twice.toUpperCase() }] } })
    expect([batch.status, batch.body.error.code]).toEqual([400, 'REQUEST_VALIDATION_FAILED'])
    expect((await t.call('GET', `/v1/memories/${twice}`)).status).toBe(200)
    // A timestamp alone is the platform feature it is (501), not an empty update.
    const redated = await t.call('PUT', `/v1/memories/${twice}/`, { ...mem0(t), body: { timestamp: 1_700_000_000 } })
    expect([redated.status, redated.body.error.code]).toEqual([501, 'NOT_IMPLEMENTED'])
    // memory_type, as the Mem0 client sends memoryType (it was 400 "Unrecognized key"): procedural needs inference, as natively.
    const procedural = await t.call('POST', '/v3/memories/add/', { ...mem0(t), body: { messages: 'x', agent_id: 'a', memory_type: 'procedural_memory' } })
    expect([procedural.status, procedural.body.error.code, procedural.body.error.message]).toEqual([
      400,
      'MEMORY_INVALID_INPUT',
      expect.stringContaining('apply only with infer: true'),
    ])
    const unknownType = await t.call('POST', '/v3/memories/add/', { ...mem0(t), body: { messages: 'x', user_id: 'u', memory_type: 'episodic' } })
    expect([unknownType.status, unknownType.body.error.code]).toEqual([400, 'REQUEST_VALIDATION_FAILED'])
    // An array body is the client's mistake (it was 501 "includes", read off Array.prototype).
    const array = await t.call('POST', '/v3/memories/add/', { ...mem0(t), body: [{ messages: 'x', user_id: 'u' }] })
    expect([array.status, array.body.error.code]).toEqual([400, 'REQUEST_VALIDATION_FAILED'])
    // A Mem0 update with nothing to change is refused as the native PATCH is.
    const emptyUpdate = await t.call('PUT', '/v1/memories/0190a5b0-0000-7000-8000-000000000000/', { ...mem0(t), body: {} })
    expect([emptyUpdate.status, emptyUpdate.body.error.code, emptyUpdate.body.error.message]).toEqual([
      400,
      'REQUEST_VALIDATION_FAILED',
      expect.stringContaining('give text, metadata or both'),
    ])
    // A control character in an id is refused with the same code as an empty one (it was the engine's MEMORY_INVALID_OPTIONS).
    for (const user_id of ['', 'a\u0001b']) {
      const res = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id } })
      expect([res.status, res.body.error.code], JSON.stringify(user_id)).toEqual([400, 'REQUEST_VALIDATION_FAILED'])
    }
    // A filter nested far deeper than the engine allows is its typed 400, not a stack overflow (500).
    let deep: Record<string, unknown> = { user_id: 'u' }
    for (let i = 0; i < 2000; i++) deep = { NOT: deep }
    const tooDeep = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', user_id: 'u', filters: deep } })
    expect([tooDeep.status, tooDeep.body.error.code]).toEqual([400, 'MEMORY_INVALID_FILTER'])
    for (const filters of [{ user_id: 'u', 'metadata.topic': '*' }, { AND: [{ user_id: 'u' }, { metadata: { topic: '*' } }] }]) {
      const res = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', filters } })
      expect([res.status, res.body.error.code]).toEqual([400, 'MEMORY_INVALID_FILTER'])
    }
    // A time no date holds reached LanceDB as a Float64 it could not take as Int64: a 500 on every surface that lists.
    await t.call('POST', '/v1/memories', { body: { messages: 'timed', user_id: 'u' } })
    const hugeList = await t.call('GET', `/v1/memories?user_id=u&filters=${encodeURIComponent(JSON.stringify({ created_at: { gte: 1e20 } }))}`)
    const hugeMem0 = await t.call('POST', '/v3/memories/', { body: { filters: { AND: [{ user_id: 'u' }, { created_at: { gte: 1e20 } }] } } })
    const notIso = await t.call('POST', '/v1/memories/search', { body: { query: 'timed', user_id: 'u', filters: { created_at: { lt: 'Dec 1 2026' } } } })
    for (const res of [hugeList, hugeMem0, notIso]) expect([res.status, res.body.error.code]).toEqual([400, 'MEMORY_INVALID_FILTER'])
  })
})

describe('issue 17, item 6: threshold filters on a score the response shows', () => {
  it('every hit carries its similarity, threshold keeps exactly the hits at or above it, and the OpenAPI document says so', async () => {
    await using t = await openTestApp(embedder)
    await seed(t)
    await t.call('POST', '/v1/memories', { body: { messages: 'The cat sleeps on the sofa', user_id: 'u' } })
    const all = await t.call('POST', '/v1/memories/search', { body: { query: 'green tea', user_id: 'u' } })
    const similarities = all.body.results.map((r: { similarity: number }) => r.similarity) as number[]
    expect(similarities.every((s) => typeof s === 'number')).toBe(true)
    const sorted = [...new Set(similarities)].sort((a, b) => a - b)
    expect(sorted.length).toBeGreaterThan(1)
    const threshold = ((sorted[0] as number) + (sorted[1] as number)) / 2
    const kept = await t.call('POST', '/v1/memories/search', { body: { query: 'green tea', user_id: 'u', threshold } })
    expect(texts(kept.body.results)).toEqual(texts(all.body.results.filter((r: { similarity: number }) => r.similarity >= threshold)))

    const keyword = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', user_id: 'u', mode: 'keyword' } })
    expect(keyword.body.results[0].similarity).toBeNull()
    // In keyword mode threshold compares BM25 scores, which exceed 1: it was capped at 1 and could not filter.
    const phrase = await t.call('POST', '/v1/memories/search', { body: { query: 'green tea green tea', user_id: 'u', mode: 'keyword' } })
    const scores = phrase.body.results.map((r: { score: number }) => r.score) as number[]
    expect(scores[0]).toBeGreaterThan(1)
    const bm25 = ((scores[0] as number) + (scores.at(-1) as number)) / 2
    const strict = await t.call('POST', '/v1/memories/search', { body: { query: 'green tea green tea', user_id: 'u', mode: 'keyword', threshold: bm25 } })
    expect(strict.status).toBe(200)
    expect(strict.body.results.map((r: { score: number }) => r.score)).toEqual(scores.filter((score) => score >= bm25))
    const tooHigh = await t.call('POST', '/v1/memories/search', { body: { query: 'tea', user_id: 'u', threshold: 1.5 } })
    expect([tooHigh.status, tooHigh.body.error.code, tooHigh.body.error.message]).toEqual([
      400,
      'REQUEST_VALIDATION_FAILED',
      expect.stringMatching(/threshold.*at most 1/),
    ])
    const mem0Search = await t.call('POST', '/v3/memories/search/', { ...mem0(t), body: { query: 'green tea', filters: { user_id: 'u' } } })
    expect(typeof mem0Search.body.results[0].similarity).toBe('number')

    const openapi = (await t.call('GET', '/openapi.json', { key: null })).body
    expect(openapi.components.schemas.SearchRequest.properties.threshold.description).toMatch(/similarity/)
    expect(openapi.components.schemas.SearchHit.allOf[1].properties.similarity.description).toMatch(/threshold/)
  })
})

describe('issue 17, item 7: validation speaks the HTTP API', () => {
  it('names API fields, says what messages must be, names the failing batch item', async () => {
    await using t = await openTestApp(embedder)
    const noScope = await t.call('POST', '/v1/memories', { body: { messages: 'x' } })
    expect(noScope.body.error.message).toBe('add needs at least one of user_id, agent_id or run_id')
    const list = await t.call('GET', '/v1/memories')
    expect(list.body.error.message).toBe('list needs at least one of user_id, agent_id or run_id')
    const reserved = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: 'u', metadata: { userId: 'v' } } })
    expect(reserved.body.error.message).toBe("metadata key 'userId' is reserved: scope is set by user_id / agent_id / run_id, never by metadata")

    for (const messages of [[{ role: 'boss', content: 'x' }], [{ role: 'user' }], 42]) {
      const res = await t.call('POST', '/v1/memories', { body: { messages, user_id: 'u' } })
      expect(res.body.error.details.issues).toEqual([
        { path: 'messages', message: 'must be a string or an array of { role, content } with role one of user, assistant, system, tool' },
      ])
    }
    const mem0Add = await t.call('POST', '/v3/memories/add/', { ...mem0(t), body: { messages: [{ role: 'boss', content: 'x' }], user_id: 'u' } })
    expect(mem0Add.body.error.message).toMatch(/messages: must be a string or an array of \{ role, content \}/)

    const batch = await t.call('POST', '/v1/memories/batch', { body: { items: [{ messages: 'a', user_id: 'u' }, { messages: 'b' }] } })
    expect([batch.status, batch.body.error.code, batch.body.error.details]).toEqual([400, 'MEMORY_SCOPE_REQUIRED', { index: 1 }])
    expect(batch.body.error.message).toMatch(/^items\[1\]: .*user_id/)
    const badItem = await t.call('POST', '/v1/memories/batch', {
      body: {
        items: [
          { messages: 'a', user_id: 'u' },
          { messages: [{ role: 'x', content: 'b' }], user_id: 'u' },
        ],
      },
    })
    expect(badItem.body.error.details.issues[0].path).toBe('items.1.messages')
    // The engine's own validation (here of an id the route passes on) speaks the API's names too.
    const wildcard = await t.call('POST', '/v1/memories', { body: { messages: 'x', user_id: '*' } })
    expect([wildcard.status, wildcard.body.error.details.issues[0].path]).toEqual([400, 'user_id'])
    expect(wildcard.body.error.message).not.toMatch(/userId/)
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results).toEqual([])
  })

  it('refuses an id that is no UUID alike on the native and the Mem0 routes', async () => {
    await using t = await openTestApp(embedder)
    for (const [method, path, auth] of [
      ['GET', '/v1/memories/not-a-uuid', {}],
      ['GET', '/v1/memories/not-a-uuid/history', {}],
      ['GET', '/v1/memories/not-a-uuid/', mem0(t)],
      ['PUT', '/v1/memories/not-a-uuid/', { ...mem0(t), body: { text: 'x' } }],
      ['DELETE', '/v1/memories/not-a-uuid/', mem0(t)],
      ['GET', '/v1/memories/not-a-uuid/history/', mem0(t)],
    ] as const) {
      const res = await t.call(method, path, auth)
      expect([method, path, res.status, res.body.error?.code, res.body.error?.message]).toEqual([
        method,
        path,
        400,
        'REQUEST_VALIDATION_FAILED',
        'Invalid request param: id: Invalid UUID',
      ])
    }
  })

  it('answers 415 to a body that is not JSON, 404 to the history of an unknown id, 405 to GET on a POST route', async () => {
    await using t = await openTestApp(embedder)
    for (const [path, key] of [
      ['/v1/memories', undefined],
      ['/v3/memories/add/', null],
    ] as const) {
      const res = await t.call('POST', path, {
        ...(key === null ? mem0(t) : {}),
        body: JSON.stringify({ messages: 'x', user_id: 'u' }),
        headers: { 'content-type': 'text/plain', ...(key === null && { authorization: `Token ${t.keyA}` }) },
      })
      expect([path, res.status, res.body.error.code]).toEqual([path, 415, 'UNSUPPORTED_MEDIA_TYPE'])
      // Bytes as the body: no Content-Type at all.
      const bare = await t.app.request(path, {
        method: 'POST',
        headers: { authorization: `${key === null ? 'Token' : 'Bearer'} ${t.keyA}` },
        body: new TextEncoder().encode(JSON.stringify({ messages: 'y', user_id: 'u' })),
      })
      expect([path, bare.status, ((await bare.json()) as { error: { code: string; message: string } }).error]).toEqual([
        path,
        415,
        { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('none was sent'), request_id: expect.any(String) },
      ])
    }
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results).toEqual([])
    const gzipped = await t.app.request('/v1/memories', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ messages: 'z', user_id: 'u' })),
    })
    expect([gzipped.status, ((await gzipped.json()) as { error: { message: string } }).error.message]).toEqual([
      415,
      expect.stringContaining('Compressed bodies are not supported'),
    ])
    const charset = await t.call('POST', '/v1/memories', {
      body: { messages: 'x', user_id: 'u' },
      headers: { 'content-type': 'application/json; charset=utf-8' },
    })
    expect(charset.status).toBe(200)
    // Another charset was decoded as UTF-8 anyway: é in Latin-1 was stored as U+FFFD.
    for (const type of ['application/json; charset=iso-8859-1', 'application/json;charset="windows-1252"']) {
      const latin1 = await t.app.request('/v1/memories', {
        method: 'POST',
        headers: { authorization: `Bearer ${t.keyA}`, 'content-type': type },
        body: Buffer.from('{"messages":"caf\u00e9","user_id":"latin"}', 'latin1'),
      })
      expect([type, latin1.status, ((await latin1.json()) as { error: { message: string } }).error.message]).toEqual([
        type,
        415,
        expect.stringContaining('JSON bodies are UTF-8'),
      ])
    }
    expect((await t.call('GET', '/v1/memories?user_id=latin')).body.results).toEqual([])

    for (const path of [`/v1/memories/${missingId}/history`, `/v1/memories/${missingId}/history/`]) {
      const res = await t.call('GET', path, path.endsWith('/') ? mem0(t) : {})
      expect([path, res.status, res.body.error?.code]).toEqual([path, 404, 'MEMORY_NOT_FOUND'])
    }
    // A deleted memory still has its history.
    const id = charset.body.results[0].id
    await t.call('DELETE', `/v1/memories/${id}`)
    expect((await t.call('GET', `/v1/memories/${id}/history`)).body.results.map((e: { event: string }) => e.event)).toEqual(['ADD', 'DELETE'])

    const get = await t.call('GET', '/v1/memories/search?query=x&user_id=u')
    expect([get.status, get.body.error.code, get.headers.get('allow')]).toEqual([405, 'METHOD_NOT_ALLOWED', 'POST'])
    expect(get.body.error.message).toMatch(/use POST \/v1\/memories\/search/)
    // Any path that exists under other methods says which (these were 404 "No route").
    // A trailing slash added or left out is named (native paths have none, Mem0's v1 paths one).
    for (const [method, path, allow, twin] of [
      ['PUT', `/v1/memories/${id}`, 'GET, PATCH, DELETE, HEAD', `/v1/memories/${id}/`],
      ['POST', `/v1/memories/${id}`, 'GET, PATCH, DELETE, HEAD', undefined],
      ['PATCH', `/v1/memories/${id}/`, 'GET, PUT, DELETE, HEAD', `/v1/memories/${id}`],
      ['DELETE', `/v1/memories/${id}/history`, 'GET, HEAD', undefined],
      ['POST', '/v1/memories/', 'DELETE', '/v1/memories'],
      ['POST', '/v1/memories/search/', 'GET, PUT, DELETE, HEAD', '/v1/memories/search'],
    ] as const) {
      const res = await t.call(method, path, path.endsWith('/') ? mem0(t) : {})
      expect([method, path, res.status, res.body.error.code, res.headers.get('allow')]).toEqual([method, path, 405, 'METHOD_NOT_ALLOWED', allow])
      const hint = twin === undefined ? '' : ` (${method} ${twin} is a route)`
      expect(res.body.error.message).toBe(`${method} ${path} does not exist: this path takes ${allow}${hint}`)
    }
    const slashed = await t.call('POST', '/v3/memories/add')
    expect([slashed.status, slashed.body.error.message]).toEqual([404, 'No route POST /v3/memories/add (POST /v3/memories/add/ is a route)'])
    // A POST-only path names POST alone (its other methods are routes that answer 405 themselves).
    const options = await t.call('OPTIONS', '/v1/memories/search')
    expect([options.status, options.headers.get('allow')]).toEqual([405, 'POST'])
    expect((await t.call('GET', '/v1/nothing/here')).body.error.code).toBe('ROUTE_NOT_FOUND')
  })
})

describe('JSON objects are taken as sent', () => {
  it('keeps a "__proto__" metadata key on the native and Mem0 routes (zod dropped it), and refuses one in filters', async () => {
    await using t = await openTestApp(embedder)
    const proto = '{"__proto__":{"x":1},"a":1}'
    const native = (await t.call('POST', '/v1/memories', { body: { messages: 'a proto key', user_id: 'u', metadata: JSON.parse(proto) } })).body.results[0]
      .id as string
    expect(JSON.stringify((await t.call('GET', `/v1/memories/${native}`)).body.metadata)).toBe(proto)
    const mem0Added = await t.call('POST', '/v3/memories/add/', {
      ...mem0(t),
      body: { messages: 'a proto key via Mem0', user_id: 'u', infer: false, metadata: JSON.parse(proto) },
    })
    const mem0Id = mem0Added.body[0].id as string
    expect(JSON.stringify((await t.call('GET', `/v1/memories/${mem0Id}/`, mem0(t))).body.metadata)).toBe(proto)
    const patched = await t.call('PATCH', `/v1/memories/${native}`, { body: { metadata: JSON.parse('{"__proto__":{"y":2}}') } })
    expect(JSON.stringify(patched.body.metadata)).toBe('{"__proto__":{"y":2}}')
    // A filter that names no field was dropped too, so the search ran unfiltered.
    const filtered = await t.call('POST', '/v1/memories/search', { body: { query: 'proto', user_id: 'u', filters: JSON.parse('{"__proto__":{"eq":1}}') } })
    expect([filtered.status, filtered.body.error?.code]).toEqual([400, 'MEMORY_INVALID_FILTER'])
  })

  it('refuses a metadata number JSON cannot hold (1e400 parses as Infinity), which was stored as null', async () => {
    await using t = await openTestApp(embedder)
    const infinite = '{"messages":"infinite","user_id":"u","metadata":{"n":1e400}}'
    const nativeAdd = await t.call('POST', '/v1/memories', { body: infinite })
    const mem0Add = await t.call('POST', '/v3/memories/add/', { ...mem0(t), body: infinite })
    const stored = await t.call('POST', '/v1/memories', { body: { messages: 'finite', user_id: 'u' } })
    const patched = await t.call('PATCH', `/v1/memories/${stored.body.results[0].id}`, { body: '{"metadata":{"n":[-1e400]}}' })
    for (const res of [nativeAdd, mem0Add, patched]) {
      expect([res.status, res.body.error.code, res.body.error.message]).toEqual([400, 'MEMORY_INVALID_INPUT', expect.stringContaining('not a finite number')])
    }
    const listed = (await t.call('GET', '/v1/memories?user_id=u')).body.results
    expect(listed.map((m: { memory: string; metadata: unknown }) => [m.memory, m.metadata])).toEqual([['finite', {}]])
  })
})

describe('bodies over a real socket', () => {
  it('a request without a body needs no Content-Type; one with a body needs JSON, whether it has a length or is chunked', async () => {
    await using t = await openTestApp(embedder)
    await using server = await listen(t.app)
    const headers = { authorization: `Bearer ${t.keyA}` }
    const added = await fetch(`${server.url}/v1/memories`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: 'a fact to delete', user_id: 'u' }),
    })
    const id = ((await added.json()) as { results: Array<{ id: string }> }).results[0]?.id as string
    // node-server hands a DELETE a body stream, empty: no Content-Length, no Transfer-Encoding, no body.
    expect((await fetch(`${server.url}/v1/memories/${id}`, { method: 'DELETE', headers })).status).toBe(200)
    const body = JSON.stringify({ messages: 'x', user_id: 'u' })
    const withLength = await fetch(`${server.url}/v1/memories`, { method: 'POST', headers, body: new TextEncoder().encode(body) })
    const chunked = await fetch(`${server.url}/v1/memories`, {
      method: 'POST',
      headers,
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit)
    expect([withLength.status, chunked.status]).toEqual([415, 415])
    expect((await t.call('GET', '/v1/memories?user_id=u')).body.results).toEqual([])
  })
})

describe('issue 17, item 8: Mem0 client flags AgentMem does not support answer 501', () => {
  it('answers 501 NOT_IMPLEMENTED naming the flag, and accepts the same flags when they ask for nothing', async () => {
    await using t = await openTestApp(embedder)
    await t.call('POST', '/v1/memories', { body: { messages: 'I like tea', user_id: 'u' } })
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/v3/memories/search/', { query: 'tea', filters: { user_id: 'u' }, show_expired: true }],
      ['POST', '/v3/memories/search/', { query: 'tea', filters: { user_id: 'u' }, reference_date: '2026-01-01' }],
      ['POST', '/v3/memories/', { filters: { user_id: 'u' }, start_date: '2026-01-01' }],
      ['POST', '/v3/memories/', { filters: { user_id: 'u' }, show_expired: true }],
      ['POST', '/v3/memories/search/', { query: 'tea', filters: { user_id: 'u' }, latest_only: false }],
      ['PUT', `/v1/memories/${missingId}/`, { text: 'x', timestamp: 1_700_000_000 }],
    ]
    for (const [method, path, body] of cases) {
      const res = await t.call(method, path, { ...mem0(t), body })
      expect([path, body, res.status, res.body.error?.code]).toEqual([path, body, 501, 'NOT_IMPLEMENTED'])
    }
    // rerank is supported, given a reranker: without one it says so.
    const rerank = await t.call('POST', '/v3/memories/search/', { ...mem0(t), body: { query: 'tea', filters: { user_id: 'u' }, rerank: true } })
    expect([rerank.status, rerank.body.error?.code]).toEqual([501, 'MEMORY_RERANKER_NOT_CONFIGURED'])
    const plain = await t.call('POST', '/v3/memories/search/', {
      ...mem0(t),
      body: { query: 'tea', filters: { user_id: 'u' }, rerank: false, show_expired: false },
    })
    expect([plain.status, texts(plain.body.results)]).toEqual([200, ['I like tea']])
  })

  it('honours fields: each hit holds the fields named (all for none); a Mem0 field AgentMem does not return is 501, any other name 400', async () => {
    await using t = await openTestApp(embedder)
    await t.call('POST', '/v1/memories/batch', {
      body: {
        items: [
          { messages: 'I like green tea', user_id: 'u' },
          { messages: 'My cat sleeps all day', user_id: 'u' },
        ],
      },
    })
    const search = (body: Record<string, unknown>) =>
      t.call('POST', '/v3/memories/search/', { ...mem0(t), body: { query: 'tea', filters: { user_id: 'u' }, ...body } })
    const picked = await search({ fields: ['memory', 'score'] })
    expect(picked.status).toBe(200)
    expect(picked.body.results.map((r: object) => Object.keys(r).sort())).toEqual([
      ['memory', 'score'],
      ['memory', 'score'],
    ])
    const all = (await search({ fields: [] })).body.results
    expect(Object.keys(all[0])).toEqual(Object.keys((await search({})).body.results[0]))
    const lacking = await search({ fields: ['memory', 'hash'] })
    expect([lacking.status, lacking.body.error.code, lacking.body.error.message]).toEqual([501, 'NOT_IMPLEMENTED', expect.stringContaining('fields: hash')])
    // A name that is no Mem0 field at all is the client's mistake, not a missing feature (it was 501).
    const unknown = await search({ fields: ['memory', 'nope'] })
    expect([unknown.status, unknown.body.error.code, unknown.body.error.message]).toEqual([
      400,
      'REQUEST_VALIDATION_FAILED',
      expect.stringContaining('fields: no hit field nope; fields are id, memory,'),
    ])
    // keyword_search either way: AgentMem's semantic search is hybrid, keywords included.
    const hybrid = (await search({ keyword_search: false })).body.results
    expect(hybrid.map((r: { memory: string }) => r.memory)).toEqual(
      (await search({ keyword_search: true })).body.results.map((r: { memory: string }) => r.memory),
    )
  })
})
