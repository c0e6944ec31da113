import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEmbedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import { expect, it } from 'vitest'
import { dataPaths } from '../src/serve.js'
import { runCli, startServeProcess } from './helpers/cli.js'

it('finishes in-flight adds on SIGTERM: every acknowledged add is there after restart', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-shutdown-'))
  try {
    const created = await runCli(['keys', 'create', '--tenant', 'acme', '--data', data])
    expect(created.code).toBe(0)
    const key = created.stdout.trim()
    // Only the key is on stdout, so `KEY=$(agentmem keys create ...)` works.
    expect(key).toMatch(/^am_[\w-]{43}$/)

    const { proc, url } = await startServeProcess(['--data', data])
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
    const acknowledged: string[] = []
    let refused = 0
    const statuses: number[] = []
    const worker = async (w: number) => {
      for (let i = 0; ; i++) {
        try {
          const res = await fetch(`${url}/v1/memories`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ messages: `burst ${w}-${i}`, user_id: 'u' }),
          })
          const body = (await res.json()) as { results?: Array<{ id: string }> }
          if (res.status !== 200) {
            statuses.push(res.status)
            return
          }
          acknowledged.push(body.results?.[0]?.id as string)
        } catch {
          refused++
          return
        }
      }
    }
    const workers = Array.from({ length: 16 }, (_, w) => worker(w))
    while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 20))
    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
    await Promise.all(workers)
    // Requests after the signal were refused (503 while draining, or no connection once closed).
    expect(refused + statuses.length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s !== 503)).toEqual([])

    const embedder = await createEmbedder({ workers: 1 })
    try {
      const memory = await Memory.open({ path: dataPaths(data).memory, embedder, tenantId: 'acme' })
      const stored = new Set<string>()
      let cursor: string | undefined
      do {
        const page = await memory.getAll({ userId: 'u', limit: 1000, ...(cursor !== undefined && { cursor }) })
        for (const m of page.results) stored.add(m.id)
        cursor = page.nextCursor ?? undefined
      } while (cursor)
      await memory.close()
      expect(acknowledged.length).toBeGreaterThan(200)
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([])
    } finally {
      await embedder.close()
    }
  } finally {
    await rm(data, { recursive: true, force: true })
  }
})

it('refuses to listen beyond loopback without API keys, and says why', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-nokeys-'))
  try {
    const result = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--data', data])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/Refusing to listen on 0\.0\.0\.0 without API keys/)
  } finally {
    await rm(data, { recursive: true, force: true })
  }
})
