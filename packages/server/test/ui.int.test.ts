import { mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { factsReply, type ScriptedLlm, startScriptedLlm } from '@agentmem/memory/testing'
import pino from 'pino'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { createApp } from '../src/http/app.js'
import { KeyStore } from '../src/keys/key-store.js'
import { dataPaths } from '../src/serve.js'
import { launchChromium } from './helpers/browser.js'
import { defaultEmbedder, listen, openTestApp, type TestApp } from './helpers/server.js'

// The dashboard in a real browser (Debian's chromium through playwright-core): one browser for the
// file, a fresh context (cookie jar) per sign-in. AGENTMEM_UI_SCREENSHOTS=1 also writes the main
// pages to docs/screenshots/ (not in CI: the PNGs are committed).

const screenshots = process.env['AGENTMEM_UI_SCREENSHOTS'] ? join(import.meta.dirname, '../../../docs/screenshots') : undefined
const xssScript = '<script>window.__xss = 1</script>Mallory likes jazz'
const xssImage = '"><img src=x onerror="window.__xss = 2">Mallory owns a cat'
const xssMetadata = '<img src=x onerror="window.__xss = 3">'

let embedder: Embedder
/** The LLM for `infer`: a local server answering from a script (500 when nothing is queued). */
let llm: ScriptedLlm
let t: TestApp
let server: Awaited<ReturnType<typeof listen>>
let browser: Browser
/** Tenant a's signed-in browser, shared by the tests that only read or act as tenant a. */
let userA: { context: BrowserContext; page: Page }
const ids: Record<string, string> = {}

beforeAll(async () => {
  embedder = await defaultEmbedder()
  llm = await startScriptedLlm()
  t = await openTestApp(embedder, { llmBaseUrl: llm.baseUrl, llmModel: 'scripted', llmMaxRetries: 0 })
  server = await listen(t.app)
  browser = await launchChromium()
  const a = t.memory.withTenant('a')
  const add = async (name: string, text: string, options: Parameters<typeof a.add>[1]) => {
    ids[name] = (await a.add(text, options)).results[0]?.id as string
  }
  await add('tea', 'Alice prefers green tea in the morning', { userId: 'alice', metadata: { topic: 'food' } })
  await add('peanuts', 'Alice is allergic to peanuts', { userId: 'alice', metadata: { topic: 'health' } })
  await add('lyon', 'Alice lives in Lyon since 2024', { userId: 'alice', agentId: 'planner' })
  await add('running', 'Alice runs 10 km every Sunday', { userId: 'alice', metadata: { topic: 'sport' } })
  await add('meeting', 'Weekly planning meeting is on Monday at 9', { userId: 'alice', agentId: 'planner', runId: 'run-42' })
  // A fact a newer one superseded: hidden unless asked for.
  const paris = await a.import([{ memory: 'Alice lives in Paris', userId: 'alice', validTo: '2024-01-01T00:00:00.000Z' }])
  ids['paris'] = paris.results[0]?.id as string
  await add('xssScript', xssScript, { userId: 'mallory' })
  await add('xssImage', xssImage, { userId: 'mallory', metadata: { note: xssMetadata } })
  // One inference job that went through, one whose LLM failed (the input is stored raw, retried later).
  llm.enqueue(factsReply('Carol drinks oolong on weekends'))
  const done = await a.add('I drink oolong tea on weekends', { userId: 'carol', infer: true })
  ids['doneJob'] = done.job?.id as string
  const pending = await a.add('My flight to Osaka is on Friday', { userId: 'carol', infer: true })
  ids['pendingJob'] = pending.job?.id as string
  ids['raw'] = pending.results[0]?.id as string
  ids['bob'] = (await t.memory.withTenant('b').add('Bob keeps his savings under the mattress', { userId: 'bob' })).results[0]?.id as string
  ids['bobJob'] = (await t.memory.withTenant('b').add('Bob flies to Lima on Monday', { userId: 'bob', infer: true })).job?.id as string
  userA = await signIn(t.keyA)
}, 180_000)

afterAll(async () => {
  await userA?.context.close()
  await browser?.close()
  await server?.[Symbol.asyncDispose]()
  await t?.[Symbol.asyncDispose]()
  await embedder?.close()
  await llm?.close()
})

async function signIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  await page.goto(`${server.url}/ui/login`)
  await page.getByLabel('API key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(`${server.url}/ui/entities`)
  return { context, page }
}

async function snap(page: Page, name: string): Promise<void> {
  if (!screenshots) return
  mkdirSync(screenshots, { recursive: true })
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true })
}

