import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Embedder } from '@agentmem/embeddings'
import { factsReply, startScriptedLlm } from '@agentmem/memory/testing'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cliCommand, runCli, startServeProcess } from './helpers/cli.js'
import { defaultEmbedder, type Json, listen, openTestApp, type TestApp } from './helpers/server.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(async () => {
  await embedder.close()
})

/** The official SDK client over Streamable HTTP, authenticated with an API key. */
async function connect(url: string, key: string | null, query = ''): Promise<Client & AsyncDisposable> {
  const client = new Client({ name: 'agentmem-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp${query}`), {
    requestInit: { headers: key === null ? {} : { authorization: `Bearer ${key}` } },
  })
  await client.connect(transport)
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.close() })
}

/** Calls a tool and parses its JSON text; `isError` results come back as `{ error }`. */
async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ isError: boolean; body: Json }> {
  const result = await client.callTool({ name, arguments: args })
  const content = result.content as Array<{ type: string; text: string }>
  return { isError: result.isError === true, body: JSON.parse(content[0]?.text as string) }
}

describe('MCP over Streamable HTTP (/mcp)', () => {
  let t: TestApp
  let server: { url: string; [Symbol.asyncDispose](): Promise<void> }
  beforeAll(async () => {
    t = await openTestApp(embedder)
    server = await listen(t.app)
  })
  afterAll(async () => {
    await server[Symbol.asyncDispose]()
    await t[Symbol.asyncDispose]()
  })

  it('lists the memory tools, each with a description and an input schema', async () => {
    await using client = await connect(server.url, t.keyA)
    const { tools } = await client.listTools()
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'add_memory',
      'delete_all_memories',
      'delete_memory',
      'get_memory',
      'list_entities',
      'list_memories',
      'memory_history',
      'search_memories',
      'update_memory',
    ])
    for (const tool of tools) {
      expect(tool.description?.length).toBeGreaterThan(20)
      expect(tool.inputSchema.type).toBe('object')
    }
    expect(tools.find((tool) => tool.name === 'search_memories')?.annotations?.readOnlyHint).toBe(true)
    // Metadata and filters are JSON objects in the schemas agents read.
    const properties = (name: string) => tools.find((tool) => tool.name === name)?.inputSchema.properties as Record<string, { type?: string }>
    expect([properties('add_memory')['metadata']?.type, properties('update_memory')['metadata']?.type, properties('search_memories')['filters']?.type]).toEqual(
      ['object', 'object', 'object'],
    )
  })

  it('keeps a "__proto__" metadata key as data, as the engine does', async () => {
    await using client = await connect(server.url, t.keyA, '?user_id=mcp-proto')
    const added = await call(client, 'add_memory', { messages: 'a proto key over MCP', metadata: JSON.parse('{"__proto__": {"x": 1}, "a": 1}') })
    const id = added.body.results[0].id as string
    expect(JSON.stringify((await call(client, 'get_memory', { memory_id: id })).body.metadata)).toBe('{"__proto__":{"x":1},"a":1}')
  })

  it('adds, searches, lists with a cursor, updates, keeps history, deletes and purges', async () => {
    await using client = await connect(server.url, t.keyA, '?user_id=mcp-alice')
    const added = await call(client, 'add_memory', { messages: 'I moved to Lisbon in May', metadata: { topic: 'home' } })
    expect(added.isError).toBe(false)
    const id = added.body.results[0].id as string
    expect(added.body.results[0]).toMatchObject({ event: 'ADD', memory: 'I moved to Lisbon in May' })
    for (const text of ['My dog is called Pepper', 'I drink green tea every morning']) await call(client, 'add_memory', { messages: text })
    await call(client, 'add_memory', { messages: [{ role: 'user', content: 'I work as a nurse' }], user_id: 'mcp-bob' })

    // The connection's default scope applies when a call names none; an explicit scope wins.
    const found = await call(client, 'search_memories', { query: 'which city did I move to', top_k: 1 })
    expect(found.body.results.map((r: Json) => r.memory)).toEqual(['I moved to Lisbon in May'])
    expect(found.body.results[0].similarity).toEqual(expect.any(Number))
    expect((await call(client, 'search_memories', { query: 'nurse', user_id: 'mcp-bob' })).body.results[0].memory).toBe('I work as a nurse')
    const filtered = await call(client, 'search_memories', { query: 'Lisbon dog tea', filters: { 'metadata.topic': 'home' } })
    expect(filtered.body.results.map((r: Json) => r.id)).toEqual([id])
    // A scope named in filters, as Mem0-style agents name it, is named too: the default gives way (it was ANDed, finding nothing).
    expect((await call(client, 'search_memories', { query: 'nurse', filters: { user_id: 'mcp-bob' } })).body.results[0]?.memory).toBe('I work as a nurse')
    expect((await call(client, 'list_memories', { filters: { AND: [{ user_id: 'mcp-bob' }] } })).body.results.map((r: Json) => r.memory)).toEqual([
      'I work as a nurse',
    ])
    // '*' names no id: the default scope stays, and the filter asks that field be present.
    const anyUser = await call(client, 'list_memories', { filters: { user_id: '*' } })
    expect(anyUser.body.results.map((r: Json) => r.memory)).not.toContain('I work as a nurse')

    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await call(client, 'list_memories', { limit: 2, ...(cursor && { cursor }) })
      seen.push(...page.body.results.map((r: Json) => r.memory))
      cursor = page.body.next_cursor ?? undefined
    } while (cursor)
    expect(seen).toEqual(['I moved to Lisbon in May', 'My dog is called Pepper', 'I drink green tea every morning'])

    expect((await call(client, 'update_memory', { memory_id: id, text: 'I moved to Porto in June' })).body.memory).toBe('I moved to Porto in June')
    expect((await call(client, 'get_memory', { memory_id: id })).body).toMatchObject({ id, memory: 'I moved to Porto in June', user_id: 'mcp-alice' })
    const history = await call(client, 'memory_history', { memory_id: id })
    expect(history.body.results.map((h: Json) => h.event)).toEqual(['ADD', 'UPDATE'])

    const entities = await call(client, 'list_entities')
    expect(entities.body.results).toEqual(expect.arrayContaining([{ type: 'user', id: 'mcp-alice', count: 3 }]))

    expect((await call(client, 'delete_memory', { memory_id: id, purge: true })).isError).toBe(false)
    expect((await call(client, 'get_memory', { memory_id: id })).body.error.code).toBe('MEMORY_NOT_FOUND')
    const afterPurge = await t.memory.withTenant('a').history(id)
    expect(afterPurge.every((entry) => entry.purged && entry.newMemory === null && entry.previousMemory === null)).toBe(true)

    // A bare call never falls back to the connection's default scope: it must name what it wipes.
    expect((await call(client, 'delete_all_memories', {})).body.error.code).toBe('REQUEST_VALIDATION_FAILED')
    expect((await call(client, 'list_memories')).body.results).toHaveLength(2)
    expect((await call(client, 'delete_all_memories', { user_id: 'mcp-alice' })).body).toEqual({ deleted: 2 })
    expect((await call(client, 'list_memories')).body.results).toEqual([])
    expect((await call(client, 'list_memories', { user_id: 'mcp-bob' })).body.results).toHaveLength(1)
  })

  it('confines every tool to the key’s tenant', async () => {
    await using a = await connect(server.url, t.keyA, '?user_id=shared')
    await using b = await connect(server.url, t.keyB, '?user_id=shared')
    const id = (await call(a, 'add_memory', { messages: 'tenant A secret: the launch code is 1234' })).body.results[0].id
    await call(b, 'add_memory', { messages: 'tenant B note: the vault is in Oslo' })

    expect((await call(b, 'search_memories', { query: 'launch code secret' })).body.results.map((r: Json) => r.memory)).toEqual([
      'tenant B note: the vault is in Oslo',
    ])
    expect((await call(b, 'list_memories')).body.results.map((r: Json) => r.memory)).toEqual(['tenant B note: the vault is in Oslo'])
    for (const [tool, args] of [
      ['get_memory', { memory_id: id }],
      ['memory_history', { memory_id: id }],
      ['update_memory', { memory_id: id, text: 'overwritten by B' }],
      ['delete_memory', { memory_id: id, purge: true }],
    ] as const) {
      const result = await call(b, tool, args)
      expect(result.isError, tool).toBe(true)
      expect(result.body.error.code, tool).toBe('MEMORY_NOT_FOUND')
    }
    expect((await call(a, 'get_memory', { memory_id: id })).body.memory).toBe('tenant A secret: the launch code is 1234')
    expect((await call(b, 'list_entities')).body.results).toEqual([{ type: 'user', id: 'shared', count: 1 }])
  })

  it('answers bad arguments with tool errors, never a crash, and refuses requests without a key', async () => {
    await using client = await connect(server.url, t.keyA)
    const cases: Array<[string, Record<string, unknown>]> = [
      ['add_memory', { messages: 'no scope anywhere' }],
      ['add_memory', { messages: [{ role: 'robot', content: 'x' }], user_id: 'u' }],
      ['search_memories', { query: '', user_id: 'u' }],
      ['search_memories', { query: 'x', user_id: 'u', top_k: 0 }],
      ['search_memories', { query: 'x', user_id: 'u', filters: { unknown_field: 1 } }],
      ['list_memories', { user_id: 'u', cursor: 'not-a-cursor' }],
      ['get_memory', { memory_id: 'not-a-uuid' }],
      ['update_memory', { memory_id: '0190a5b0-0000-7000-8000-000000000000' }],
      ['delete_all_memories', {}],
      ['add_memory', { messages: 'x', user_id: 'u', bogus: 1 }],
      ['no_such_tool', {}],
    ]
    for (const [tool, args] of cases) {
      const result = await client.callTool({ name: tool, arguments: args })
      expect(result.isError, `${tool} ${JSON.stringify(args)}`).toBe(true)
      const text = (result.content as Array<{ text: string }>)[0]?.text ?? ''
      expect(text, tool).not.toMatch(/node_modules|\/src\/|at \w+ \(/)
    }
    const scopeError = await call(client, 'add_memory', { messages: 'no scope anywhere' })
    expect(scopeError.body.error.code).toBe('MEMORY_SCOPE_REQUIRED')
    expect(scopeError.body.error.message).toMatch(/user_id/)
    // A '*' id is refused by the tool's own schema, naming the argument as HTTP does (it was the engine's MEMORY_INVALID_OPTIONS on userId).
    const star = await client.callTool({ name: 'add_memory', arguments: { messages: 'x', user_id: '*' } })
    expect([star.isError, (star.content as Array<{ text: string }>)[0]?.text]).toEqual([
      true,
      expect.stringMatching(/'\*' is the filter wildcard.* at user_id$/),
    ])
    // The server still serves after all of that.
    expect((await call(client, 'list_entities')).isError).toBe(false)

    await expect(connect(server.url, null)).rejects.toThrow(/401|UNAUTHORIZED/)
    await expect(connect(server.url, 'am_wrong_key')).rejects.toThrow(/401|UNAUTHORIZED/)
    const badScope = await fetch(`${server.url}/mcp?tenant=b`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    expect(badScope.status).toBe(400)
    // Params that do not fit the method are the client's mistake (-32602, one line naming the field), not a server fault.
    for (const [params, field] of [
      [undefined, 'params'],
      [{ name: 'search_memories', arguments: 'x' }, 'params.arguments'],
    ] as const) {
      const answer = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', ...(params && { params }) }),
      })
      expect([answer.status, await answer.json()]).toEqual([
        200,
        {
          jsonrpc: '2.0',
          id: 7,
          error: { code: -32602, message: expect.stringMatching(new RegExp(`^Invalid params for tools/call: ${field}: expected [^\\n]+$`)) },
        },
      ])
    }
    // A default scope given twice, or as the filter wildcard, is refused at connect (it used the first, or failed every call).
    for (const query of ['user_id=alice&user_id=zed', 'user_id=*']) {
      const refused = await fetch(`${server.url}/mcp?${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.keyA}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      })
      expect([query, refused.status]).toEqual([query, 400])
    }
  })

  it('answers GET and DELETE with 405: stateless, it opens no event stream and keeps no session', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${server.url}/mcp`, { method, headers: { authorization: `Bearer ${t.keyA}`, accept: 'text/event-stream' } })
      expect([method, res.status, res.headers.get('allow')]).toEqual([method, 405, 'POST'])
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED')
    }
    expect((await fetch(`${server.url}/mcp`, { method: 'HEAD', headers: { authorization: `Bearer ${t.keyA}` } })).status).toBe(405)
  })

  it('serves concurrent sessions, each in its own default scope', async () => {
    const users = Array.from({ length: 8 }, (_, i) => `concurrent-${i}`)
    await Promise.all(
      users.map(async (user) => {
        await using client = await connect(server.url, t.keyA, `?user_id=${user}`)
        await Promise.all([1, 2, 3].map((n) => call(client, 'add_memory', { messages: `${user} fact number ${n}` })))
        const listed = await call(client, 'list_memories')
        expect(listed.body.results.map((r: Json) => r.memory).sort()).toEqual([1, 2, 3].map((n) => `${user} fact number ${n}`))
      }),
    )
  })
})

