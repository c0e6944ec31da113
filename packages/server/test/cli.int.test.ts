import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tinyBertShape, writeRandomBertModel } from '@agentmem/embeddings/testing'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { dataPaths } from '../src/data-paths.js'
import { KeyStore } from '../src/keys/key-store.js'
import { cliCommand, runCli, spawnCli, startServeProcess, waitForBanner } from './helpers/cli.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agentmem-cli-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

/** Each CLI run is a process start (tsx, LanceDB, maybe a model): on a loaded 2-core machine a dozen of them outlast the default. */
const cliTimeout = 300_000

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

it(
  'adds, searches and lists; exports and imports JSON lines, resumably and idempotently',
  async () => {
    const data = join(root, 'a')
    for (const text of ['I moved to Lisbon in May', 'My sister is called Ana', 'I play the cello']) {
      const added = await runCli(['add', text, '--user', 'u1', '--tenant', 't1', '--data', data, '--metadata', '{"source":"cli"}'])
      expect(added.code).toBe(0)
      expect(JSON.parse(added.stdout).results[0]).toMatchObject({ memory: text, event: 'ADD' })
      // The first add creates the store, and says where (a mistyped --data wrote to a new folder without a word).
      expect(added.stderr.includes(`creating a new store in ${data}`)).toBe(text === 'I moved to Lisbon in May')
    }
    const search = await runCli(['search', 'which instrument?', '--user', 'u1', '--tenant', 't1', '--data', data, '--top-k', '1'])
    expect(lines(search.stdout).map((r) => r['memory'])).toEqual(['I play the cello'])
    // The cosine `threshold` compares, as over HTTP (it was null on the store: no explain asked).
    expect(lines(search.stdout)[0]?.['similarity']).toEqual(expect.any(Number))
    const listed = lines((await runCli(['list', '--user', 'u1', '--tenant', 't1', '--data', data])).stdout)
    expect(listed.map((r) => r['memory'])).toEqual(['I moved to Lisbon in May', 'My sister is called Ana', 'I play the cello'])
    // Another tenant sees nothing.
    expect((await runCli(['list', '--user', 'u1', '--tenant', 't2', '--data', data])).stdout).toBe('')

    // An export cut off mid-line resumes after its last complete line, without duplicates.
    const file = join(root, 'export.jsonl')
    expect((await runCli(['export', '--tenant', 't1', '--data', data, '--out', file])).code).toBe(0)
    const full = readFileSync(file, 'utf8')
    const [first, second] = full.split('\n')
    writeFileSync(file, `${first}\n${second?.slice(0, 20)}`)
    const resumed = await runCli(['export', '--tenant', 't1', '--data', data, '--out', file])
    expect(resumed.stderr).toMatch(/exported 2 memories \(resumed after/)
    expect(readFileSync(file, 'utf8')).toBe(full)

    // Import keeps ids, times and metadata; a re-run adds nothing.
    const target = join(root, 'b')
    const imported = await runCli(['import', file, '--tenant', 't9', '--data', target])
    expect(imported.stderr).toMatch(/imported 3 new, 0 already present/)
    expect((await runCli(['import', file, '--tenant', 't9', '--data', target])).stderr).toMatch(/imported 0 new, 3 already present/)
    const copy = lines((await runCli(['list', '--user', 'u1', '--tenant', 't9', '--data', target])).stdout)
    expect(copy).toEqual(listed)

    // A bad line stops the import; fixing it and re-running resumes after the last written batch.
    const broken = join(root, 'broken.jsonl')
    const rows = [
      { memory: 'fact one', user_id: 'u2' },
      { memory: 'fact two', user_id: 'u2' },
    ]
    writeFileSync(broken, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n{"memory": oops\n`)
    const failed = await runCli(['import', broken, '--tenant', 't9', '--data', target, '--batch', '1'])
    expect([failed.code, failed.stderr]).toEqual([1, expect.stringMatching(/line 3 is not JSON/)])
    writeFileSync(broken, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n${JSON.stringify({ memory: 'fact three', user_id: 'u2' })}\n`)
    const rerun = await runCli(['import', broken, '--tenant', 't9', '--data', target, '--batch', '1'])
    expect(rerun.stderr).toMatch(/imported 1 new, 0 already present \(resumed after line 2\)/)
    expect(lines((await runCli(['list', '--user', 'u2', '--tenant', 't9', '--data', target])).stdout).map((r) => r['memory'])).toEqual([
      'fact one',
      'fact two',
      'fact three',
    ])

    // Another file at the path of an interrupted import starts over: resuming skipped its first lines, never read.
    writeFileSync(broken, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n{"memory": oops\n`)
    expect((await runCli(['import', broken, '--tenant', 't8', '--data', target, '--batch', '1'])).code).toBe(1)
    const others = ['other one', 'other two', 'other three'].map((memory) => JSON.stringify({ memory, user_id: 'u3' }))
    writeFileSync(broken, `${others.join('\n')}\n`)
    const other = await runCli(['import', broken, '--tenant', 't8', '--data', target, '--batch', '1'])
    expect(other.stderr).toContain(`note: ${broken} is not what the interrupted import read (its first 2 lines differ): importing it from the start\n`)
    expect(other.stderr).toMatch(/imported 3 new, 0 already present\n/)

    // A batch as large as --batch allows, over the server's maxBatchItems (1,000 by default), which the CLI does not apply.
    const big = join(root, 'big.jsonl')
    writeFileSync(big, `${Array.from({ length: 1500 }, (_, i) => JSON.stringify({ memory: `bulk fact ${i}`, user_id: 'u4' })).join('\n')}\n`)
    const bulk = await runCli(['import', big, '--tenant', 't7', '--data', target, '--batch', '2000'])
    expect([bulk.code, bulk.stderr]).toEqual([0, expect.stringMatching(/imported 1500 new, 0 already present\n/)])
  },
  cliTimeout,
)

it(
  'serves loopback clients without a key until the first key exists; data commands talk to the running server',
  async () => {
    const data = join(root, 'c')
    const overHttp = { list: '', search: '' }
    const { proc, url, stderr } = await startServeProcess(['--data', data])
    try {
      expect(stderr()).toMatch(/no API keys yet.*as tenant default/)
      const open = await fetch(`${url}/v1/memories`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: 'hello', user_id: 'u' }),
      })
      expect(open.status).toBe(200)
      // The store is locked by the server: the CLI finds it through the data folder and says so.
      const added = await runCli(['add', 'I play the cello', '--user', 'u', '--data', data, '--metadata', '{"via":"cli"}'])
      expect([added.code, added.stderr]).toEqual([0, `talking to the server at ${url} (pid ${proc.pid})\n`])
      expect(JSON.parse(added.stdout)).toEqual({ results: [{ id: expect.any(String), memory: 'I play the cello', event: 'ADD' }] })
      const listed = await runCli(['list', '--user', 'u', '--data', data])
      expect(lines(listed.stdout).map((r) => [r['memory'], r['metadata']])).toEqual([
        ['hello', {}],
        ['I play the cello', { via: 'cli' }],
      ])
      const found = await runCli(['search', 'cello', '--user', 'u', '--top-k', '1', '--url', url])
      expect([found.stderr, lines(found.stdout).map((r) => r['memory'])]).toEqual(['', ['I play the cello']])
      overHttp.list = listed.stdout
      overHttp.search = found.stdout
      // Over HTTP the key decides the tenant; a --tenant that could not be honoured is refused.
      const unscoped = await runCli(['search', 'cello', '--data', data])
      expect([unscoped.code, unscoped.stderr]).toEqual([
        1,
        expect.stringContaining('search needs at least one of --user, --agent or --run (MEMORY_SCOPE_REQUIRED)'),
      ])
      const tenant = await runCli(['list', '--user', 'u', '--tenant', 't1', '--data', data])
      expect([tenant.code, tenant.stderr]).toEqual([1, expect.stringMatching(/--tenant applies to the local store only/)])

      // The first key, for another tenant, says where the keyless data is.
      const created = await runCli(['keys', 'create', '--tenant', 'acme', '--data', data])
      // With the store it names (a key made without --data went to ./.agentmem and was refused).
      expect(created.stderr).toContain(
        `memories stored before this first key belong to tenant default, which this key does not see; to reach them, create a key for it too: agentmem keys create --tenant default --data ${resolve(data)}\n`,
      )
      const key = (await runCli(['keys', 'create', '--tenant', 'default', '--data', data])).stdout.trim()
      expect((await runCli(['keys', 'create', '--tenant', 'other', '--data', data])).stderr).not.toMatch(/note:/)
      expect((await fetch(`${url}/v1/memories?user_id=u`)).status).toBe(401)
      const withKey = await fetch(`${url}/v1/memories?user_id=u`, { headers: { authorization: `Bearer ${key}` } })
      expect(((await withKey.json()) as { results: Array<{ memory: string }> }).results.map((m) => m.memory)).toEqual(['hello', 'I play the cello'])
      const keyless = await runCli(['list', '--user', 'u', '--data', data])
      expect([keyless.code, keyless.stderr]).toEqual([1, expect.stringMatching(/pass --key or set AGENTMEM_API_KEY.*\(UNAUTHORIZED\)/)])
      const keyed = await runCli(['list', '--user', 'u', '--data', data], { AGENTMEM_API_KEY: key })
      expect(lines(keyed.stdout)).toEqual(lines(listed.stdout))
      const listedKeys = lines((await runCli(['keys', 'list', '--data', data])).stdout)
      expect(listedKeys).toHaveLength(3)
      // The admin API's field names (GET /v1/admin/keys), not the store's.
      expect(Object.keys(listedKeys[0] ?? {}).sort()).toEqual(['created_at', 'id', 'name', 'prefix', 'revoked_at', 'role', 'tenant'])
      expect(JSON.stringify(listedKeys)).not.toContain(key)
    } finally {
      proc.kill('SIGTERM')
      await new Promise((r) => proc.on('exit', r))
    }
    // Stopped: the CLI opens the store itself, and prints the same fields as the HTTP API did.
    const direct = await runCli(['list', '--user', 'u', '--data', data])
    expect([direct.code, direct.stderr]).toEqual([0, ''])
    const keysOf = (text: string) => lines(text).map((r) => Object.keys(r).sort())
    expect(keysOf(direct.stdout)).toEqual(keysOf(overHttp.list))
    const directHit = await runCli(['search', 'cello', '--user', 'u', '--top-k', '1', '--data', data])
    expect(keysOf(directHit.stdout)).toEqual(keysOf(overHttp.search))
  },
  cliTimeout,
)

it(
  'refuses invalid flag values, naming the flag',
  async () => {
    const cases: Array<[string[], RegExp]> = [
      [['list', '--user', 'u', '--limit', 'abc'], /option '--limit <n>' argument 'abc' is invalid/],
      [['list', '--user', 'u', '--limit', '0'], /option '--limit <n>' argument '0' is invalid/],
      [['search', 'q', '--user', 'u', '--top-k', '2.5'], /option '--top-k <n>' argument '2.5' is invalid/],
      [['search', 'q', '--user', 'u', '--mode', 'fuzzy'], /option '--mode <mode>' argument 'fuzzy' is invalid/],
      [['add', 'x', '--user', 'u', '--metadata', '[1]'], /option '--metadata <json>' argument '\[1\]' is invalid. expected a JSON object/],
      [['list', '--user', 'u', '--url', 'ftp://example.com'], /option '--url <url>' argument 'ftp:\/\/example.com' is invalid/],
      // Scope ids as every surface checks them: an MCP server started with one of these failed every call that named no scope.
      [['mcp', '--user', '*'], /option '--user <id>' argument '\*' is invalid. '\*' is the filter wildcard/],
      [['mcp', '--agent', ''], /option '--agent <id>' argument '' is invalid/],
      [['add', 'x', '--run', 'a\u0007b'], /option '--run <id>' argument .* is invalid. must not contain control characters/],
    ]
    for (const [args, message] of cases) {
      const run = await runCli([...args, '--data', join(root, 'never-created')])
      expect([args, run.code, run.stderr]).toEqual([args, 1, expect.stringMatching(message)])
    }
    // What the engine refuses names the flags too, not its option names (userId); a filter's fields stay.
    const refused: Array<[string[], string]> = [
      [['add', 'x'], 'add needs at least one of --user, --agent or --run (MEMORY_SCOPE_REQUIRED)'],
      [['add', 'x', '--user', 'u', '--metadata', '{"user_id":"z"}'], "metadata key 'user_id' is reserved: scope is set by --user / --agent / --run"],
      [['list', '--user', 'u', '--filters', '{"foo":1}'], 'Filterable fields: user_id, agent_id, run_id'],
    ]
    for (const [args, message] of refused) {
      const run = await runCli([...args, '--data', join(root, 'flag-words')])
      expect([args, run.code, run.stderr]).toEqual([args, 1, expect.stringContaining(message)])
    }
    // A mistyped --data: listing or revoking keys there is an error that creates nothing; creating a key says where it starts a key store.
    const typo = join(root, 'keys-typo')
    for (const args of [
      ['keys', 'list'],
      ['keys', 'revoke', 'key_0123'],
    ]) {
      const run = await runCli([...args, '--data', typo])
      expect([args, run.code, run.stderr]).toEqual([args, 1, `agentmem: there are no keys in ${typo} (no ${join(typo, 'server', 'keys.db')}); check --data\n`])
    }
    // A tenant no key may name is refused before a key store is started for it.
    const star = await runCli(['keys', 'create', '--tenant', '*', '--data', typo])
    expect([star.code, star.stderr]).toEqual([1, expect.stringContaining("tenant: '*' cannot name a tenant")])
    expect(existsSync(typo)).toBe(false)
    const created = await runCli(['keys', 'create', '--tenant', 'acme', '--data', typo])
    expect([created.code, created.stderr]).toEqual([0, expect.stringContaining(`agentmem: creating a new key store in ${typo}\n`)])
  },
  cliTimeout,
)

it(
  'list and export never load the model: an empty model cache stays empty',
  async () => {
    const data = join(root, 'no-model')
    expect((await runCli(['add', 'I moved to Lisbon in May', '--user', 'u', '--data', data])).code).toBe(0)
    const cache = join(root, 'empty-cache')
    mkdirSync(cache)
    const env = { AGENTMEM_CACHE_DIR: cache }
    const listed = await runCli(['list', '--user', 'u', '--data', data], env)
    expect(lines(listed.stdout).map((r) => r['memory'])).toEqual(['I moved to Lisbon in May'])
    const exported = await runCli(['export', '--data', data], env)
    expect(lines(exported.stdout).map((r) => r['memory'])).toEqual(['I moved to Lisbon in May'])
    expect(readdirSync(cache)).toEqual([])
  },
  cliTimeout,
)

it(
  'the first start with an empty model cache logs build progress; the banner names the model and how to switch it',
  async () => {
    const cache = join(root, 'first-run-cache')
    const proc = spawnCli(['serve', '--port', '0', '--data', join(root, 'first-run')], { AGENTMEM_CACHE_DIR: cache, AGENTMEM_LOG_LEVEL: 'info' })
    let stdout = ''
    // stdout (the log) and stderr (the banner) are separate pipes: the log lines written before the
    // banner may still be in flight when it arrives, so wait for the listening line itself.
    const listening = new Promise<void>((resolve) => {
      proc.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString()
        if (stdout.includes('"msg":"server.listening"')) resolve()
      })
    })
    try {
      const { stderr } = await waitForBanner(proc)
      await listening
      const logged = lines(stdout)
      const progress = logged.filter((l) => l['msg'] === 'model.progress').map((l) => l['percent'])
      expect(progress).toEqual([0, 25, 50, 75, 100])
      expect(logged.findIndex((l) => l['msg'] === 'model.progress')).toBeLessThan(logged.findIndex((l) => l['msg'] === 'server.listening'))
      expect(stderr()).toMatch(
        /model: +glove-100d-sif \(offline default: strong on keywords, weak on meaning; --model all-MiniLM-L6-v2 switches to a transformer model, downloaded once\)/,
      )
    } finally {
      proc.kill('SIGTERM')
      await new Promise((r) => proc.on('exit', r))
    }
  },
  cliTimeout,
)

it(
  'says so when a server breaks off its answer, rather than exit without a word',
  async () => {
    // A peer that starts an answer and drops the connection (exit 13, no message, before).
    const peer = createServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"results')
      setTimeout(() => socket.destroy(), 50)
    })
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = peer.address() as { port: number }
      const run = await runCli(['search', 'hello', '--user', 'u', '--url', `http://127.0.0.1:${port}`])
      expect([run.code, run.stderr]).toEqual([1, expect.stringContaining(`the server at http://127.0.0.1:${port} did not finish its answer`)])
    } finally {
      peer.close()
    }
  },
  cliTimeout,
)

it('README quick start: `pnpm start` serves the embedded default with no configuration', async () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  expect(readme).toContain('npm i -g pnpm@12.21.0 && pnpm install --frozen-lockfile && pnpm start\n')
  // The README's own example, which the calls below replay.
  expect(readme).toContain(`-d '{"messages": "I moved to Lisbon in May", "user_id": "alice"}'`)
  expect(readme).toContain(`-d '{"query": "which city did alice move to?", "user_id": "alice"}'`)
  const repo = fileURLToPath(new URL('../../..', import.meta.url))
  // Own process group, so the signal reaches the server under pnpm and tsx.
  const proc = spawn('pnpm', ['start'], {
    cwd: repo,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AGENTMEM_PORT: '0', AGENTMEM_DATA: join(root, 'readme') },
  })
  try {
    const { url, stderr: banner } = await waitForBanner(proc)
    const stderr = banner()
    expect(stderr).toMatch(/API docs: +http:\/\/127\.0\.0\.1:\d+\/docs/)
    // With the server's own data folder: a key made without it went to ./.agentmem and was refused (401).
    expect(stderr).toContain(`Create one with: pnpm agentmem keys create --tenant NAME --data ${join(root, 'readme')}   (`)
    const added = await fetch(`${url}/v1/memories`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: 'I moved to Lisbon in May', user_id: 'alice' }),
    })
    expect(added.status).toBe(200)
    const found = await fetch(`${url}/v1/memories/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'which city did alice move to?', user_id: 'alice' }),
    })
    expect(((await found.json()) as { results: Array<{ memory: string }> }).results[0]?.memory).toBe('I moved to Lisbon in May')
  } finally {
    process.kill(-(proc.pid as number), 'SIGTERM')
    await new Promise((r) => proc.on('exit', r))
  }
})

it('re-embeds a store with another model; afterwards it opens only with that model', async () => {
  const data = join(root, 'reembed')
  await runCli(['add', 'I moved to Lisbon in May', '--user', 'u', '--data', data])
  await runCli(['add', 'My sister is called Ana', '--user', 'u', '--data', data])
  const model = await writeRandomBertModel({
    folder: join(root, 'tiny-bert'),
    tokenizerFrom: fileURLToPath(new URL('../../../../shared/models/all-MiniLM-L6-v2', import.meta.url)),
    shape: tinyBertShape,
    pooling: 'mean',
    maxLength: 128,
  })
  const reembedded = await runCli(['reembed', '--model-path', model, '--data', data])
  expect([reembedded.code, reembedded.stderr]).toEqual([0, expect.stringMatching(/re-embedded with/)])
  const withDefault = await runCli(['list', '--user', 'u', '--data', data])
  // In the CLI's words: the flags and the command, not the library's memory.reembed().
  expect([withDefault.code, withDefault.stderr]).toEqual([
    1,
    expect.stringMatching(
      /built with the model random-bert-2x32 and was opened with glove-100d-sif\. .*--model-path.*`agentmem reembed`.*\(MEMORY_EMBEDDER_MISMATCH\)\n$/,
    ),
  ])
  const withNew = await runCli(['list', '--user', 'u', '--data', data], { AGENTMEM_MODEL_PATH: model })
  expect(lines(withNew.stdout).map((r) => r['memory'])).toEqual(['I moved to Lisbon in May', 'My sister is called Ana'])
})

it(
  'stops quietly when its reader closes the pipe early',
  async () => {
    const data = join(root, 'pipe')
    const keys = await KeyStore.open(dataPaths(data).keys)
    for (let i = 0; i < 1000; i++) await keys.create({ tenantId: `t${i}` })
    await keys.close()
    // Each key is its own write, ~150 kB in all: more than a pipe holds, so later writes meet the pipe `head` closed.
    const { command, args } = cliCommand(['keys', 'list', '--data', data])
    const quoted = [command, ...args].map((a) => `'${a}'`).join(' ')
    const run = spawn('sh', ['-c', `${quoted} | head -c 100 > /dev/null`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    run.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const code = await new Promise((resolve) => run.on('close', resolve))
    expect(code).toBe(0)
    expect(stderr).not.toMatch(/EPIPE|Error/)
  },
  cliTimeout,
)
