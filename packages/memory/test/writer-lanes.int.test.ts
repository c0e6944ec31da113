import { noopLogger } from '@agentmem/embeddings'
import { describe, expect, it, vi } from 'vitest'
import type { AddResult } from '../src/index.js'
import { ResidentCache } from '../src/search/resident-cache.js'
import { searchMemories } from '../src/search/searcher.js'
import { openStores } from '../src/store/open-stores.js'
import type { VectorStore } from '../src/store/types.js'
import { createHashEmbedder } from '../src/testing/index.js'
import { Writer } from '../src/writer.js'
import { storedRow, tempDir } from './helpers/fixtures.js'

/**
 * Routine maintenance runs on the writer's store lane, beside the journal: adds are
 * acknowledged while it runs (seconds on object storage), and its index refresh does not make
 * the writer forget the duplicate keys of rows it did not index. Real LanceDB and SQLite; the
 * maintenance is held at a gate so the test decides how long it lasts.
 */

/** The store, with `method` (maintain, or apply: a LanceDB write) waiting for `release()` once it has begun. */
function gated(vectors: VectorStore, method: 'maintain' | 'apply') {
  let began!: () => void
  let release!: () => void
  const started = new Promise<void>((resolve) => {
    began = resolve
  })
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let calls = 0
  const store = new Proxy(vectors, {
    get(target, key) {
      if (key === method) {
        return async (...args: unknown[]) => {
          calls++
          began()
          await gate
          return (target[method] as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        }
      }
      const value = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, started, release, calls: () => calls }
}

/** A writer on a fresh folder store whose `method` waits at a gate; disposing it releases the gate and closes everything. */
async function gatedWriter(path: string, due: { maintenanceEveryRows: number; maintenanceEveryCommits: number }, method: 'maintain' | 'apply' = 'maintain') {
  const stores = await openStores({ path })
  const vectors = await stores.provider.open('memories', 3)
  const gate = gated(vectors, method)
  const writer = new Writer(gate.store, stores.metadata, { ...due, annIndexThreshold: 1_000_000, logger: noopLogger })
  return {
    vectors,
    gated: gate,
    writer,
    async [Symbol.asyncDispose]() {
      gate.release()
      await writer.exclusive(async () => writer.stop())
      vectors.close()
      await stores.close()
    },
  }
}

/** Whether `promise` is still unsettled after `ms`. */
async function stillWaiting(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return (await Promise.race([promise.then(() => false), new Promise((resolve) => setTimeout(() => resolve(true), ms))])) as boolean
}

/** Due settings under which no routine maintenance runs. */
const noMaintenance = { maintenanceEveryRows: 1_000_000, maintenanceEveryCommits: 1_000_000 }

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms))])
}

/**
 * A writer whose every commit makes a maintenance due, past a first maintenance held for 2 s: the
 * budget then postpones the next by about 18 s, and twice its length is 4 s.
 */
async function afterAMaintenanceOf2s(path: string) {
  const lanes = await gatedWriter(path, { maintenanceEveryRows: 1_000_000, maintenanceEveryCommits: 1 })
  const { gated, writer } = lanes
  const add = (id: string, text: string) => writer.submit([{ kind: 'add', memory: storedRow(id, text, 'u'), actor: null }])
  try {
    await add('a', 'first fact')
    await writer.settled()
    await within(gated.started, 10_000, 'the first maintenance')
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    gated.release()
    await writer.exclusive(async () => {}) // the lane is past the maintenance
    expect(gated.calls()).toBe(1)
  } catch (e) {
    await lanes[Symbol.asyncDispose]()
    throw e
  }
  return Object.assign(lanes, { add })
}

