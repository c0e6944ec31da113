import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CephRgwService, type PostgresService, startCephRgw, startPostgres } from '@agentmem/test-services'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startServeProcess } from './helpers/cli.js'
import type { Json } from './helpers/server.js'

// Several `agentmem serve` processes on one store: real PostgreSQL (metadata, keys, the leader
// lock) and LanceDB on a real Ceph RGW. Each test gets its own database and bucket prefix.

let postgres: PostgresService
let ceph: CephRgwService
let bucket: string
let stores = 0
const folders: string[] = []

beforeAll(async () => {
  ;[postgres, ceph] = await Promise.all([startPostgres(), startCephRgw()])
  bucket = await ceph.createBucket('replicas')
})
afterAll(async () => {
  await Promise.all([postgres?.stop(), ceph?.stop()])
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })))
})

interface Replica {
  proc: ChildProcess
  url: string
  exited: Promise<unknown>
  stderr: () => string
  /** The tail of its JSON log. */
  logs: () => string
}

/** A store on the shared services, with two tenants' keys created through the CLI (into PostgreSQL). */
async function sharedStore() {
  const name = `replicas_${++stores}`
  const env = {
    AGENTMEM_METADATA_URL: await postgres.createDatabase(name),
    AGENTMEM_VECTORS_URL: `${bucket}/${name}`,
    AGENTMEM_RATE_LIMIT_PER_MINUTE: '0',
    // `leads` reads /metrics as a scraper would, with no key.
    AGENTMEM_METRICS_ACCESS: 'public',
    ...ceph.env(),
  }
  const keyFor = async (tenant: string) => {
    const created = await runCli(['keys', 'create', '--tenant', tenant], env)
    expect(created.code, created.stderr).toBe(0)
    return created.stdout.trim()
  }
  const [keyA, keyB] = [await keyFor('acme'), await keyFor('globex')]
  const start = async (): Promise<Replica> => {
    const data = await mkdtemp(join(tmpdir(), 'agentmem-replica-'))
    folders.push(data)
    const { proc, url, stderr, logs } = await startServeProcess(['--data', data], env)
    return { proc, url, stderr, logs, exited: new Promise((resolve) => proc.on('exit', resolve)) }
  }
  return { env, keyA, keyB, start }
}

