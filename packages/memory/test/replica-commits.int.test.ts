import { type Logger, noopLogger } from '@agentmem/embeddings'
import { type PostgresService, startPostgres } from '@agentmem/test-services'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Memory } from '../src/index.js'
import { createHashEmbedder } from '../src/testing/index.js'
import { holdStore, storeOf, tempDir } from './helpers/fixtures.js'

/**
 * A write the leader acknowledges reaches followers at its commit, not at its LanceDB write, which
 * can wait seconds behind a maintenance on object storage (replica-notice.ts, committed notices).
 * Two replicas in this process on real PostgreSQL and one LanceDB folder; the leader's LanceDB
 * writes are held at a gate, as a long maintenance holds them.
 */

let postgres: PostgresService
beforeAll(async () => {
  postgres = await startPostgres()
})
afterAll(async () => {
  await postgres?.stop()
})

/** A leader and a follower on one store (PostgreSQL + a LanceDB folder); disposing closes both. */
async function twoReplicas(name: string, checkEveryMs = 1_000, leaderOptions: { logger?: Logger; checkEveryMs?: number } = {}) {
  const dir = await tempDir(name)
  const embedder = createHashEmbedder()
  const metadataUrl = await postgres.createDatabase(`${name.replaceAll('-', '_')}_${process.pid}`)
  const replicas = new Map<string, Memory>()
  const open = async (address: string, { logger = noopLogger, checkEveryMs: every = checkEveryMs } = {}) => {
    const memory = await Memory.open({
      path: `${dir.path}/${address}`,
      metadataUrl,
      vectorsUrl: `${dir.path}/vectors`,
      embedder,
      logger,
      replication: { address, checkEveryMs: every, forward: (to, _secret, call) => (replicas.get(to) as Memory).serveForwarded(call) },
    })
    replicas.set(address, memory)
    return memory
  }
  const leader = await open('a', leaderOptions)
  const follower = await open('b')
  return {
    leader,
    follower,
    metadataUrl,
    async [Symbol.asyncDispose]() {
      await follower.close()
      await leader.close()
      await embedder.close()
      await dir[Symbol.asyncDispose]()
    },
  }
}

/** Holds `memory`'s handling of notices (its replication's serial chain) until `release()`, as on a busy follower. */
function holdNotices(memory: Memory) {
  const replication = (memory as unknown as { engine: { replication: { serially(task: () => Promise<void>): Promise<void> } } }).engine.replication
  let release = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  void replication.serially(() => gate)
  return { release }
}

/** Resolves with `promise`'s value, or `'waiting'` if it has not settled within `ms`. */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'waiting'> {
  return Promise.race([promise, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), ms))])
}