/**
 * Posts a form as the browser would (cookies, Origin, Sec-Fetch-Site), built in the page's DOM: the
 * CSP allows no script of the page's own and no fetch, and a form is what a forged request uses.
 */
async function postForm(page: Page, target: string, fields: Record<string, string>): Promise<number> {
  const response = page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST')
  await page.evaluate(
    ([action, values]) => {
      const { document } = globalThis as unknown as { document: BrowserDocument }
      const form = document.createElement('form')
      form.method = 'post'
      form.action = action
      for (const [name, value] of Object.entries(values)) {
        const input = document.createElement('input')
        input.type = 'hidden'
        input.name = name
        input.value = value
        form.append(input)
      }
      document.body.append(form)
      form.submit()
    },
    [target, fields] as const,
  )
  return (await response).status()
}

/** The little of the DOM `postForm` uses in the page (the test project has no DOM types). */
interface BrowserElement {
  method: string
  action: string
  type: string
  name: string
  value: string
  append(child: BrowserElement): void
  submit(): void
}
interface BrowserDocument {
  createElement(tag: 'form' | 'input'): BrowserElement
  body: BrowserElement
}

/** The page's own form token, as a forged request would need to steal it. */
const tokenOf = (page: Page) => page.locator('input[name="_csrf"]').first().inputValue()