describe('the writer’s store lane', () => {
  it('acknowledges adds while routine maintenance runs, and still finds their duplicates after it', async () => {
    await using dir = await tempDir('lanes')
    // Maintenance is due after every apply: the first add starts one.
    await using lanes = await gatedWriter(dir.path, { maintenanceEveryRows: 1_000_000, maintenanceEveryCommits: 1 })
    const { vectors, gated, writer } = lanes
    const add = async (id: string, text: string, metadata: Record<string, unknown> = {}) => {
      const [result] = await writer.submit([{ kind: 'add', memory: storedRow(id, text, 'u', metadata), actor: null }])
      return result as AddResult
    }
    expect(await add('a', 'first fact')).toMatchObject({ id: 'a', event: 'ADD' })
    await writer.settled()
    await within(gated.started, 10_000, 'routine maintenance')

    // The maintenance is held: adds are still journaled and acknowledged, duplicates found.
    expect(await within(add('b', 'second fact'), 10_000, 'an add during maintenance')).toMatchObject({ id: 'b', event: 'ADD' })
    expect(await within(add('b2', 'second fact'), 10_000, 'a duplicate add during maintenance')).toMatchObject({ id: 'b', event: 'NONE' })
    expect(await within(add('a2', 'first fact'), 10_000, 'a duplicate of an applied row')).toMatchObject({ id: 'a', event: 'NONE' })
    // New metadata rewrites the indexed row 'a': its apply, after the maintenance, moves it to an unindexed fragment.
    expect(await within(add('a4', 'first fact', { source: 'chat' }), 10_000, 'a re-add with metadata')).toMatchObject({ id: 'a', event: 'UPDATE' })

    gated.release()
    await writer.settled()
    await writer.exclusive(async () => {}) // the lane is past the maintenance
    expect(gated.calls()).toBeGreaterThanOrEqual(1)

    // 'b' was applied after the refresh: not in the index, yet still a duplicate.
    expect(await add('b3', 'second fact')).toMatchObject({ id: 'b', event: 'NONE' })
    expect(await add('a3', 'first fact')).toMatchObject({ id: 'a', event: 'NONE' })
    await writer.settled()
    const rows = await vectors.list({ tenantId: 't', userId: 'u' }, undefined, undefined, undefined)
    expect(rows.map((r) => r.id).sort()).toEqual(['a', 'b'])
  })

  it('answers a search of a scope whose writes wait behind a maintenance without waiting for it, with those writes', async () => {
    await using dir = await tempDir('lanes-search')
    // The third row makes a maintenance due, however the applies group them.
    await using lanes = await gatedWriter(dir.path, { maintenanceEveryRows: 3, maintenanceEveryCommits: 1_000_000 })
    const { gated, writer } = lanes
    const cache = new ResidentCache(
      { vectors: () => gated.store, pending: () => writer.pendingRows(), exclusive: (task) => writer.exclusive(task) },
      { budgetBytes: 1 << 20, maxScopeRows: 1_000, logger: noopLogger },
    )
    writer.attach(cache)
    const embedder = createHashEmbedder({ dimensions: 3 })
    const search = (query: string, userId: string) =>
      searchMemories(
        {
          embedder,
          vectors: gated.store,
          cache,
          settled: () => writer.settled(),
          loadsRatherThanWaits: () => writer.settlesLate,
          healthy: () => writer.healthy(),
        },
        {
          query,
          scope: { tenantId: 't', userId },
          filter: undefined,
          mode: 'hybrid',
          topK: 5,
          threshold: undefined,
          fillerWeight: 1,
          feedbackWeight: 0.3,
          contextWeight: 0.3,
        },
      )
    // Each user written once, so no scope is resident until a search loads it.
    const add = (id: string, text: string, userId: string) => writer.submit([{ kind: 'add', memory: storedRow(id, text, userId), actor: null }])
    await add('a', 'first fact', 'u1')
    await add('c1', 'an older fact', 'u3')
    await writer.settled()
    // Counted once here: keyword statistics are counted on the store lane, so before the maintenance.
    expect((await within(search('first', 'u1'), 10_000, 'the first search')).map((h) => h.memory.id)).toEqual(['a'])
    await add('b', 'second fact', 'u2')
    await writer.settled()
    await within(gated.started, 10_000, 'routine maintenance')

    await add('c2', 'third fact', 'u3') // acknowledged, waiting behind the maintenance
    expect(writer.settlesLate).toBe(true)
    const hits = await within(search('third', 'u3'), 10_000, 'a search during maintenance')
    expect(hits.map((h) => h.memory.id)).toEqual(['c2', 'c1'])
  })

  it('runs a maintenance the time budget postponed once writes stop for longer than their pauses (at most twice its last length), not when the budget allows', async () => {
    await using dir = await tempDir('lanes-quiet')
    await using lanes = await afterAMaintenanceOf2s(dir.path)
    const { gated, writer, add } = lanes

    await add('b', 'second fact')
    await writer.settled() // applied: a maintenance is due again
    // Writes a second apart: more than 500 ms, but the writes' own pace (a loader's), so not quiet.
    for (const id of ['c', 'd', 'e']) {
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      await add(id, `fact ${id}`)
    }
    expect(gated.calls()).toBe(1)
    // Quiet now: it runs about 3 s after the last write (four times their spacing), well before the budget's 18 s.
    await vi.waitFor(() => expect(gated.calls()).toBe(2), { timeout: 10_000, interval: 50 })
  })

  it('runs a due maintenance 500 ms after writes that came back to back stop, however long the last one took', async () => {
    await using dir = await tempDir('lanes-quiet-burst')
    await using lanes = await afterAMaintenanceOf2s(dir.path)
    const { gated, add } = lanes
    // A burst, 20 ms apart (a bulk load), long enough that the pause before it is not among the
    // last 16 gaps, then nothing: the store is quiet once the burst's pace is clearly broken.
    for (let i = 0; i < 20; i++) {
      await add(`b${i}`, `burst fact ${i}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await vi.waitFor(() => expect(gated.calls()).toBe(2), { timeout: 3_000, interval: 50 })
  })

  it('answers single adds of concurrent callers while a LanceDB write runs; a bulk submission waits for its own write', async () => {
    const add = (writer: Writer, id: string) => writer.submit([{ kind: 'add', memory: storedRow(id, `fact ${id}`), actor: null }])
    // 20 callers at once: one group of 20 single adds, more than a small group (16).
    const callers = (writer: Writer, from: number) => Promise.all(Array.from({ length: 20 }, (_, i) => add(writer, `s${from + i}`)))
    {
      await using dir = await tempDir('lanes-apply')
      await using lanes = await gatedWriter(dir.path, noMaintenance, 'apply')
      await callers(lanes.writer, 0)
      await within(lanes.gated.started, 10_000, 'the first LanceDB write')
      // Journaled and answered while that write is held (each group waiting for it held 32 concurrent adds to ~1,400/s).
      const answered = await within(callers(lanes.writer, 20), 5_000, 'single adds during a LanceDB write')
      expect(answered.flat()).toHaveLength(20)
      lanes.gated.release()
      await lanes.writer.settled()
      expect((await lanes.vectors.list({ tenantId: 't', userId: 'u' }, undefined, undefined, undefined)).length).toBe(40)
    }
    {
      await using dir = await tempDir('lanes-bulk')
      await using lanes = await gatedWriter(dir.path, noMaintenance, 'apply')
      // One submission of 20: answered once journaled, but the next group waits for its write.
      const bulk = Array.from({ length: 20 }, (_, i) => ({ kind: 'add' as const, memory: storedRow(`b${i}`, `bulk fact ${i}`), actor: null }))
      expect(await lanes.writer.submit(bulk)).toHaveLength(20)
      await within(lanes.gated.started, 10_000, 'the bulk group’s LanceDB write')
      const next = add(lanes.writer, 'after')
      expect(await stillWaiting(next, 300)).toBe(true)
      lanes.gated.release()
      expect(await within(next, 10_000, 'the add after the bulk group')).toHaveLength(1)
    }
  })

  it('holds small submissions back once 8,000 rows wait for the store, until the store catches up', async () => {
    await using dir = await tempDir('lanes-cap')
    await using lanes = await gatedWriter(dir.path, noMaintenance, 'apply')
    const add = (id: string) => ({ kind: 'add' as const, memory: storedRow(id, `fact ${id}`), actor: null })
    // 501 small submissions (16 ops each) at once: one group of 8,016 rows, journaled and answered.
    const small = Array.from({ length: 501 }, (_, s) => lanes.writer.submit(Array.from({ length: 16 }, (_, i) => add(`r${s}-${i}`))))
    expect((await within(Promise.all(small), 30_000, 'the small submissions')).flat()).toHaveLength(8016)
    await within(lanes.gated.started, 10_000, 'their LanceDB write')
    // The pending list is past the cap: the next single add waits for that write.
    const next = lanes.writer.submit([add('after')])
    expect(await stillWaiting(next, 300)).toBe(true)
    lanes.gated.release()
    expect(await within(next, 30_000, 'the add after the store caught up')).toHaveLength(1)
  })
})
