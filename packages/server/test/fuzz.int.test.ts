import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defaultEmbedder, listen, openTestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

/** Deterministic, so a failure replays from its seed. */
function seeded(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T
  return { next, int, pick }
}

const hostile = [
  "'",
  '"',
  '\\',
  "' OR 1=1 --",
  '%',
  '_',
  '\u0000',
  '😀',
  '\u202e',
  'DROP TABLE memories;',
  "x') OR ('1'='1",
  '$' + '{jndi:x}',
  '../../etc/passwd',
  '\ud800',
]

it('answers 2,000 random and malformed requests without a single 5xx while a correct client loses nothing', async () => {
  await using t = await openTestApp(embedder, { bodyLimitBytes: 65_536 })
  await using server = await listen(t.app)
  const r = seeded(20261125)
  // Lone surrogates cannot be percent-encoded; the server sees them as U+FFFD either way.
  const enc = (s: string) => encodeURIComponent(s.replace(/\p{Cs}/gu, '\ufffd'))
  const id = () => r.pick(['01900000-0000-7000-8000-000000000000', 'not-a-uuid', '', '%00', 'é'.repeat(300), crypto.randomUUID(), '../x', "1' OR '1'='1"])
  const str = (): string =>
    r.pick([
      () => r.pick(hostile),
      () => 'x'.repeat(r.int(70_000)),
      () => Array.from({ length: r.int(20) }, () => String.fromCodePoint(r.int(0x2ffff))).join(''),
      () => `memory ${r.int(1e6)}`,
      () => '',
    ])()
  const value = (depth = 0): unknown =>
    r.pick([
      () => str(),
      () => r.int(1e9) * (r.next() < 0.5 ? -1 : 1),
      () => r.next(),
      () => null,
      () => r.next() < 0.5,
      () => (depth > 3 ? [] : Array.from({ length: r.int(4) }, () => value(depth + 1))),
      () => (depth > 3 ? {} : object(depth + 1)),
    ])()
  const keys = [
    'messages',
    'user_id',
    'agent_id',
    'run_id',
    'metadata',
    'query',
    'filters',
    'top_k',
    'threshold',
    'mode',
    'explain',
    'items',
    'text',
    'infer',
    'memories',
    'AND',
    'OR',
    'NOT',
    'metadata.x',
    'eq',
    'in',
    'icontains',
    'role',
    'content',
    '__proto__',
    'constructor',
  ]
  const object = (depth = 0): Record<string, unknown> =>
    Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.next() < 0.8 ? r.pick(keys) : str(), value(depth)]))
  const plausible = () => ({
    messages: r.pick([str(), [{ role: r.pick(['user', 'assistant', 'system', 'boss']), content: value() }]]),
    user_id: r.pick([str(), 'fuzz-user', undefined]),
    metadata: r.next() < 0.5 ? object() : undefined,
    query: str(),
    filters:
      r.next() < 0.5
        ? {
            [r.pick(['metadata.k', 'user_id', 'created_at', 'role', 'nope'])]: r.pick([
              str(),
              { [r.pick(['eq', 'in', 'gte', 'icontains', 'regex'])]: value() },
            ]),
          }
        : object(),
    top_k: r.pick([1, 10, 0, -1, 1e9, '10', 2.5]),
    mode: r.pick(['hybrid', 'vector', 'keyword', 'x']),
  })
  const routes = () =>
    r.pick([
      ['POST', '/v1/memories'],
      ['POST', '/v1/memories/batch'],
      ['POST', '/v1/memories/search'],
      ['GET', `/v1/memories?user_id=${enc(str().slice(0, 300))}&limit=${r.pick(['1', '0', 'abc', '5000'])}&cursor=${enc(str().slice(0, 50))}`],
      ['GET', `/v1/memories?user_id=u&filters=${enc(r.next() < 0.5 ? JSON.stringify(object()) : str().slice(0, 200))}`],
      [r.pick(['GET', 'PATCH', 'DELETE', 'PUT']), `/v1/memories/${enc(id())}`],
      ['GET', `/v1/memories/${enc(id())}/history`],
      ['DELETE', `/v1/memories?purge=${r.pick(['true', 'yes'])}&${r.pick(['user_id', 'agent_id', 'x'])}=${enc(str().slice(0, 100))}`],
      ['POST', '/v3/memories/add/'],
      ['POST', '/v3/memories/search/'],
      ['POST', `/v3/memories/?page=${r.pick(['1', '0', '-1', 'x', '99999'])}&page_size=${r.pick(['1', '1000', '0'])}`],
      [r.pick(['GET', 'PUT', 'DELETE']), `/v1/memories/${enc(id())}/`],
      ['PUT', '/v1/batch/'],
      ['DELETE', '/v1/batch/'],
      ['DELETE', `/v2/entities/${r.pick(['user', 'agent', 'run', 'app', 'x'])}/${enc(str().slice(0, 50) || 'x')}/`],
      ['POST', '/v1/admin/keys'],
      ['GET', `/${str().slice(0, 40)}`],
    ] as const)
  const body = (): string | undefined =>
    r.pick([
      () => undefined,
      () => JSON.stringify(plausible()),
      () => JSON.stringify({ items: Array.from({ length: r.int(4) }, plausible) }),
      () => JSON.stringify({ memories: Array.from({ length: r.int(3) }, () => ({ memory_id: id(), text: str() })) }),
      () => JSON.stringify(value()),
      () => '{"messages": "unterminated',
      () => 'not json at all',
      () => JSON.stringify(object()).slice(0, r.int(40)),
    ])()

  // The correct client: adds in a loop, remembers what was acknowledged.
  let fuzzing = true
  const acknowledged: string[] = []
  const steady = (async () => {
    for (let i = 0; fuzzing || i < 20; i++) {
      const res = await fetch(`${server.url}/v1/memories`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.keyB}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: `steady fact number ${i}`, user_id: 'steady' }),
      })
      expect(res.status).toBe(200)
      acknowledged.push(((await res.json()) as { results: Array<{ id: string }> }).results[0]?.id as string)
    }
  })()

  let reachedStore = 0
  const failures: string[] = []
  for (let i = 0; i < 2000; i++) {
    const [method, path] = routes()
    const payload = method === 'GET' ? undefined : body()
    const headers: Record<string, string> = {}
    const auth = r.next()
    if (auth < 0.85) headers['authorization'] = `${r.pick(['Bearer', 'Token', 'bearer'])} ${t.keyA}`
    else if (auth < 0.95) headers['authorization'] = r.pick(['Bearer ', 'Token x', `Bearer ${t.keyA.slice(0, -1)}`, 'Basic Zm9vOmJhcg=='])
    // Mostly JSON: any other type is refused (415) before the routes the fuzzer is after.
    if (payload !== undefined)
      headers['content-type'] = r.pick([
        'application/json',
        'application/json',
        'application/json',
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
      ])
    let res: Response
    try {
      res = await fetch(`${server.url}${path}`, { method, headers, ...(payload !== undefined && { body: payload }) })
    } catch (error) {
      failures.push(`${method} ${path.slice(0, 120)} (${headers['content-type']}, ${payload?.length} bytes) -> ${String((error as Error).cause ?? error)}`)
      continue
    }
    const text = await res.text()
    if (res.status === 200) reachedStore++
    if (res.status >= 500 && res.status !== 501) failures.push(`${method} ${path.slice(0, 120)} -> ${res.status} ${text.slice(0, 200)}`)
    if (res.status >= 400) {
      let code: unknown
      try {
        code = JSON.parse(text).error.code
      } catch {}
      if (code === 'MEMORY_NOT_FOUND') reachedStore++
      if (typeof code !== 'string') failures.push(`${method} ${path.slice(0, 120)} -> ${res.status} without the error envelope: ${text.slice(0, 200)}`)
    }
  }
  fuzzing = false
  await steady

  expect(failures).toEqual([])
  // Many requests must get past auth and validation to the store (200, or 404 for an id it lacks), or the fuzzer tests nothing.
  expect(reachedStore).toBeGreaterThan(100)
  // Every page: adds are fast enough now that the steady client makes more than one page's worth.
  const stored: string[] = []
  for (let cursor: string | null | undefined; cursor !== null; ) {
    const page = await t.memory.withTenant('b').getAll({ userId: 'steady', limit: 1000, ...(cursor && { cursor }) })
    stored.push(...page.results.map((m) => m.id))
    cursor = page.nextCursor
  }
  expect(new Set(stored)).toEqual(new Set(acknowledged))
})