describe('followers see the leader’s commits before its LanceDB writes', () => {
  it('search, lists and counts (resident scope or not) and get show a write at once, forwarded writes too; rankings converge after', async () => {
    await using replicas = await twoReplicas('replica-commits')
    const { leader, follower } = replicas
    expect([leader.stats().role, follower.stats().role]).toEqual(['leader', 'follower'])
    const stored: string[] = []
    for (const text of ['alice keeps bees', 'alice rides a bike', 'bob sails boats']) {
      stored.push((await leader.add(text, { userId: text.startsWith('alice') ? 'alice' : 'bob' })).results[0]?.id as string)
    }
    const bees = stored[0] as string
    await expect.poll(async () => (await follower.getAll({ userId: 'alice' })).results.length, { timeout: 10_000 }).toBe(2)
    await follower.warm({ userId: 'alice' })

    const gate = holdStore(leader, 'apply')
    try {
      const zebra = (await leader.add('alice saw a zebra at the zoo', { userId: 'alice' })).results[0]?.id as string
      const lion = (await leader.add('bob met a lion at the zoo', { userId: 'bob' })).results[0]?.id as string
      const otter = (await leader.add('erin fed an otter', { userId: 'erin' })).results[0]?.id as string
      await expect.poll(() => gate.held(), { timeout: 5_000 }).toBeGreaterThan(0)

      // Resident scope: laid over at once.
      await expect.poll(async () => (await follower.search('zebra', { userId: 'alice', topK: 1 })).results[0]?.id, { timeout: 5_000 }).toBe(zebra)
      // A scope the follower does not hold is loaded with the commits laid over the store.
      expect((await follower.search('lion', { userId: 'bob', topK: 1 })).results[0]?.id).toBe(lion)
      expect((await follower.get(lion))?.memory).toBe('bob met a lion at the zoo')
      // A group told in several notices shows whole.
      const batch = await leader.addBatch(Array.from({ length: 16 }, (_, i) => ({ messages: `carol owns parrot number ${i}`, userId: 'carol' })))
      await expect
        .poll(async () => (await follower.search('parrot', { userId: 'carol', topK: 20 })).results.map((r) => r.id).sort(), { timeout: 5_000 })
        .toEqual(batch.results.map((r) => r.id).sort())
      expect(follower.stats().pendingWrites).toBeGreaterThan(0)
      // A delete not in LanceDB yet: both answer from what is pending, not from the store.
      await leader.delete(bees)
      expect(await leader.get(bees)).toBeNull()
      await expect.poll(() => follower.get(bees), { timeout: 5_000 }).toBeNull()
      expect((await follower.search('bees', { userId: 'alice', topK: 3 })).results.map((r) => r.id)).not.toContain(bees)
      // A write the follower forwards is answered at its commit, not after the held LanceDB
      // write, and the follower reads it at once.
      const forwarded = await settledWithin(follower.add('alice adopted a kitten', { userId: 'alice' }), 10_000)
      if (forwarded === 'waiting') throw new Error('a forwarded add waited for the leader’s LanceDB write')
      const kitten = forwarded.results[0]?.id as string
      expect((await follower.get(kitten))?.memory).toBe('alice adopted a kitten')
      expect((await follower.search('kitten', { userId: 'alice', topK: 1 })).results[0]?.id).toBe(kitten)
      // A bulk group, too big for notices, is told by number: the follower reads it from the journal.
      const bulk = await leader.addBatch(Array.from({ length: 300 }, (_, i) => ({ messages: `dave keeps ferret number ${i}`, userId: 'dave' })))
      await expect.poll(async () => (await follower.search('ferret', { userId: 'dave', topK: 300 })).results.length, { timeout: 5_000 }).toBe(300)
      expect((await follower.get(bulk.results[299]?.id as string))?.memory).toBe('dave keeps ferret number 299')
      // Still not in LanceDB: lists and counts show it at once too, from a resident scope, or from
      // one they load with the commits laid over (as a search does) rather than wait for the apply.
      const listing = await settledWithin(follower.getAll({ userId: 'bob' }), 5_000)
      if (listing === 'waiting') throw new Error('a list of a resident scope waited for the leader’s LanceDB write')
      expect(listing.results.map((m) => m.id)).toContain(lion)
      // The count comes first: it is what loads the scope.
      expect(await settledWithin(follower.count({ userId: 'erin' }), 5_000)).toBe(1)
      const erin = await settledWithin(follower.getAll({ userId: 'erin' }), 5_000)
      if (erin === 'waiting') throw new Error('a list of a scope the commits touch waited for the leader’s LanceDB write')
      expect(erin.results.map((m) => m.id)).toEqual([otter])
    } finally {
      gate.release()
    }

    // Once applied, the follower's keyword statistics have the writes too: same scores as the leader.
    const ranked = async (memory: Memory) =>
      (await memory.search('alice at the zoo', { userId: 'alice', topK: 5 })).results.map((r) => [r.id, r.score.toFixed(6)])
    await expect.poll(async () => ranked(follower), { timeout: 10_000 }).toEqual(await ranked(leader))
    await expect.poll(() => follower.stats().pendingWrites, { timeout: 10_000 }).toBe(0)
  })

  it('a duplicate that a follower’s add finds among another replica’s newest writes is read there at once, applied or not', async () => {
    await using replicas = await twoReplicas('replica-duplicate')
    const { leader, follower } = replicas
    // The follower has not heard of the leader's write yet (a busy follower) when its own add of
    // the same text comes back with that write's id: the answer must wait for it to show here.
    const addTwice = async (text: string) => {
      const notices = holdNotices(follower)
      try {
        const first = (await leader.add(text, { userId: 'dana' })).results[0]?.id
        setTimeout(notices.release, 300)
        const second = (await follower.add(text, { userId: 'dana' })).results[0]?.id
        expect(second).toBe(first)
        expect((await follower.get(second as string))?.memory).toBe(text)
      } finally {
        notices.release()
      }
    }
    const gate = holdStore(leader, 'apply')
    try {
      await addTwice('dana drinks green tea') // its group not in LanceDB yet
    } finally {
      gate.release()
    }
    await leader.size() // every write in LanceDB
    await addTwice('dana drinks black coffee') // in LanceDB by the answer, perhaps
  })

  it('a bulk delete too big for notices is told by number: a follower drops its rows before its apply', async () => {
    await using replicas = await twoReplicas('replica-bulk-delete')
    const { leader, follower } = replicas
    // 1,000 deletes are more than 16 notices hold: the follower reads the ids from the journal.
    const bulk = await leader.addBatch(Array.from({ length: 1_000 }, (_, i) => ({ messages: `dave keeps ferret number ${i}`, userId: 'dave' })))
    await leader.add('erin keeps a ferret too', { userId: 'erin' })
    await expect.poll(async () => (await follower.search('ferret', { userId: 'dave', topK: 1_000 })).results.length, { timeout: 10_000 }).toBe(1_000)
    await follower.search('ferret', { userId: 'dave' }) // read twice: resident from now on
    // A scope-wide delete first waits for the writes before it to reach LanceDB: let them.
    await leader.size()
    const gate = holdStore(leader, 'apply')
    try {
      expect((await leader.deleteAll({ userId: 'dave' })).deleted).toBe(1_000)
      await expect.poll(async () => (await follower.search('ferret', { userId: 'dave', topK: 10 })).results.length, { timeout: 5_000 }).toBe(0)
      expect(await follower.get(bulk.results[0]?.id as string)).toBeNull()
      expect((await follower.search('ferret', { userId: 'erin' })).results).toHaveLength(1)
      // Its LanceDB write was held all along.
      await expect.poll(() => gate.held(), { timeout: 5_000 }).toBeGreaterThan(0)
    } finally {
      gate.release()
    }
    expect(await follower.count({ userId: 'dave' })).toBe(0)
  })

  it('a forwarded write whose notices PostgreSQL did not take is answered after its apply, and the follower reads it', async () => {
    await using replicas = await twoReplicas('replica-untold')
    const { leader, follower } = replicas
    await leader.add('alice keeps bees', { userId: 'alice' })
    await leader.size() // applied
    // The leader's notices go nowhere, as on a dropped connection: publish reports it.
    const cluster = (leader as unknown as { engine: { replication: { cluster: { publish(notice: string): Promise<boolean> } } } }).engine.replication.cluster
    const publish = cluster.publish.bind(cluster)
    cluster.publish = async () => false
    const gate = holdStore(leader, 'apply')
    try {
      const adding = follower.add('alice told nobody', { userId: 'alice' })
      // Told nobody, so answered only once applied (held here), not at the commit.
      expect(await settledWithin(adding, 500)).toBe('waiting')
      gate.release()
      const id = (await adding).results[0]?.id as string
      expect((await follower.get(id))?.memory).toBe('alice told nobody')
    } finally {
      gate.release()
      cluster.publish = publish
    }
  })

  it('a follower keeps what it holds while the leader’s maintenance moves the store’s versions', async () => {
    await using replicas = await twoReplicas('replica-maintenance', 100)
    const { leader, follower } = replicas
    for (let i = 0; i < 6; i++) await leader.add(`alice fact number ${i}`, { userId: 'alice' })
    await expect.poll(async () => (await follower.getAll({ userId: 'alice' })).results.length, { timeout: 10_000 }).toBe(6)
    await follower.warm({ userId: 'alice' })
    const loads = follower.stats().resident.loads

    const vectors = storeOf(leader)
    const maintenance = holdStore(leader, 'maintain', { after: true })
    const before = await vectors.version()
    const optimizing = leader.optimize()
    try {
      await expect.poll(() => maintenance.held(), { timeout: 10_000 }).toBeGreaterThan(0)
      expect(await vectors.version()).toBeGreaterThan(before)
      // Several of the follower's checks (every 100 ms) see the moved version with no apply notice.
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      expect(follower.stats().resident).toMatchObject({ scopes: 1, loads })
    } finally {
      maintenance.release()
      await optimizing
    }
  })

  it('a deposed leader that follows again does not keep serving what it loaded before the new leader replayed its journal', async () => {
    const events: string[] = []
    const logger: Logger = { ...noopLogger, info: (event) => void events.push(event) }
    // The deposed process's own checks would see the replay's version come with no notice; under
    // steady writes they always hear notices in between, as here where they never run.
    await using replicas = await twoReplicas('replica-deposed', 100, { logger, checkEveryMs: 60_000 })
    const { leader: deposed, follower: next } = replicas
    await deposed.add('alice keeps bees', { userId: 'alice' })
    await deposed.size() // applied
    // Acknowledged at its commit; its LanceDB write was in flight when the leader lost its lead, and never landed.
    const lost = holdStore(deposed, 'apply', { fail: new Error('the write in flight when the lead was lost') })
    const xylophone = (await deposed.add('alice lost her xylophone', { userId: 'alice' })).results[0]?.id as string
    const replay = holdStore(next, 'apply')
    try {
      // PostgreSQL ends the leader's session (a restart or a network cut does): the follower takes over,
      // and its replay of the journal (which writes the xylophone to LanceDB, with no notice) waits here.
      const admin = new pg.Client({ connectionString: replicas.metadataUrl })
      await admin.connect()
      // The session that holds the leader lock (an advisory lock: its key is in objid).
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid::int = hashtext('agentmem:leader')")
      await admin.end()
      await expect.poll(() => replay.held(), { timeout: 10_000 }).toBeGreaterThan(0)
      lost.release()
      // The deposed process reconnects as a follower and drops what it held; then it loads alice's
      // scope from the store, which has no xylophone yet (and no notice of it will ever come).
      await expect.poll(() => events.includes('memory.replica_reconnected'), { timeout: 10_000 }).toBe(true)
      const replication = (deposed as unknown as { engine: { replication: { serially(task: () => Promise<void>): Promise<void> } } }).engine.replication
      await replication.serially(async () => {})
      await deposed.warm({ userId: 'alice' })
      replay.release()
      // The new leader writes: its notices start past the replay. The deposed process then shows
      // what the replay wrote. (Before the fix it never did: no notice names the xylophone, and
      // this process's checks never run.)
      await next.add('alice drinks green tea', { userId: 'alice' })
      await expect.poll(async () => (await deposed.search('xylophone', { userId: 'alice' })).results.map((r) => r.id), { timeout: 10_000 }).toContain(xylophone)
      expect((await deposed.search('green tea', { userId: 'alice' })).results.map((r) => r.memory)).toContain('alice drinks green tea')
    } finally {
      lost.release()
      replay.release()
    }
  })
})