/** `agentmem mcp ...` as a desktop MCP client starts it: a child process speaking JSON-RPC on stdio. */
async function connectStdio(args: string[], env: Record<string, string> = {}): Promise<Client & AsyncDisposable> {
  const client = new Client({ name: 'agentmem-test', version: '1.0.0' })
  const transport = new StdioClientTransport({
    ...cliCommand(['mcp', ...args]),
    env: { ...(process.env as Record<string, string>), AGENTMEM_LOG_LEVEL: 'warn', ...env },
    stderr: 'pipe',
  })
  await client.connect(transport)
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.close() })
}

/** `agentmem mcp` as a raw process, for lines no SDK client would send: its output so far, and its exit code. */
function spawnMcp(args: string[]) {
  const { command, args: argv } = cliCommand(['mcp', ...args])
  const proc = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AGENTMEM_LOG_LEVEL: 'warn' } })
  const seen = { stdout: '', stderr: '' }
  proc.stdout.on('data', (d: Buffer) => {
    seen.stdout += d.toString()
  })
  proc.stderr.on('data', (d: Buffer) => {
    seen.stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve))
  return { proc, output: () => ({ ...seen }), exited }
}

describe('MCP over stdio (agentmem mcp)', () => {
  let data: string
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'agentmem-mcp-'))
  })
  afterAll(async () => {
    await rm(data, { recursive: true, force: true })
  })

  it('serves the tools on the store, in the default scope it was started with', async () => {
    const store = join(data, 'store')
    {
      await using client = await connectStdio(['--data', store, '--user', 'alice'])
      expect((await client.listTools()).tools).toHaveLength(9)
      const id = (await call(client, 'add_memory', { messages: 'I am allergic to peanuts' })).body.results[0].id
      await call(client, 'add_memory', { messages: 'Noted!' })
      expect((await call(client, 'search_memories', { query: 'peanuts allergy', top_k: 1 })).body.results[0].id).toBe(id)
      expect((await call(client, 'update_memory', { memory_id: id, text: 'I am allergic to peanuts and cashews' })).isError).toBe(false)
      expect((await call(client, 'memory_history', { memory_id: id })).body.results.map((h: Json) => h.event)).toEqual(['ADD', 'UPDATE'])
      // Arguments that fail a tool's schema are the SDK's own tool error (-32602), naming the field.
      const bad = await client.callTool({ name: 'search_memories', arguments: { query: 'x', top_k: 'ten' } })
      expect(bad.isError).toBe(true)
      expect((bad.content as Array<{ text: string }>)[0]?.text).toMatch(/top_k/)
      expect((await call(client, 'delete_memory', { memory_id: id, purge: true })).isError).toBe(false)
      expect((await call(client, 'list_memories')).body.results.map((r: Json) => r.memory)).toEqual(['Noted!'])
    }
    // The client closed stdin: the process released the store, so the CLI can open it again.
    const listed = await runCli(['list', '--data', store, '--user', 'alice'])
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain('Noted!')
  })

  it('opens the store with the configured settings: infer uses the configured LLM', async () => {
    await using llm = Object.assign(await startScriptedLlm(), { [Symbol.asyncDispose]: () => llm.close() })
    llm.enqueue(factsReply('Allergic to peanuts'))
    await using client = await connectStdio(['--data', join(data, 'infer'), '--user', 'alice'], {
      AGENTMEM_LLM_BASE_URL: llm.baseUrl,
      AGENTMEM_LLM_MODEL: 'scripted',
      AGENTMEM_LLM_MAX_RETRIES: '0',
    })
    const added = await call(client, 'add_memory', { messages: 'Oh, and I am allergic to peanuts', infer: true })
    expect(added.isError).toBe(false)
    expect(added.body.results).toEqual([expect.objectContaining({ memory: 'Allergic to peanuts', event: 'ADD' })])
    expect(llm.calls).toHaveLength(1)
  })

  it('answers the calls in flight when the client closes stdin, before it releases the store, and lines that are no JSON-RPC with an error', async () => {
    const store = join(data, 'closing')
    const { proc, output, exited } = spawnMcp(['--data', store, '--user', 'alice'])
    const send = (message: Json) => proc.stdin.write(`${JSON.stringify(message)}\n`)
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })
    send({ jsonrpc: '2.0', method: 'notifications/initialized' })
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add_memory', arguments: { messages: 'sent just before the client left' } } })
    // Lines no client should send are answered (with id null), not met with silence.
    proc.stdin.write('not json at all\n')
    send({ hello: 'world' })
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'list_entities', arguments: [] } })
    // Closed at once: the add has not run yet (the model and the store are still opening).
    proc.stdin.end()
    expect(await exited).toBe(0)
    const { stdout, stderr } = output()
    const answers = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Json)
    expect(answers.find((a) => a.id === 2)?.result?.content?.[0]?.text, `${stdout}\n${stderr}`).toContain('"event":"ADD"')
    expect(answers.filter((a) => a.id === null).map((a) => a.error.code)).toEqual([-32700, -32600])
    expect(answers.find((a) => a.id === 3)?.error).toEqual({
      code: -32602,
      message: 'Invalid params for tools/call: params.arguments: expected record, received array',
    })
    const listed = await runCli(['list', '--data', store, '--user', 'alice'])
    expect(listed.stdout).toContain('sent just before the client left')
  })

  it('answers a line over the stdio limit (10 MiB), says why it closes, and exits 1', async () => {
    const { proc, output, exited } = spawnMcp(['--data', join(data, 'large'), '--user', 'alice'])
    // The server stops reading once past the limit: the rest of the write meets a closed pipe.
    proc.stdin.on('error', () => {})
    const huge = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add_memory', arguments: { messages: 'x'.repeat(11 * 2 ** 20) } } }
    proc.stdin.write(`${JSON.stringify(huge)}\n`)
    proc.stdin.end()
    expect(await exited).toBe(1)
    const { stdout, stderr } = output()
    expect(JSON.parse(stdout.trim())).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('over 10 MiB') } })
    expect(stderr).toContain("agentmem: Invalid Request: a message over 10 MiB, the stdio transport's limit")
  })

  it('attaches a second client to a store another process holds: its calls say so, and run once the store is free', async () => {
    const store = join(data, 'shared')
    const first = await connectStdio(['--data', store, '--user', 'alice'])
    expect((await call(first, 'add_memory', { messages: 'I live in Lisbon' })).isError).toBe(false)
    await using second = await connectStdio(['--data', store, '--user', 'alice'])
    expect((await second.listTools()).tools).toHaveLength(9)
    const refused = await call(second, 'search_memories', { query: 'where do I live' })
    expect(refused.isError).toBe(true)
    expect(refused.body.error).toMatchObject({ code: 'MEMORY_LOCKED', message: expect.stringContaining(`agentmem serve --data ${store}`) })
    await first.close()
    expect((await call(second, 'search_memories', { query: 'where do I live' })).body.results.map((r: Json) => r.memory)).toEqual(['I live in Lisbon'])
  })

  it('relays to a running server with --url and a key, confined to the key’s tenant', async () => {
    const store = join(data, 'served')
    const keyOf = async (tenant: string) => (await runCli(['keys', 'create', '--tenant', tenant, '--data', store])).stdout.trim()
    const keyA = await keyOf('a')
    const keyB = await keyOf('b')
    const { proc, url } = await startServeProcess(['--data', store])
    try {
      {
        await using a = await connectStdio(['--url', url, '--key', keyA, '--user', 'shared'])
        expect((await call(a, 'add_memory', { messages: 'tenant A: the launch code is 1234' })).isError).toBe(false)
        expect((await call(a, 'search_memories', { query: 'launch code' })).body.results[0].memory).toBe('tenant A: the launch code is 1234')
      }
      {
        await using b = await connectStdio(['--url', url, '--key', keyB, '--user', 'shared'])
        expect((await call(b, 'search_memories', { query: 'launch code' })).body.results).toEqual([])
      }
      // Refused by the server: its code and message, with the flag that gives a key.
      await expect(connectStdio(['--url', url, '--key', 'am_wrong', '--user', 'shared'])).rejects.toThrow(
        /UNAUTHORIZED: The API key is invalid or revoked \(pass --key or set AGENTMEM_API_KEY\)/,
      )
      // The server gone: a tool call is a tool error saying so and what to do, not a JSON-RPC failure.
      await using c = await connectStdio(['--url', url, '--key', keyA, '--user', 'shared'])
      proc.kill('SIGTERM')
      await new Promise((resolve) => proc.once('exit', resolve))
      const gone = await call(c, 'list_entities')
      expect([gone.isError, gone.body.error.code, gone.body.error.message]).toEqual([true, 'SERVER_UNREACHABLE', expect.stringContaining('does not answer')])
    } finally {
      proc.kill('SIGTERM')
    }
  })
})
