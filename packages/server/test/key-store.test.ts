import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { KeyStore } from '../src/keys/key-store.js'

// verify and activeCount answer from an in-memory copy of the active keys; these pin down when a
// change made elsewhere (the `agentmem keys` CLI opens its own KeyStore on the same file) is seen.

let dir: string
let file: string
const opened: KeyStore[] = []
const open = async (options?: { maxStalenessMs?: number }) => {
  const store = await KeyStore.open(file, options)
  opened.push(store)
  return store
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmem-keys-'))
  file = join(dir, 'keys.db')
})
afterEach(async () => {
  for (const store of opened.splice(0)) store.close()
  await rm(dir, { recursive: true, force: true })
})

it("applies this store's own creations and revocations at once, whatever the staleness bound", async () => {
  const store = await open({ maxStalenessMs: 60_000 })
  expect(await store.activeCount()).toBe(0)
  const { key, info } = await store.create({ tenantId: 'a', role: 'admin' })
  expect(await store.verify(key)).toEqual({ tenantId: 'a', role: 'admin', keyId: info.id })
  expect(await store.activeCount()).toBe(1)
  expect(await store.verify(`${key}x`)).toBeNull()
  await store.revoke(info.id)
  expect(await store.verify(key)).toBeNull()
  expect(await store.activeCount()).toBe(0)
})

it("sees another connection's revocation and creation at its next check (maxStalenessMs 0: every call)", async () => {
  const server = await open({ maxStalenessMs: 0 })
  const cli = await open()
  const { key, info } = await cli.create({ tenantId: 'a' })
  expect(await server.verify(key)).toEqual({ tenantId: 'a', role: 'tenant', keyId: info.id })
  await cli.revoke(info.id)
  expect(await server.verify(key)).toBeNull()
  expect(await server.activeCount()).toBe(0)
  const created = await cli.create({ tenantId: 'b' })
  expect(await server.verify(created.key)).toMatchObject({ tenantId: 'b' })
  expect(await server.activeCount()).toBe(1)
})

it('refuses a key revoked by another connection within the default bound (100 ms)', async () => {
  const server = await open()
  const cli = await open()
  const { key, info } = await cli.create({ tenantId: 'a' })
  expect(await server.verify(key)).not.toBeNull()
  await cli.revoke(info.id)
  const revokedAt = performance.now()
  let principal = await server.verify(key)
  while (principal !== null && performance.now() - revokedAt < 1_000) {
    await sleep(5)
    principal = await server.verify(key)
  }
  expect(principal).toBeNull()
  // The copy was at most 100 ms old; the margin is for a loaded machine's timers.
  expect(performance.now() - revokedAt).toBeLessThan(100 + 250)
})

it('keeps answering from its copy within the bound (the trade-off the bound states)', async () => {
  const server = await open({ maxStalenessMs: 60_000 })
  const cli = await open()
  const { key, info } = await cli.create({ tenantId: 'a' })
  expect(await server.verify(key)).not.toBeNull()
  await cli.revoke(info.id)
  expect(await server.verify(key)).not.toBeNull()
  // A write through the server's own store (admin API) re-reads everything, other changes included.
  await server.create({ tenantId: 'z' })
  expect(await server.verify(key)).toBeNull()
})

it('does not keep a copy read while this store revoked the key', async () => {
  // A long bound: a stale copy installed by the refresh that the first verify starts would stay.
  const store = await open({ maxStalenessMs: 60_000 })
  const { key, info } = await store.create({ tenantId: 'a' })
  await Promise.all([store.verify(key), store.revoke(info.id)])
  expect(await store.verify(key)).toBeNull()
})

it('answers concurrent calls on a cold copy alike, and fails once closed', async () => {
  const store = await open()
  const { key } = await store.create({ tenantId: 'a' })
  const principals = await Promise.all(Array.from({ length: 50 }, () => store.verify(key)))
  expect(new Set(principals.map((p) => p?.tenantId))).toEqual(new Set(['a']))
  store.close()
  await expect(store.verify(key)).rejects.toThrow()
})