describe('dashboard', () => {
  it('signs in with an API key into a session cookie and lists the entities with counts', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    // Keys exist, so the dashboard asks for one.
    await page.goto(`${server.url}/ui/entities`)
    expect(page.url()).toBe(`${server.url}/ui/login`)
    await snap(page, 'sign-in')
    await page.getByLabel('API key').fill(`${t.keyA}x`)
    const refused = page.waitForResponse((r) => r.url().endsWith('/ui/login') && r.request().method() === 'POST')
    await page.getByRole('button', { name: 'Sign in' }).click()
    expect((await refused).status()).toBe(401)
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('invalid or revoked')

    await page.getByLabel('API key').fill(t.keyA)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${server.url}/ui/entities`)
    // Signed in, the sign-in page leads to the dashboard.
    await page.goto(`${server.url}/ui/login`)
    expect(page.url()).toBe(`${server.url}/ui/entities`)
    const [cookie, ...others] = await context.cookies()
    expect(others).toEqual([])
    expect(cookie).toMatchObject({ name: 'agentmem_session', path: '/ui', httpOnly: true, sameSite: 'Strict' })
    // The cookie is an opaque session id; the key is in no cookie and no URL.
    expect(cookie?.value).not.toContain(t.keyA.slice(3))
    expect(page.url()).not.toContain(t.keyA)

    await expect.poll(() => page.locator('header').textContent()).toContain('tenant a')
    const alice = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'alice', exact: true }) })
    // Five current memories and one superseded: the engine's entity counts include superseded ones.
    expect(await alice.locator('td.num').first().textContent()).toBe('6')
    const planner = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'planner', exact: true }) })
    expect(await planner.locator('td.num').first().textContent()).toBe('2')
    // Tenant b's user is not listed.
    expect(await page.getByText('bob').count()).toBe(0)
    await snap(page, 'entities')

    // Signing out ends the session on the server, not only in this browser.
    const signedOut = `agentmem_session=${cookie?.value}`
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${server.url}/ui/login`)
    expect(await context.cookies()).toEqual([])
    const replayed = await fetch(`${server.url}/ui/entities`, { headers: { cookie: signedOut }, redirect: 'manual' })
    expect(replayed.status).toBe(303)
    expect(replayed.headers.get('location')).toBe('/ui/login')
    await context.close()
  })

  it('pages through a scope with its cursor, filters it, and shows superseded memories on request', async () => {
    const { page } = userA
    await page.goto(`${server.url}/ui/memories?user_id=alice&limit=2`)
    const seen: string[] = []
    for (;;) {
      const texts = await page.locator('tbody tr td:first-child a').allTextContents()
      expect(texts.length).toBeLessThanOrEqual(2)
      seen.push(...texts)
      const next = page.getByRole('link', { name: 'next page »' })
      if ((await next.count()) === 0) break
      await next.click()
      await page.waitForLoadState()
    }
    expect(seen.sort()).toEqual(
      [
        'Alice prefers green tea in the morning',
        'Alice is allergic to peanuts',
        'Alice lives in Lyon since 2024',
        'Alice runs 10 km every Sunday',
        'Weekly planning meeting is on Monday at 9',
      ].sort(),
    )

    await page.goto(`${server.url}/ui/memories?user_id=alice`)
    await page.getByLabel('filters').fill('{"metadata.topic": "health"}')
    await page.getByRole('button', { name: 'List' }).click()
    await page.waitForURL(/filters=/)
    expect(await page.locator('tbody tr td:first-child a').allTextContents()).toEqual(['Alice is allergic to peanuts'])

    await page.getByLabel('filters').fill('')
    await page.getByLabel('include superseded').check()
    await page.getByRole('button', { name: 'List' }).click()
    await page.waitForURL(/include_superseded=true/)
    const paris = page.getByRole('row').filter({ hasText: 'Alice lives in Paris' })
    expect(await paris.getByText('superseded').count()).toBe(1)
    await snap(page, 'memories')

    // A malformed filter is the form's error (400), not a failure of the page.
    const response = await page.goto(`${server.url}/ui/memories?user_id=alice&filters=${encodeURIComponent('{"metadata.topic": ')}`)
    expect(response?.status()).toBe(400)
    expect(await page.getByRole('alert').textContent()).toContain('filters must be a JSON object, like {"metadata.topic": "home"}')
    // The example the error gives is a filter the page takes.
    expect((await page.goto(`${server.url}/ui/memories?user_id=alice&filters=${encodeURIComponent('{"metadata.topic": "home"}')}`))?.status()).toBe(200)
  })

  it('renders memory text and metadata that hold markup as inert text', async () => {
    const { page } = userA
    const dialogs: string[] = []
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    const pages = [
      `/ui/memories?user_id=mallory`,
      `/ui/memories/${ids['xssScript']}`,
      `/ui/memories/${ids['xssImage']}`,
      `/ui/search?query=${encodeURIComponent('Mallory jazz cat')}&user_id=mallory`,
      `/ui/memories/${ids['xssImage']}/delete`,
    ]
    for (const path of pages) {
      const response = await page.goto(`${server.url}${path}`)
      expect(response?.status()).toBe(200)
      expect(response?.headers()['content-security-policy']).toContain("script-src 'none'")
      // No injected element exists, no handler ran, and the markup is visible as text.
      expect(await page.locator('script').count()).toBe(0)
      expect(await page.locator('img').count()).toBe(0)
      expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined()
    }
    await page.goto(`${server.url}/ui/memories/${ids['xssImage']}`)
    expect(await page.locator('p.memory-text').textContent()).toBe(xssImage)
    expect(await page.locator('dd pre').textContent()).toContain(xssMetadata.replaceAll('"', '\\"'))
    await page.goto(`${server.url}/ui/memories/${ids['xssScript']}`)
    await expect.poll(() => page.getByText(xssScript, { exact: true }).first().isVisible()).toBe(true)
    expect(dialogs).toEqual([])
  })

  it('searches a scope and shows each signal of the score', async () => {
    const { page } = userA
    await page.getByRole('link', { name: 'Search', exact: true }).click()
    await page.getByLabel('query').fill('green tea')
    await page.getByLabel('user id').fill('alice')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.waitForURL(/\/ui\/search\?query=green/)
    const first = page.locator('tbody tr').first()
    expect(await first.locator('td').nth(1).textContent()).toContain('Alice prefers green tea in the morning')
    // score, similarity, vector rank, keyword score, keyword rank, fused: the engine's explain.
    const cells = await first.locator('td.num').allTextContents()
    expect(cells[0]).toBe('1')
    for (const cell of cells.slice(1)) expect(cell).toMatch(/^-?\d+(\.\d{3})?$/)
    expect(cells[5]).toBe('1')
    // The memory written right after it in Alice's thread takes conversation context from it.
    const next = page.getByRole('row').filter({ hasText: 'Alice is allergic to peanuts' })
    expect(await next.locator('td.context').textContent()).toMatch(/^\+0\.\d{3} from #1$/)
    expect(await next.locator('td.context a').getAttribute('href')).toBe(`/ui/memories/${ids['tea']}`)
    // A memory alone in its thread (Alice's planner run) has no neighbour to take from.
    expect(await page.getByRole('row').filter({ hasText: 'Weekly planning meeting' }).locator('td.context').textContent()).toBe('–')
    await snap(page, 'search')

    await page.getByLabel('mode').selectOption('keyword')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.waitForURL(/mode=keyword/)
    // Keyword mode compares no embedding: no similarity.
    expect((await page.locator('tbody tr').first().locator('td.num').allTextContents())[2]).toBe('–')

    // An empty query is the form's error, in words.
    const empty = await page.goto(`${server.url}/ui/search?query=&user_id=alice`)
    expect(empty?.status()).toBe(400)
    expect(await page.getByRole('alert').textContent()).toContain('query: enter a query')
  })

  it('edits a memory and shows the change in its history', async () => {
    const { page } = userA
    await page.goto(`${server.url}/ui/memories/${ids['running']}`)
    await page.getByLabel('text').fill('Alice runs 12 km every Sunday')
    await page.getByLabel('metadata (JSON object)').fill('{"topic": "sport", "unit": "km"}')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.waitForURL(/notice=saved/)
    expect(await page.getByRole('status').textContent()).toBe('Saved.')
    const update = page.getByRole('row').filter({ hasText: 'UPDATE' })
    expect(await update.locator('td').nth(2).textContent()).toBe('Alice runs 10 km every Sunday')
    expect(await update.locator('td').nth(3).textContent()).toBe('Alice runs 12 km every Sunday')
    await snap(page, 'memory')
    const stored = await t.call('GET', `/v1/memories/${ids['running']}`)
    expect(stored.body).toMatchObject({ memory: 'Alice runs 12 km every Sunday', metadata: { topic: 'sport', unit: 'km' } })

    // Saving the form unchanged writes nothing.
    await page.getByRole('button', { name: 'Save' }).click()
    await page.waitForURL(/notice=unchanged/)
    expect((await t.call('GET', `/v1/memories/${ids['running']}/history`)).body.results).toHaveLength(2)
    // Not even for a text of several lines, which the browser sends with CRLF line breaks.
    const lines = (await t.call('POST', '/v1/memories', { body: { messages: 'Shopping list:\neggs\nmilk', user_id: 'alice' } })).body.results[0].id
    await page.goto(`${server.url}/ui/memories/${lines}`)
    await page.getByRole('button', { name: 'Save' }).click()
    await page.waitForURL(/notice=unchanged/)
    expect((await t.call('GET', `/v1/memories/${lines}`)).body.memory).toBe('Shopping list:\neggs\nmilk')
    // Nor for a text the page cannot show as stored (CRLF line breaks): editing only the metadata leaves it as it was.
    for (const text of ['Packing list:\r\ntent\r\nstove']) {
      const odd = (await t.call('POST', '/v1/memories', { body: { messages: text, user_id: 'alice' } })).body.results[0].id
      await page.goto(`${server.url}/ui/memories/${odd}`)
      await page.getByLabel('metadata (JSON object)').fill('{"edited": true}')
      await page.getByRole('button', { name: 'Save' }).click()
      await page.waitForURL(/notice=saved/)
      expect((await t.call('GET', `/v1/memories/${odd}`)).body).toMatchObject({ memory: text, metadata: { edited: true } })
      const events = (await t.call('GET', `/v1/memories/${odd}/history`)).body.results
      expect(events.map((e: { new_memory: string }) => e.new_memory)).toEqual([text, text])
    }

    // Bad metadata is refused with the API's message, and nothing changes.
    await page.getByLabel('metadata (JSON object)').fill('[1, 2]')
    const refused = page.waitForResponse((r) => r.request().method() === 'POST')
    await page.getByRole('button', { name: 'Save' }).click()
    expect((await refused).status()).toBe(400)
    expect(await page.getByRole('alert').textContent()).toContain('metadata must be a JSON object')

    // Emptying the text box is an empty text, refused as the API refuses one (it saved the metadata alone, "saved").
    await page.goto(`${server.url}/ui/memories/${ids['running']}`)
    await page.getByLabel('text').fill('')
    await page.getByLabel('metadata (JSON object)').fill('{"emptied": true}')
    const emptied = page.waitForResponse((r) => r.request().method() === 'POST')
    await page.getByRole('button', { name: 'Save' }).click()
    expect((await emptied).status()).toBe(400)
    expect(await page.getByRole('alert').textContent()).toContain('memory text is empty')
    expect((await t.call('GET', `/v1/memories/${ids['running']}`)).body).toMatchObject({
      memory: 'Alice runs 12 km every Sunday',
      metadata: { topic: 'sport', unit: 'km' },
    })

    // Emptying the metadata box clears the metadata (it kept it, "unchanged").
    await page.goto(`${server.url}/ui/memories/${ids['running']}`)
    await page.getByLabel('metadata (JSON object)').fill('')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.waitForURL(/notice=saved/)
    expect((await t.call('GET', `/v1/memories/${ids['running']}`)).body.metadata).toEqual({})
  })

  it('deletes and purges only after a confirmation step', async () => {
    const { page } = userA
    await page.goto(`${server.url}/ui/memories/${ids['lyon']}`)
    await page.getByRole('link', { name: 'Delete…' }).click()
    expect(await page.getByRole('heading').textContent()).toBe('Delete this memory?')
    await page.getByRole('link', { name: 'Cancel' }).click()
    expect((await t.call('GET', `/v1/memories/${ids['lyon']}`)).status).toBe(200)

    await page.goto(`${server.url}/ui/memories/${ids['peanuts']}`)
    await page.getByRole('link', { name: 'Purge…' }).click()
    expect(await page.locator('p.memory-text').textContent()).toBe('Alice is allergic to peanuts')
    await snap(page, 'purge-confirmation')
    await page.getByRole('button', { name: 'Purge' }).click()
    await page.waitForURL(/notice=purged/)
    expect(await page.locator('h1 .badge').textContent()).toBe('purged')
    // The texts are gone from the history it still shows.
    expect(await page.getByText('allergic').count()).toBe(0)
    expect(await page.getByRole('row').filter({ hasText: 'DELETE' }).count()).toBe(1)
    expect((await t.call('GET', `/v1/memories/${ids['peanuts']}`)).status).toBe(404)
    const history = (await t.call('GET', `/v1/memories/${ids['peanuts']}/history`)).body.results
    expect(history.every((e: { purged: boolean; new_memory: string | null }) => e.purged && e.new_memory === null)).toBe(true)

    // A scripted POST to the documented address purges too: it read purge from the form only.
    const hint = (await t.call('POST', '/v1/memories', { body: { messages: 'My password hint is blue horse', user_id: 'alice' } })).body.results[0].id
    const confirm = `${server.url}/ui/memories/${hint}/delete?purge=true`
    await page.goto(confirm)
    const response = await page.context().request.post(confirm, { form: { _csrf: await tokenOf(page) }, headers: { origin: server.url }, maxRedirects: 0 })
    expect([response.status(), response.headers()['location']]).toEqual([303, `/ui/memories/${hint}?notice=purged`])
    const purged = (await t.call('GET', `/v1/memories/${hint}/history`)).body.results
    expect(purged.every((e: { purged: boolean }) => e.purged)).toBe(true)
  })

  it('refuses a state-changing request without the form token or from another origin', async () => {
    const { context, page } = userA
    await page.goto(`${server.url}/ui/memories/${ids['tea']}`)
    const token = await tokenOf(page)
    const url = `${server.url}/ui/memories/${ids['tea']}`
    const form = { text: 'forged', metadata: '{}' }

    // A form posted by the browser from the page itself (same origin, session cookie sent) but without the token.
    expect(await postForm(page, url, form)).toBe(403)
    // A JSON body is no way around it.
    const json = await context.request.post(url, { data: { text: 'forged' }, headers: { origin: server.url }, maxRedirects: 0 })
    expect(json.status()).toBe(403)
    // With the token but from another origin (the session cookie is sent by this client, not a browser).
    const foreign = await context.request.post(url, { form: { ...form, _csrf: token }, headers: { origin: 'http://evil.example' }, maxRedirects: 0 })
    expect(foreign.status()).toBe(403)
    // A wrong token from the right origin.
    const wrong = await context.request.post(url, { form: { ...form, _csrf: `${token}x` }, headers: { origin: server.url }, maxRedirects: 0 })
    expect(wrong.status()).toBe(403)
    expect((await t.call('GET', `/v1/memories/${ids['tea']}`)).body.memory).toBe('Alice prefers green tea in the morning')
    // A field given twice is refused, as a repeated query parameter is (its last value was taken).
    const twice = await context.request.post(url, {
      data: new URLSearchParams([
        ['text', 'first'],
        ['text', 'second'],
        ['_csrf', token],
      ]).toString(),
      headers: { origin: server.url, 'content-type': 'application/x-www-form-urlencoded' },
      maxRedirects: 0,
    })
    expect([twice.status(), await twice.text()]).toEqual([400, expect.stringContaining('The form field text is given more than once')])
    expect((await t.call('GET', `/v1/memories/${ids['tea']}`)).body.memory).toBe('Alice prefers green tea in the morning')

    // The control: the same request with the token, from this origin, goes through.
    const allowed = await context.request.post(url, {
      form: { metadata: '{"topic": "drinks"}', _csrf: token },
      headers: { origin: server.url },
      maxRedirects: 0,
    })
    expect(allowed.status()).toBe(303)
    expect((await t.call('GET', `/v1/memories/${ids['tea']}`)).body.metadata).toEqual({ topic: 'drinks' })
  })

  it("answers another tenant's memory ids with 404, as the API does", async () => {
    const { context, page } = userA
    const bob = ids['bob'] as string
    for (const path of [`/ui/memories/${bob}`, `/ui/memories/${bob}/delete?purge=true`]) {
      const response = await page.goto(`${server.url}${path}`)
      expect(response?.status()).toBe(404)
      expect(await page.getByRole('heading').first().textContent()).toBe('Not found')
      expect(await page.getByText('mattress').count()).toBe(0)
    }
    // The same for writes, token and all.
    await page.goto(`${server.url}/ui/entities`)
    const token = await tokenOf(page)
    for (const [path, form] of [
      [`/ui/memories/${bob}/delete`, { purge: 'true' }],
      [`/ui/memories/${bob}`, { text: 'moved' }],
    ] as const) {
      const response = await context.request.post(`${server.url}${path}`, { form: { ...form, _csrf: token }, headers: { origin: server.url }, maxRedirects: 0 })
      expect(response.status()).toBe(404)
    }
    expect((await t.call('GET', `/v1/memories/${bob}`, { key: t.keyB })).body.memory).toBe('Bob keeps his savings under the mattress')
    // A malformed id is a client error, never a 500.
    expect((await page.goto(`${server.url}/ui/memories/not-an-id`))?.status()).toBe(400)
    // Jobs are looked up in the tenant too: an id that is not one of its jobs is simply not found.
    await page.goto(`${server.url}/ui/jobs?id=${bob}`)
    expect(await page.getByText(`No job ${bob} in tenant a.`).count()).toBe(1)
    expect((await page.goto(`${server.url}/ui/jobs?id=nope`))?.status()).toBe(400)
    expect((await t.call('GET', `/v1/jobs/${ids['doneJob']}`, { key: t.keyB })).status).toBe(404)
  })

  it("lists the tenant's inference jobs newest first, by status and a page at a time", async () => {
    const { page } = userA
    const listed = async () => (await page.locator('tbody tr td:first-child').allTextContents()).map((text) => text.trim())
    await page.getByRole('link', { name: 'Jobs' }).click()
    await page.waitForURL(`${server.url}/ui/jobs`)
    // Tenant a's two jobs, the pending one (newer) first; tenant b's job is not there.
    expect(await listed()).toEqual([ids['pendingJob'], ids['doneJob']])
    expect(await page.locator('tbody .badge').allTextContents()).toEqual([expect.stringMatching(/^(pending|queued)$/), 'done'])
    expect(
      await page
        .getByRole('row')
        .filter({ hasText: ids['pendingJob'] as string })
        .textContent(),
    ).toContain('MEMORY_INFERENCE_FAILED')
    expect(await page.getByText(ids['bobJob'] as string).count()).toBe(0)
    expect(await page.getByText('Inference is').textContent()).toContain('on')
    // The LLM's running totals are the whole server's: admin keys only.
    expect(await page.getByText('LLM calls').count()).toBe(0)
    await snap(page, 'jobs')

    await page.getByLabel('status').selectOption('done')
    await page.getByRole('button', { name: 'List' }).click()
    await page.waitForURL(/status=done/)
    expect(await listed()).toEqual([ids['doneJob']])
    await page.getByLabel('status').selectOption('failed')
    await page.getByRole('button', { name: 'List' }).click()
    await page.waitForURL(/status=failed/)
    expect(await page.getByText('No failed jobs in tenant a.').count()).toBe(1)

    // One job a page: the next page link carries the cursor.
    await page.goto(`${server.url}/ui/jobs?limit=1`)
    expect(await listed()).toEqual([ids['pendingJob']])
    await page.getByRole('link', { name: 'next page »' }).click()
    await page.waitForURL(/cursor=/)
    expect(await listed()).toEqual([ids['doneJob']])
    expect(await page.getByText('end of list').count()).toBe(1)
    expect((await page.goto(`${server.url}/ui/jobs?status=lost`))?.status()).toBe(400)
  })

  it('shows an inference job, reached from the list and from the memories it stored', async () => {
    const { page } = userA
    await page.goto(`${server.url}/ui/jobs`)
    await page.getByRole('link', { name: ids['doneJob'] as string }).click()
    await page.waitForURL(/\/ui\/jobs\?id=/)
    expect(await page.locator('dl .badge').first().textContent()).toBe('done')
    expect(await page.getByRole('row').filter({ hasText: 'ADD' }).getByRole('link').textContent()).toBe('Carol drinks oolong on weekends')

    // The raw memory of the failed job links to it; the job says why and when it runs again.
    await page.goto(`${server.url}/ui/memories/${ids['raw']}`)
    await page.getByRole('link', { name: ids['pendingJob'] as string }).click()
    await page.waitForURL(/\/ui\/jobs\?id=/)
    expect(await page.locator('dl .badge').first().textContent()).toMatch(/^(pending|queued)$/)
    expect(await page.locator('dl').textContent()).toContain('MEMORY_INFERENCE_FAILED')
  })

  it('lets an admin create a key, shown once, and revoke it; other keys cannot manage keys', async () => {
    expect((await userA.page.goto(`${server.url}/ui/keys`))?.status()).toBe(403)
    expect(await userA.page.getByRole('link', { name: 'Keys' }).count()).toBe(0)

    const { context, page } = await signIn(t.adminKey)
    await page.getByRole('link', { name: 'Keys' }).click()
    await snap(page, 'keys')
    await page.getByRole('textbox', { name: 'tenant' }).fill('c')
    await page.getByRole('textbox', { name: 'name' }).fill('browser test')
    await page.getByRole('button', { name: 'Create key' }).click()
    const key = (await page.locator('#new-key').textContent()) ?? ''
    expect(key).toMatch(/^am_[\w-]{43}$/)
    expect(page.url()).toBe(`${server.url}/ui/keys`)
    await page.goto(`${server.url}/ui/keys`)
    expect(await page.content()).not.toContain(key)
    const row = page.getByRole('row').filter({ hasText: 'browser test' })
    expect(await row.getByText('active').count()).toBe(1)

    // Pasted with spaces around it, the key still signs in (the CLI trims AGENTMEM_API_KEY too).
    const other = await signIn(`  ${key} `)
    expect(await other.page.locator('header').textContent()).toContain('tenant c')

    await row.getByRole('link', { name: 'Revoke…' }).click()
    await page.getByRole('button', { name: 'Revoke' }).click()
    await page.waitForURL(/notice=revoked/)
    expect(await page.getByRole('row').filter({ hasText: 'browser test' }).getByText('revoked').count()).toBe(1)
    // The revoked key's session ends at its next request, and the API refuses the key.
    await other.page.reload()
    expect(other.page.url()).toBe(`${server.url}/ui/login`)
    expect((await t.call('GET', '/v1/entities', { key })).status).toBe(401)
    await other.context.close()

    await page.getByRole('link', { name: 'Stats' }).click()
    expect(await page.locator('.stat .value').first().textContent()).toBe(embedder.modelId)
    expect(await page.getByText('heap used / budget').count()).toBe(1)
    await snap(page, 'stats')
    await page.getByRole('link', { name: 'Jobs' }).click()
    expect(await page.getByText('LLM calls since start').count()).toBe(1)
    await context.close()
  })

  it('serves this machine as tenant default while no key exists, forms still needing their token', async () => {
    const data = await mkdtemp(join(tmpdir(), 'agentmem-ui-nokeys-'))
    const keys = await KeyStore.open(dataPaths(data).keys)
    try {
      const config = loadConfig({ env: {}, flags: { data, rateLimitPerMinute: 0 } })
      await using keyless = await listen(createApp({ memory: t.memory, keys, config, logger: pino({ level: 'silent' }) }))
      const context = await browser.newContext()
      const page = await context.newPage()
      await page.goto(`${keyless.url}/ui`)
      expect(page.url()).toBe(`${keyless.url}/ui/entities`)
      expect(await page.locator('header').textContent()).toContain('tenant default')
      const own = (await t.memory.withTenant('default').add('Stored without a key', { userId: 'local' })).results[0]?.id as string
      await page.goto(`${keyless.url}/ui/memories/${own}`)
      const token = await tokenOf(page)
      const target = `${keyless.url}/ui/memories/${own}`
      const foreign = await context.request.post(target, {
        form: { text: 'forged', _csrf: token },
        headers: { origin: 'http://evil.example' },
        maxRedirects: 0,
      })
      expect(foreign.status()).toBe(403)
      // The attack a keyless server on loopback invites: another site's page posting a form to it.
      // No cookie is needed here, so only the origin check stands in the way.
      const attacker = await context.newPage()
      await attacker.goto(`${keyless.url.replace('127.0.0.1', 'localhost')}/health`)
      expect(await postForm(attacker, target, { text: 'forged', _csrf: token })).toBe(403)
      const tokenless = await context.request.post(target, { form: { text: 'forged' }, headers: { origin: keyless.url }, maxRedirects: 0 })
      expect(tokenless.status()).toBe(403)
      const allowed = await context.request.post(target, {
        form: { text: 'Edited without a key', _csrf: token },
        headers: { origin: keyless.url },
        maxRedirects: 0,
      })
      expect(allowed.status()).toBe(303)
      expect((await t.memory.withTenant('default').get(own))?.memory).toBe('Edited without a key')
      // Tenant a's memories are not tenant default's.
      expect((await page.goto(`${keyless.url}/ui/memories/${ids['tea']}`))?.status()).toBe(404)
      await context.close()
    } finally {
      keys.close()
      await rm(data, { recursive: true, force: true })
    }
  })
})
