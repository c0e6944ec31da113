import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, expect, it } from 'vitest'
import { type KeyStore, type KeyStoreOptions, toKeyJson } from '../../src/keys/key-store.js'

/**
 * What every key store does, whatever its database. `open` returns a new instance on the same
 * database each call (as the `agentmem keys` CLI and other replicas open their own).
 * verify and activeCount answer from an in-memory copy of the active keys; these pin down when a
 * change made through another instance is seen.
 */
export function runKeyStoreContract(open: (options?: KeyStoreOptions) => Promise<KeyStore>): void {
  const opened: KeyStore[] = []
  const openStore = async (options?: KeyStoreOptions) => {
    const store = await open(options)
    opened.push(store)
    return store
  }
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close()
  })

  it('creates, lists (by tenant, oldest first) and revokes keys, never returning the key again', async () => {
    const store = await openStore()
    const a = await store.create({ tenantId: 'a', name: 'laptop' })
    const admin = await store.create({ tenantId: 'a', role: 'admin' })
    const b = await store.create({ tenantId: 'b' })
    expect(a.key).toMatch(/^am_[\w-]{43}$/)
    expect(a.info).toMatchObject({ tenantId: 'a', name: 'laptop', role: 'tenant', prefix: a.key.slice(0, 10), revokedAt: null })
    expect(toKeyJson(admin.info)).toEqual({
      id: admin.info.id,
      tenant: 'a',
      name: null,
      role: 'admin',
      prefix: admin.key.slice(0, 10),
      created_at: admin.info.createdAt,
      revoked_at: null,
    })
    expect((await store.list({ tenantId: 'a' })).map((k) => k.id).sort()).toEqual([a.info.id, admin.info.id].sort())
    expect(await store.list()).toHaveLength(3)
    expect(JSON.stringify(await store.list())).not.toContain(a.key)

    expect(await store.revoke(b.info.id)).toBe(true)
    expect(await store.revoke(b.info.id)).toBe(false)
    expect(await store.revoke('key_missing')).toBe(false)
    const [revoked] = await store.list({ tenantId: 'b' })
    expect(revoked?.revokedAt).toEqual(expect.any(String))
    expect(await store.verify(b.key)).toBeNull()
  })

  it('refuses a tenant the engine would refuse, or one padded with spaces (it looks like another), creating nothing', async () => {
    const store = await openStore()
    for (const tenantId of ['', '*', 'tab\there', ' ', ' acme', 'acme ']) {
      await expect(store.create({ tenantId })).rejects.toMatchObject({ code: 'REQUEST_VALIDATION_FAILED', details: { issues: [{ path: 'tenant' }] } })
    }
    expect(await store.list()).toEqual([])
  })

  it("applies this store's own creations and revocations at once, whatever the staleness bound", async () => {
    const store = await openStore({ maxStalenessMs: 60_000 })
    expect([await store.activeCount(), await store.authRequired()]).toEqual([0, false])
    const { key, info } = await store.create({ tenantId: 'a', role: 'admin' })
    expect(await store.verify(key)).toEqual({ tenantId: 'a', role: 'admin', keyId: info.id })
    expect([await store.activeCount(), await store.authRequired()]).toEqual([1, true])
    expect(await store.verify(`${key}x`)).toBeNull()
    await store.revoke(info.id)
    expect(await store.verify(key)).toBeNull()
    // Revoking the last key never switches authentication off.
    expect([await store.activeCount(), await store.authRequired()]).toEqual([0, true])
  })

  it("sees another instance's revocation and creation at its next check (maxStalenessMs 0: every call)", async () => {
    const server = await openStore({ maxStalenessMs: 0 })
    const cli = await openStore()
    expect(await server.authRequired()).toBe(false)
    const { key, info } = await cli.create({ tenantId: 'a' })
    expect(await server.authRequired()).toBe(true)
    expect(await server.verify(key)).toEqual({ tenantId: 'a', role: 'tenant', keyId: info.id })
    await cli.revoke(info.id)
    expect(await server.verify(key)).toBeNull()
    expect([await server.activeCount(), await server.authRequired()]).toEqual([0, true])
    const created = await cli.create({ tenantId: 'b' })
    expect(await server.verify(created.key)).toMatchObject({ tenantId: 'b' })
    expect(await server.activeCount()).toBe(1)
  })

  it('refuses a key revoked by another instance, and accepts one it created, within the default bound (100 ms)', async () => {
    const server = await openStore()
    const cli = await openStore()
    const { key, info } = await cli.create({ tenantId: 'a' })
    expect(await server.verify(key)).not.toBeNull()
    await cli.revoke(info.id)
    const seen = async (check: () => Promise<boolean>) => {
      const started = performance.now()
      while (!(await check()) && performance.now() - started < 2_000) await sleep(5)
      return performance.now() - started
    }
    const revocation = await seen(async () => (await server.verify(key)) === null)
    const created = await cli.create({ tenantId: 'b' })
    const creation = await seen(async () => (await server.verify(created.key)) !== null)
    // The copy was at most 100 ms old; the margin is for a loaded machine's timers.
    expect(revocation).toBeLessThan(100 + 250)
    expect(creation).toBeLessThan(100 + 250)
  })

  it('keeps answering from its copy within the bound (the trade-off the bound states)', async () => {
    const server = await openStore({ maxStalenessMs: 60_000 })
    const cli = await openStore()
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
    const store = await openStore({ maxStalenessMs: 60_000 })
    const { key, info } = await store.create({ tenantId: 'a' })
    await Promise.all([store.verify(key), store.revoke(info.id)])
    expect(await store.verify(key)).toBeNull()
  })

  it('answers concurrent calls on a cold copy alike, and fails once closed', async () => {
    const store = await openStore()
    const { key } = await store.create({ tenantId: 'a' })
    const principals = await Promise.all(Array.from({ length: 50 }, () => store.verify(key)))
    expect(new Set(principals.map((p) => p?.tenantId))).toEqual(new Set(['a']))
    await store.close()
    await expect(store.verify(key)).rejects.toThrow()
  })
}