async function call(replica: Replica, method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${replica.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

async function leads(replica: Replica): Promise<boolean> {
  const metrics = await (await fetch(`${replica.url}/metrics`)).text()
  return /^agentmem_leader 1$/m.test(metrics)
}

/** Every memory of a scope, all pages. */
async function listAll(replica: Replica, key: string, userId: string): Promise<Array<{ id: string; memory: string }>> {
  const all: Array<{ id: string; memory: string }> = []
  let cursor: string | null = null
  do {
    const page = await call(replica, 'GET', `/v1/memories?user_id=${userId}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, key)
    expect(page.status).toBe(200)
    all.push(...page.body.results)
    cursor = page.body.next_cursor
  } while (cursor)
  return all
}

const alive = (r: Replica) => r.proc.exitCode === null && r.proc.signalCode === null

/** Stops replicas the test did not kill, after checking that none died on its own (its log tail says why). */
async function stopAll(replicas: Replica[]): Promise<void> {
  const dead = replicas.filter((r) => !alive(r))
  for (const r of replicas) r.proc.kill('SIGTERM')
  await Promise.all(replicas.map((r) => r.exited))
  expect(dead.map((r) => `${r.url} exited ${r.proc.exitCode ?? r.proc.signalCode}: ${r.stderr().slice(-1500)}\n${r.logs().slice(-3000)}`)).toEqual([])
}

describe('replicas on PostgreSQL and Ceph RGW', () => {
  it('any replica writes (native and Mem0 routes), reads its own writes, dedups across replicas, and every replica converges', async () => {
    const store = await sharedStore()
    const replicas = await Promise.all([store.start(), store.start(), store.start()])
    try {
      expect((await Promise.all(replicas.map(leads))).filter(Boolean)).toHaveLength(1)
      // The same texts through every replica at once, on overlapping scopes.
      const acked = new Map<string, string>()
      await Promise.all(
        replicas.flatMap((replica, r) =>
          [0, 1].map(async (w) => {
            for (let i = 0; i < 12; i++) {
              const userId = `u${i % 3}`
              const text = `fact ${i} of user ${userId}`
              const res =
                w === 0
                  ? await call(replica, 'POST', '/v1/memories', store.keyA, { messages: text, user_id: userId })
                  : await fetch(`${replica.url}/v3/memories/add/`, {
                      method: 'POST',
                      headers: { authorization: `Token ${store.keyA}`, 'content-type': 'application/json' },
                      body: JSON.stringify({ messages: [{ role: 'user', content: text }], user_id: userId, infer: false }),
                    }).then(async (x) => ({ status: x.status, body: { results: (await x.json()) as Json } }))
              expect(res.status, JSON.stringify(res.body)).toBe(200)
              const id = res.body.results[0].id as string
              acked.set(id, text)
              // Read-your-writes on the replica that acknowledged, at once.
              const read = await call(replica, 'GET', `/v1/memories/${id}`, store.keyA)
              expect(read.status, `replica ${r} reads ${id}`).toBe(200)
              expect(read.body.memory).toBe(text)
            }
          }),
        ),
      )
      // 12 distinct texts were sent 6 times each (3 replicas, 2 routes): one memory each.
      expect(acked.size).toBe(12)

      // Every replica converges on the same memories, within the staleness bound.
      const expected = [...acked.keys()].sort()
      for (const replica of replicas) {
        await expect
          .poll(
            async () =>
              (await Promise.all(['u0', 'u1', 'u2'].map((u) => listAll(replica, store.keyA, u))))
                .flat()
                .map((m) => m.id)
                .sort(),
            { timeout: 5_000 },
          )
          .toEqual(expected)
        const found = await call(replica, 'POST', '/v1/memories/search', store.keyA, { query: 'fact 4 of user u1', user_id: 'u1', top_k: 1 })
        expect(found.body.results[0].memory).toBe('fact 4 of user u1')
      }

      // A write on one follower is seen by the other follower's resident index within the bound.
      for (let i = 0; i < 3; i++) await call(replicas[2] as Replica, 'POST', '/v1/memories/search', store.keyA, { query: 'anything', user_id: 'u0' })
      const late = await call(replicas[1] as Replica, 'POST', '/v1/memories', store.keyA, { messages: 'a late fact about zebras', user_id: 'u0' })
      const seenAfter = performance.now()
      await expect
        .poll(
          async () => (await call(replicas[2] as Replica, 'POST', '/v1/memories/search', store.keyA, { query: 'zebras', user_id: 'u0' })).body.results[0]?.id,
          {
            timeout: 2_000,
            interval: 10,
          },
        )
        .toBe(late.body.results[0].id)
      expect(performance.now() - seenAfter).toBeLessThan(2_000)

      // Followers keep their resident scopes and keyword statistics current from the leader's
      // notices (row images, version-chained): after adds, an update and a delete through every
      // replica, each ranks every query exactly as the others, scores included.
      const queries = [
        { query: 'fact of user', user_id: 'u0' },
        { query: 'zebras fact 3', user_id: 'u0' },
        { query: 'user u1 fact 7', user_id: 'u1' },
      ]
      const rankings = (replica: Replica) =>
        Promise.all(
          queries.map(async (q) =>
            (await call(replica, 'POST', '/v1/memories/search', store.keyA, { ...q, top_k: 20 })).body.results.map(
              (r: { id: string; score: number }) => `${r.id} ${r.score.toFixed(6)}`,
            ),
          ),
        )
      for (const replica of replicas) for (let i = 0; i < 3; i++) await rankings(replica) // resident from now on
      const pick = expected.slice(0, 2)
      await Promise.all(
        replicas.map(async (replica, r) => {
          for (let i = 0; i < 3; i++) {
            const res = await call(replica, 'POST', '/v1/memories', store.keyA, { messages: `zebras fact ${r}${i} more user text`, user_id: `u${i % 2}` })
            expect(res.status).toBe(200)
          }
        }),
      )
      expect((await call(replicas[1] as Replica, 'PATCH', `/v1/memories/${pick[0]}`, store.keyA, { text: 'zebras changed this fact' })).status).toBe(200)
      expect((await call(replicas[2] as Replica, 'DELETE', `/v1/memories/${pick[1]}`, store.keyA)).status).toBe(200)
      // The leader's resident index hears every commit before it is acknowledged: its ranking is the reference.
      const leader = replicas[(await Promise.all(replicas.map(leads))).indexOf(true)] as Replica
      const reference = await rankings(leader)
      expect(reference.flat().some((r) => r.startsWith(pick[0] as string))).toBe(true)
      expect(reference.flat().some((r) => r.startsWith(pick[1] as string))).toBe(false)
      for (const replica of replicas) await expect.poll(() => rankings(replica), { timeout: 5_000 }).toEqual(reference)

      // Tenants stay apart on every replica.
      for (const replica of replicas) {
        expect((await call(replica, 'GET', `/v1/memories/${expected[0]}`, store.keyB)).status).toBe(404)
        expect((await call(replica, 'POST', '/v1/memories/search', store.keyB, { query: 'fact', user_id: 'u0' })).body.results).toEqual([])
      }
      // Forwarded calls need the store's secret.
      const forged = await fetch(`${replicas[0]?.url}/internal/v1/forward`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-agentmem-replica-secret': 'guess' },
        body: JSON.stringify({ tenantId: 'acme', method: 'reset', args: [] }),
      })
      expect(forged.status).toBe(401)
    } finally {
      await stopAll(replicas)
    }
  }, 300_000)

  it('keeps every acknowledged add exactly once, with one ADD in its history, across 10 SIGKILLs of the leader; a follower takes over', async () => {
    const store = await sharedStore()
    const replicas = await Promise.all([store.start(), store.start(), store.start()])
    const killed = new Set<Replica>()
    const starting: Array<Promise<unknown>> = []
    const acked = new Map<string, string>()
    const statuses = new Set<number>()
    let stop = false
    let n = 0
    const writer = async (w: number) => {
      while (!stop) {
        const text = `durable ${w}-${n++}`
        for (let attempt = 0; attempt < 50 && !stop; attempt++) {
          const live = replicas.filter(alive)
          const replica = live[(w + attempt) % Math.max(1, live.length)]
          const res = replica && (await call(replica, 'POST', '/v1/memories', store.keyA, { messages: text, user_id: `w${w}` }).catch(() => undefined))
          if (res) statuses.add(res.status)
          if (res?.status === 200) {
            acked.set(res.body.results[0].id, text)
            break
          }
          // Refused, or the replica died under the request: retry elsewhere, as a client behind a load balancer would.
          await sleep(50)
        }
      }
    }
    /** Roles and log tails of the live replicas, for a failure message. */
    const state = async () =>
      (await Promise.all(replicas.filter(alive).map(async (r) => `${r.url} leads=${await leads(r).catch(() => '?')}\n${r.logs().slice(-2500)}`))).join(
        '\n---\n',
      )
    const writers = [0, 1, 2, 3].map(writer)
    try {
      try {
        for (let trial = 0; trial < 10; trial++) {
          // Writes go on while a follower takes over; the killed replica's replacement starts meanwhile.
          while (replicas.filter(alive).length < 2) await sleep(100)
          await sleep(300 + Math.random() * 400)
          let leader: Replica | undefined
          const deadline = performance.now() + 60_000
          while (!leader) {
            const live = replicas.filter(alive)
            const roles = await Promise.all(live.map((r) => leads(r).catch(() => false)))
            leader = live[roles.indexOf(true)]
            if (!leader && performance.now() > deadline) expect.fail(`no leader 60 s into trial ${trial}:\n${await state()}`)
            if (!leader) await sleep(100)
          }
          console.log(
            `trial ${trial}: leader after ${Math.round(performance.now() - deadline + 60_000)} ms, live ${replicas.filter(alive).length}, acked ${acked.size}`,
          )
          leader.proc.kill('SIGKILL')
          killed.add(leader)
          await leader.exited
          starting.push(store.start().then((replica) => replicas.push(replica)))
        }
        const before = acked.size
        const deadline = performance.now() + 30_000
        while (acked.size <= before + 5) {
          if (performance.now() > deadline) expect.fail(`writes did not resume after the last kill:\n${await state()}`)
          await sleep(100)
        }
      } finally {
        stop = true
        await Promise.all(writers)
        await Promise.allSettled(starting)
      }
      // Only successes and "retry" answers: never a 500.
      expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([])
      expect(acked.size).toBeGreaterThan(20)
      const listIds = async (replica: Replica) => (await Promise.all([0, 1, 2, 3].map((w) => listAll(replica, store.keyA, `w${w}`)))).flat()
      for (const replica of replicas.filter(alive)) {
        // Every replica lists every acknowledged add within the staleness bound (a follower may not have re-read the last ones yet).
        await expect
          .poll(
            async () => {
              const stored = await listIds(replica)
              const ids = new Set(stored.map((m) => m.id))
              return { duplicates: stored.length - new Set(stored.map((m) => m.memory)).size, missing: [...acked.keys()].filter((id) => !ids.has(id)) }
            },
            { timeout: 5_000, interval: 250 },
          )
          .toEqual({ duplicates: 0, missing: [] })
      }
      // Every replica returns what the leader does: the acknowledged adds, and any whose answer a kill cut off.
      const live = replicas.filter(alive)
      let leader: Replica | undefined
      await expect
        .poll(
          async () => {
            leader = live[(await Promise.all(live.map((r) => leads(r).catch(() => false)))).indexOf(true)]
            return leader !== undefined
          },
          { timeout: 10_000, interval: 200 },
        )
        .toBe(true)
      const truth = (await listIds(leader as Replica)).map((m) => m.id).sort()
      for (const replica of live) {
        await expect.poll(async () => (await listIds(replica)).map((m) => m.id).sort(), { timeout: 5_000, interval: 250 }).toEqual(truth)
      }
      // History agrees: each acknowledged add has exactly one event, its ADD, with its text.
      const reader = replicas.filter(alive)[0] as Replica
      for (const [id, text] of acked) {
        const history = await call(reader, 'GET', `/v1/memories/${id}/history`, store.keyA)
        expect(history.status).toBe(200)
        expect(history.body.results.map((e: Json) => `${e.event}:${e.new_memory}`)).toEqual([`ADD:${text}`])
      }
    } finally {
      // A replica that died on its own fails the test here, with its log tail.
      await stopAll(replicas.filter((r) => !killed.has(r)))
    }
  }, 600_000)

  it('a PostgreSQL restart mid-run gives typed 503s, never a 500, and loses no acknowledged write', async () => {
    const store = await sharedStore()
    const replicas = await Promise.all([store.start(), store.start()])
    const acked = new Map<string, string>()
    const failures: Array<{ status: number; code: string }> = []
    let stop = false
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const replica = replicas[i % replicas.length] as Replica
        const res = await call(replica, 'POST', '/v1/memories', store.keyA, { messages: `restart ${w}-${i}`, user_id: 'r' }).catch((e: Error) => ({
          status: 0,
          body: { error: { code: `${e.message}: ${String(e.cause)}` } },
        }))
        if (res.status === 200) acked.set(res.body.results[0].id, `restart ${w}-${i}`)
        else failures.push({ status: res.status, code: res.body?.error?.code })
        await sleep(20)
      }
    }
    const writers = [0, 1].map(writer)
    try {
      await sleep(1_000)
      await postgres.restart()
      // Writes succeed again once PostgreSQL is back (a leader is re-elected if the lock was lost).
      const before = acked.size
      await expect.poll(() => acked.size, { timeout: 30_000 }).toBeGreaterThan(before + 10)
    } finally {
      stop = true
      await Promise.all(writers)
    }
    try {
      // On a failure, the replicas' error lines say what the 500 was.
      const errors = () =>
        replicas
          .map((r) =>
            r
              .logs()
              .split('\n')
              .filter((line) => /"level":(50|60)/.test(line))
              .slice(-5)
              .join('\n'),
          )
          .join('\n')
      expect(
        failures.filter((f) => f.status !== 503),
        errors(),
      ).toEqual([])
      expect(failures.every((f) => ['MEMORY_UNAVAILABLE', 'KEYS_UNAVAILABLE'].includes(f.code))).toBe(true)
      // Every replica lists every acknowledged add within the staleness bound (the last ones may
      // have been acknowledged by the leader a moment before a follower re-read the store).
      for (const replica of replicas) {
        await expect
          .poll(
            async () => {
              const ids = new Set((await listAll(replica, store.keyA, 'r')).map((m) => m.id))
              return [...acked.keys()].filter((id) => !ids.has(id))
            },
            { timeout: 5_000, interval: 250 },
          )
          .toEqual([])
      }
    } finally {
      await stopAll(replicas)
    }
  }, 300_000)
})
