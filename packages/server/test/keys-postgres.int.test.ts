import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Memory } from '@agentmem/memory'
import { createHashEmbedder } from '@agentmem/memory/testing'
import { type PostgresService, startPostgres } from '@agentmem/test-services'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { dataPaths } from '../src/data-paths.js'
import { createApp } from '../src/http/app.js'
import { type KeyStore, openKeyStore, openRateLimiter } from '../src/keys/key-store.js'
import { PostgresKeyStore } from '../src/keys/postgres-key-store.js'
import { PostgresRateLimiter } from '../src/keys/postgres-rate-limiter.js'
import { runCli } from './helpers/cli.js'
import { runKeyStoreContract } from './helpers/key-store-contract.js'

// Keys and rate limits in PostgreSQL, shared by replicas: each instance here stands for a replica
// (or the `agentmem keys` CLI) on the same database. One PostgreSQL for the file, a database per test.

let postgres: PostgresService
let url: string
let databases = 0
beforeAll(async () => {
  postgres = await startPostgres()
})
afterAll(async () => {
  await postgres?.stop()
})
beforeEach(async () => {
  url = await postgres.createDatabase(`keys_${++databases}`)
})

describe('PostgreSQL key store', () => {
  runKeyStoreContract((options) => PostgresKeyStore.open(url, options))
})

it('keeps its migrations apart from the memory package, whose tables share the database', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-keys-pg-'))
  try {
    // Either order: each package's migrator only reads its own table.
    const memory = await Memory.open({ path: data, metadataUrl: url, embedder: createHashEmbedder() })
    await memory.close()
    const keys = await openKeyStore({ data, metadataUrl: url })
    await keys.create({ tenantId: 'a' })
    await keys.close()
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const { rows } = await client.query<{ name: string }>(
        `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema IN ('public', 'drizzle') ORDER BY 1`,
      )
      const names = rows.map((r) => r.name)
      expect(names).toEqual(expect.arrayContaining(['drizzle.__agentmem_server_migrations', 'public.api_keys', 'public.history', 'public.manifest']))
      // The memory package records its migrations in a table of its own.
      expect(names.filter((n) => n.startsWith('drizzle.')).length).toBeGreaterThanOrEqual(2)
      const server = await client.query('SELECT count(*)::int AS n FROM drizzle.__agentmem_server_migrations')
      expect(server.rows[0].n).toBe(1)
    } finally {
      await client.end()
    }
  } finally {
    await rm(data, { recursive: true, force: true })
  }
})

it('migrates once when replicas open at the same time', async () => {
  const [first, ...others] = await Promise.all(Array.from({ length: 4 }, () => PostgresKeyStore.open(url)))
  const store = first as PostgresKeyStore
  const { key } = await store.create({ tenantId: 'a' })
  for (const other of others) expect(await other.verify(key)).toMatchObject({ tenantId: 'a' })
  await Promise.all([store, ...others].map((s) => s.close()))
})

