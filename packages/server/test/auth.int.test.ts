import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { createApp } from '../src/http/app.js'
import { KeyStore } from '../src/keys/key-store.js'
import { dataPaths } from '../src/serve.js'
import { runCli } from './helpers/cli.js'
import { defaultEmbedder, listen } from './helpers/server.js'

// The auth middleware answers from the key store's in-memory copy of the active keys. The
// `agentmem keys` CLI writes the same keys.db from another process; its changes must reach a
// running server within the store's bound (100 ms by default), whichever way they go.

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

/** Polls until `status()` returns `expected`; resolves with the milliseconds that took. */
async function within(status: () => Promise<number>, expected: number): Promise<number> {
  const started = performance.now()
  let seen = await status()
  while (seen !== expected && performance.now() - started < 5_000) {
    await sleep(5)
    seen = await status()
  }
  expect(seen).toBe(expected)
  return performance.now() - started
}

it('turns keys created and revoked by the keys CLI (another process) on and off in a running server', { timeout: 300_000 }, async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-auth-'))
  const config = loadConfig({ env: {}, flags: { data, rateLimitPerMinute: 0 } })
  const keys = await KeyStore.open(dataPaths(data).keys)
  const memory = await Memory.open({ path: dataPaths(data).memory, embedder })
  try {
    await using server = await listen(createApp({ memory, keys, config, logger: pino({ level: 'silent' }) }))
    const list = async (key?: string) =>
      (await fetch(`${server.url}/v1/memories?user_id=u`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } })).status

    // No key yet: loopback acts as the default tenant's admin.
    expect(await list()).toBe(200)

    // The first key switches authentication on.
    const created = await runCli(['keys', 'create', '--tenant', 'a', '--data', data])
    expect(created.code).toBe(0)
    const key = created.stdout.trim()
    const bounds = [await within(() => list(), 401)]
    expect(await list(key)).toBe(200)
    expect(await list(`${key}x`)).toBe(401)

    // Revoked elsewhere: refused. With no active key left, authentication stays on: revoking locks
    // the server down, it never opens it to keyless loopback clients (as the default tenant's admin) again.
    const [info] = await keys.list({ tenantId: 'a' })
    const revoked = await runCli(['keys', 'revoke', info?.id as string, '--data', data])
    expect([revoked.code, revoked.stderr]).toEqual([0, expect.stringContaining('no active key is left: every request is refused until you create one')])
    bounds.push(await within(() => list(key), 401))
    expect(await list()).toBe(401)
    expect(
      (await fetch(`${server.url}/v1/admin/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"tenant":"x"}' })).status,
    ).toBe(401)
    const again = (await runCli(['keys', 'create', '--tenant', 'a', '--data', data])).stdout.trim()
    bounds.push(await within(() => list(again), 200))
    // The bound is 100 ms from the commit; the CLI process's exit is reported a little after it.
    for (const ms of bounds) expect(ms).toBeLessThan(100 + 400)
  } finally {
    await memory.close()
    keys.close()
    await rm(data, { recursive: true, force: true })
  }
})
