import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { Memory } from '@agentmem/memory'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { dataPaths } from '../src/data-paths.js'
import { createApp } from '../src/http/app.js'
import { KeyStore } from '../src/keys/key-store.js'
import { memoryOptions } from '../src/store-options.js'
import { logLines } from './helpers/log-lines.js'
import { defaultEmbedder } from './helpers/server.js'

// The dashboard's failures, without a browser: a server fault is a page with only its code and
// request id (the cause goes to the log), and the key used to sign in reaches no log line.

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

it('shows a storage failure as a page with the code and request id only, and never logs the key', async () => {
  const data = await mkdtemp(join(tmpdir(), 'agentmem-ui-errors-'))
  const { sink, lines: logged, parsed } = logLines()
  const config = loadConfig({ env: {}, flags: { data, rateLimitPerMinute: 0 } })
  const keys = await KeyStore.open(dataPaths(data).keys)
  const memory = await Memory.open({ path: dataPaths(data).memory, embedder, ...memoryOptions(config) })
  try {
    // Every access line is logged, so a key in any of them would show.
    const app = createApp({ memory, keys, config, logger: pino({ level: 'debug' }, sink) })
    const { key } = await keys.create({ tenantId: 'a' })
    await memory.withTenant('a').add('a fact', { userId: 'u' })

    const refused = await app.request('/ui/login', { method: 'POST', headers: { origin: 'http://localhost' }, body: new URLSearchParams({ key: `${key}x` }) })
    expect(refused.status).toBe(401)
    const signedIn = await app.request('/ui/login', { method: 'POST', headers: { origin: 'http://localhost' }, body: new URLSearchParams({ key }) })
    expect(signedIn.status).toBe(303)
    const cookie = signedIn.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/^agentmem_session=[\w-]{43}; Path=\/ui; HttpOnly; SameSite=Strict$/)
    const session = { cookie: cookie.split(';')[0] as string }

    const page = await app.request('/ui/memories?user_id=u', { headers: session })
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('a fact')
    // A body that is not a readable form is the client's error.
    const malformed = await app.request('/ui/memories/01a22a11-7590-7763-91d5-e294e563e9a0', {
      method: 'POST',
      headers: { ...session, origin: 'http://localhost', 'content-type': 'multipart/form-data; boundary=x' },
      body: 'not multipart at all',
    })
    expect(malformed.status).toBe(400)
    // Without the session, the dashboard sends the browser to sign in (an API client would get 401).
    const anonymous = await app.request('/ui/memories?user_id=u')
    expect(anonymous.status).toBe(303)
    expect(anonymous.headers.get('location')).toBe('/ui/login')

    // The vector tables vanish under the running store: LanceDB's error names the files it missed.
    await rm(join(dataPaths(data).memory, 'vectors'), { recursive: true, force: true })
    const failed = await app.request('/ui/memories?user_id=u', { headers: session })
    expect(failed.status).toBe(500)
    expect(failed.headers.get('content-type')).toContain('text/html')
    expect(failed.headers.get('content-security-policy')).toContain("default-src 'none'")
    const html = await failed.text()
    const requestId = failed.headers.get('x-request-id') as string
    expect(html).toContain('MEMORY_STORAGE_FAILED')
    expect(html).toContain(requestId)
    expect(html).toContain('Internal error; the request id identifies it in the server log')
    expect(html).not.toContain(data)
    expect(html.toLowerCase()).not.toContain('lance')
    const error = parsed().find((line) => line['msg'] === 'http.error')
    expect(error).toMatchObject({ requestId, code: 'MEMORY_STORAGE_FAILED' })

    expect(logged.length).toBeGreaterThan(3)
    for (const line of logged) expect(line).not.toContain(key.slice(3))
  } finally {
    await memory.close()
    keys.close()
    await rm(data, { recursive: true, force: true })
  }
})