describe('rate limits across replicas', () => {
  /** Takes `count` tokens for `client`, alternating between limiters, `concurrency` at a time; counts the admitted. */
  async function hammer(limiters: PostgresRateLimiter[], client: string, count: number, concurrency: number) {
    const admitted = new Map(limiters.map((l) => [l, 0]))
    let next = 0
    let refusal: { retryAfterSeconds: number } | undefined
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const limiter = limiters[next++ % limiters.length] as PostgresRateLimiter
          const verdict = await limiter.take(client)
          if (verdict.ok) admitted.set(limiter, (admitted.get(limiter) ?? 0) + 1)
          else refusal = verdict
        }
      }),
    )
    const perReplica = [...admitted.values()]
    return { admitted: perReplica, total: perReplica.reduce((a, b) => a + b, 0), refusal }
  }

  it('holds the per-minute limit for the sum over two replicas, not for each', async () => {
    // 120 a minute: bursts of 120, 2 tokens a second, reserved in blocks of 2.
    const limiters = [await PostgresRateLimiter.open(url, 120), await PostgresRateLimiter.open(url, 120)]
    try {
      const started = performance.now()
      const { admitted, total, refusal } = await hammer(limiters, 'key_a', 400, 8)
      const seconds = (performance.now() - started) / 1000
      // At most the bucket (120, plus its refill while this ran) and one block (2); per-replica
      // limits would have let 240 through. Tokens stranded on a replica cost at most a block each.
      expect(total).toBeLessThanOrEqual(120 + Math.ceil(seconds * 2) + 2)
      expect(total).toBeGreaterThanOrEqual(120 - 2 * 2)
      expect(admitted.every((n) => n > 0)).toBe(true)
      expect(refusal?.retryAfterSeconds).toBeGreaterThanOrEqual(1)
      // Another key has its own bucket.
      expect((await hammer(limiters, 'key_b', 10, 2)).total).toBe(10)
      // Refused requests are answered locally until a token is due: no query each.
      expect((await (limiters[0] as PostgresRateLimiter).take('key_a')).ok).toBe(false)
    } finally {
      await Promise.all(limiters.map((l) => l.close()))
    }
  })

  it('refills at the per-minute rate, shared', async () => {
    // 600 a minute: 10 tokens a second, blocks of 10.
    const limiters = [await PostgresRateLimiter.open(url, 600), await PostgresRateLimiter.open(url, 600)]
    try {
      await hammer(limiters, 'key_a', 700, 8)
      const refillStarted = performance.now()
      await sleep(1_500)
      const { total } = await hammer(limiters, 'key_a', 100, 4)
      const seconds = (performance.now() - refillStarted) / 1000
      // About 15 tokens came back; each replica may also hold a block reserved before the pause.
      expect(total).toBeGreaterThanOrEqual(Math.floor(1.5 * 10) - 10)
      expect(total).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 10)
    } finally {
      await Promise.all(limiters.map((l) => l.close()))
    }
  })

  it('is the in-process limiter without metadataUrl, and none at 0', async () => {
    expect((await openRateLimiter({ rateLimitPerMinute: 5 }))?.constructor.name).toBe('RateLimiter')
    expect(await openRateLimiter({ rateLimitPerMinute: 0, metadataUrl: url })).toBeUndefined()
    const shared = await openRateLimiter({ rateLimitPerMinute: 5, metadataUrl: url })
    expect(shared).toBeInstanceOf(PostgresRateLimiter)
    await shared?.close?.()
  })
})

it('agentmem keys create|list|revoke work on PostgreSQL (--metadata-url or AGENTMEM_METADATA_URL)', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-keys-cli-'))
  const server = await openKeyStore({ data, metadataUrl: url })
  try {
    const created = await runCli(['keys', 'create', '--tenant', 'a', '--name', 'ci', '--data', data, '--metadata-url', url])
    expect(created.code, created.stderr).toBe(0)
    const key = created.stdout.trim()
    expect(await server.verify(key)).toMatchObject({ tenantId: 'a', role: 'tenant' })

    const listed = await runCli(['keys', 'list', '--data', data], { AGENTMEM_METADATA_URL: url })
    expect(listed.code, listed.stderr).toBe(0)
    const [info] = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(info).toMatchObject({ tenant: 'a', name: 'ci', revoked_at: null })

    expect((await runCli(['keys', 'revoke', info.id, '--data', data, '--metadata-url', url])).code).toBe(0)
    await sleep(150)
    expect(await server.verify(key)).toBeNull()
    // The data folder's SQLite file was never involved.
    expect(existsSync(dataPaths(data).keys)).toBe(false)
  } finally {
    await server.close()
    await rm(data, { recursive: true, force: true })
  }
})

/** An app on `url`'s keys and limits (a replica; each with its own local store, which these tests do not touch). */
async function openReplica(data: string, flags: { rateLimitPerMinute: number }) {
  const config = loadConfig({ env: {}, flags: { data, metadataUrl: url, ...flags } })
  const keys: KeyStore = await openKeyStore(config)
  const limiter = await openRateLimiter(config)
  const memory = await Memory.open({ path: join(data, 'memory'), embedder: createHashEmbedder() })
  const app = createApp({ memory, keys, ...(limiter && { limiter }), config, logger: pino({ level: 'silent' }) })
  return {
    keys,
    limiter,
    list: (key: string) => app.request('/v1/memories?user_id=u', { headers: { authorization: `Bearer ${key}` } }),
    async close() {
      await memory.close()
      await limiter?.close?.()
      await keys.close()
    },
  }
}

it('two replicas answer 429 once their requests together pass the limit, and both refuse a key revoked on one', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-keys-replicas-'))
  const replicas = [await openReplica(join(data, '1'), { rateLimitPerMinute: 60 }), await openReplica(join(data, '2'), { rateLimitPerMinute: 60 })]
  const [one, two] = replicas as [Awaited<ReturnType<typeof openReplica>>, Awaited<ReturnType<typeof openReplica>>]
  try {
    const { key, info } = await one.keys.create({ tenantId: 'a' })
    const statuses: number[] = []
    const started = performance.now()
    for (let i = 0; i < 90; i++) statuses.push((await (i % 2 ? one : two).list(key)).status)
    const seconds = (performance.now() - started) / 1000
    // A burst of 60 over both (plus a token a second of refill while this ran, and a block of
    // one), not 60 each. The refill counts by the clock: a loaded CI machine takes seconds here.
    const ok = statuses.filter((s) => s === 200).length
    expect(ok).toBeGreaterThanOrEqual(60 - 2)
    expect(ok).toBeLessThanOrEqual(60 + Math.ceil(seconds) + 1)
    expect(new Set(statuses)).toEqual(new Set([200, 429]))

    await one.keys.revoke(info.id)
    await sleep(150)
    for (const replica of replicas) expect((await replica.list(key)).status).toBe(401)
  } finally {
    for (const replica of replicas) await replica.close()
    await rm(data, { recursive: true, force: true })
  }
})

it('answers 503 KEYS_UNAVAILABLE while PostgreSQL restarts, never a 500 or a crash, and recovers by itself', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-keys-restart-'))
  const replica = await openReplica(data, { rateLimitPerMinute: 100_000 })
  try {
    const { key } = await replica.keys.create({ tenantId: 'a' })
    expect((await replica.list(key)).status).toBe(200)

    // A client keeps calling through a restart: only 200s and 503s, then 200s again.
    const statuses: number[] = []
    let running = true
    const client = (async () => {
      while (running) {
        statuses.push((await replica.list(key)).status)
        await sleep(10)
      }
    })()
    await postgres.restart()
    const back = performance.now()
    while (statuses.at(-1) !== 200 && performance.now() - back < 10_000) await sleep(20)
    running = false
    await client
    expect(statuses.at(-1)).toBe(200)
    expect(new Set(statuses)).toEqual(new Set([200, 503]))

    await postgres.shutdown()
    try {
      // Past the key copy's bound (100 ms) and the limiter's reservations (1 s), every layer must ask PostgreSQL.
      await sleep(1_100)
      const down = await replica.list(key)
      expect(down.status).toBe(503)
      expect(down.headers.get('retry-after')).toBe('1')
      expect(((await down.json()) as { error: { code: string } }).error.code).toBe('KEYS_UNAVAILABLE')
      await expect(replica.keys.create({ tenantId: 'b' })).rejects.toMatchObject({ code: 'KEYS_UNAVAILABLE' })
      await expect(Promise.resolve(replica.limiter?.take('key_x'))).rejects.toMatchObject({ code: 'KEYS_UNAVAILABLE' })
    } finally {
      await postgres.start()
    }
    expect((await replica.keys.create({ tenantId: 'b' })).key).toMatch(/^am_/)
    expect((await replica.list(key)).status).toBe(200)
  } finally {
    await replica.close()
    await rm(data, { recursive: true, force: true })
  }
})

it('answers 503 within seconds when PostgreSQL stops answering (a partition, not a refusal), and recovers', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-keys-frozen-'))
  const replica = await openReplica(data, { rateLimitPerMinute: 100_000 })
  // SIGSTOP on the postmaster and its backends: connections stay open and nothing answers.
  const postmaster = (await readFile(join(postgres.dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0] as string
  const signal = (name: string) => promisify(execFile)('bash', ['-c', `kill -${name} ${postmaster} $(pgrep -P ${postmaster})`])
  const { key } = await replica.keys.create({ tenantId: 'a' })
  expect((await replica.list(key)).status).toBe(200)
  try {
    await signal('STOP')
    await sleep(1_100)
    const started = performance.now()
    const frozen = await replica.list(key)
    expect(frozen.status).toBe(503)
    // The pool's query and connect timeouts (5 s), not the operating system's minutes.
    expect(performance.now() - started).toBeLessThan(5_000 + 1_500)
  } finally {
    await signal('CONT')
  }
  try {
    let status = 0
    const back = performance.now()
    while (status !== 200 && performance.now() - back < 15_000) {
      status = (await replica.list(key)).status
      if (status !== 200) await sleep(50)
    }
    expect(status).toBe(200)
  } finally {
    await replica.close()
    await rm(data, { recursive: true, force: true })
  }
})
