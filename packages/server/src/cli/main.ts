#!/usr/bin/env node
/** @module agentmem: the command-line interface (serve, keys, add, search, list, mcp, export, import, reembed, migrate). */
import { identifier, jsonObject } from '@agentmem/memory/identifiers'
import { turnOffPretenuring, widenStoreComputePool } from '@agentmem/memory/runtime'
import { Command, InvalidArgumentError, Option } from 'commander'
import { loadConfig, type ServerConfigInput } from '../config.js'
import { flagNames } from '../errors.js'
import type { ListFlags, ScopeFlags, SearchFlags } from './output.js'
import { ServerResponseError, type ServerTarget, serverTarget } from './server-client.js'

// Before any command allocates: short-lived search objects must stay young; before any store call:
// LanceDB sizes its CPU pool once (runtime.ts).
turnOffPretenuring()
widenStoreComputePool()

// Commands import what they need when they run: `--help`, `keys` and calls over HTTP never load the store or a model.

const program = new Command('agentmem').description('Long-term memory for AI agents').showHelpAfterError()

// A reader that stops early (`agentmem list | head`) closes the pipe: stop without a stack trace,
// with the status a shell gives a process its closed pipe ended (128 + SIGPIPE), since an import
// or a key cut short this way did not finish.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error
  process.exit(141)
})

/** `--limit abc` is an error naming the flag, never NaN passed on. */
const integer = (min: number, max?: number) => (value: string) => {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > (max ?? Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError(max === undefined ? `expected an integer of at least ${min}.` : `expected an integer from ${min} to ${max}.`)
  }
  return n
}
/** A flag's JSON text, checked as every surface checks metadata and filters (`jsonObject`). */
const jsonObjectFlag = (value: string): Record<string, unknown> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new InvalidArgumentError('expected a JSON object (not valid JSON).')
  }
  if (!jsonObject.safeParse(parsed).success) throw new InvalidArgumentError('expected a JSON object.')
  return parsed as Record<string, unknown>
}
/** A scope id as every surface takes one (no control characters, never `*`), refused here under its flag's name. */
const scopeId = (value: string): string => {
  const parsed = identifier.safeParse(value)
  if (!parsed.success) throw new InvalidArgumentError(`${parsed.error.issues[0]?.message ?? 'not an id'}.`)
  return parsed.data
}
const httpUrl = (value: string): string => {
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL.')
  return value
}

const dataOption = () => new Option('--data <dir>', 'data folder (env AGENTMEM_DATA, default .agentmem)')
const metadataOption = () => new Option('--metadata-url <url>', 'keys in PostgreSQL, as the servers that share it: postgres://… (env AGENTMEM_METADATA_URL)')
const tenantOption = () => new Option('--tenant <name>', 'tenant to act as').default('default')
/** add, search, list: on the store, or over HTTP with --url or when a server runs on the data folder. */
const dataCommand = (c: Command) =>
  c
    .addOption(new Option('--user <id>', 'user id').argParser(scopeId))
    .addOption(new Option('--agent <id>', 'agent id').argParser(scopeId))
    .addOption(new Option('--run <id>', 'run id').argParser(scopeId))
    .addOption(new Option('--tenant <name>', 'tenant to act as on the local store (default: default); over HTTP the key decides'))
    .addOption(dataOption())
    .addOption(new Option('--url <url>', 'talk to this server instead of opening the store').env('AGENTMEM_URL').argParser(httpUrl))
    .addOption(new Option('--key <key>', 'API key for --url (none needed on loopback before the first key exists)').env('AGENTMEM_API_KEY'))
/** Flags override the environment, which overrides the config file. */
const config = (flags: ServerConfigInput) => loadConfig({ flags })

type DataFlags = ScopeFlags & { tenant?: string; data?: string; url?: string; key?: string }
/** An error of the engine (MemoryError, EmbeddingError), known by its name: importing the classes would load the engine for every command. */
function isEngineError(error: unknown): error is Error {
  return error instanceof Error && (error.name === 'MemoryError' || error.name === 'EmbeddingError')
}

/** Runs a data command over HTTP when there is a server to talk to, else on the store (tenant `default` unless given). */
async function route(o: DataFlags, http: (server: ServerTarget) => Promise<void>, store: (tenant: string) => Promise<void>): Promise<void> {
  const server = serverTarget(config({ data: o.data }).data, o)
  try {
    await (server ? http(server) : store(o.tenant ?? 'default'))
  } catch (error) {
    // The engine's and the server's words for what these commands take as flags (not a system error's: its text may hold a path).
    const code = (error as { code?: unknown }).code
    if ((error instanceof ServerResponseError || isEngineError(error)) && typeof code === 'string') error.message = flagNames(error.message, code)
    throw error
  }
}

program
  .command('serve')
  .description('start the HTTP server (127.0.0.1:8787 by default)')
  .addOption(dataOption())
  .option('--host <address>', 'address to listen on (env AGENTMEM_HOST)')
  .option('--port <number>', 'port (env AGENTMEM_PORT)')
  .option('--model <id>', 'embedding model, e.g. all-MiniLM-L6-v2 (downloaded once; env AGENTMEM_MODEL; default: the offline model)')
  .option('--model-path <dir>', 'a local model folder in the Hugging Face layout (env AGENTMEM_MODEL_PATH)')
  .option('--reranker <id>', 'cross-encoder for searches asking rerank, e.g. ms-marco-MiniLM-L-6-v2 (downloaded once; env AGENTMEM_RERANKER)')
  .option('--reranker-path <dir>', 'a local cross-encoder folder (env AGENTMEM_RERANKER_PATH)')
  .option('--metadata-url <url>', 'metadata in PostgreSQL: postgres://user:password@host/db (env AGENTMEM_METADATA_URL)')
  .option(
    '--vectors-url <url>',
    'memories in S3-compatible storage: s3://bucket/prefix (env AGENTMEM_VECTORS_URL; endpoint and keys from AWS_* or AGENTMEM_S3_*)',
  )
  .action(
    async (o: {
      data?: string
      host?: string
      port?: string
      model?: string
      modelPath?: string
      reranker?: string
      rerankerPath?: string
      metadataUrl?: string
      vectorsUrl?: string
    }) => {
      const { serveCommand } = await import('./serve-command.js')
      await serveCommand(config(o))
    },
  )

const keys = program.command('keys').description('API keys: each belongs to one tenant')
keys
  .command('create')
  .description('create a key; prints only the key, which is never shown again')
  .requiredOption('--tenant <name>', 'tenant the key can act on (memories stored before the first key are in tenant default)')
  .option('--name <label>', 'a label for listings')
  .option('--admin', 'may manage keys and reset tenants')
  .addOption(dataOption())
  .addOption(metadataOption())
  .action(async (o: { tenant: string; name?: string; admin?: boolean; data?: string; metadataUrl?: string }) => {
    const { keysCreate } = await import('./keys-commands.js')
    await keysCreate(config({ data: o.data, metadataUrl: o.metadataUrl }), o)
  })
keys
  .command('list')
  .description('list keys (never the keys themselves)')
  .option('--tenant <name>', 'only this tenant')
  .addOption(dataOption())
  .addOption(metadataOption())
  .action(async (o: { tenant?: string; data?: string; metadataUrl?: string }) => {
    const { keysList } = await import('./keys-commands.js')
    await keysList(config({ data: o.data, metadataUrl: o.metadataUrl }), o)
  })
keys
  .command('revoke <id>')
  .description('revoke a key by id')
  .addOption(dataOption())
  .addOption(metadataOption())
  .action(async (id: string, o: { data?: string; metadataUrl?: string }) => {
    const { keysRevoke } = await import('./keys-commands.js')
    await keysRevoke(config({ data: o.data, metadataUrl: o.metadataUrl }), id)
  })

dataCommand(program.command('add <text>').description('add a memory; prints what POST /v1/memories answers'))
  .option('--metadata <json>', 'metadata as a JSON object', jsonObjectFlag)
  .action(async (text: string, o: DataFlags & { metadata?: Record<string, unknown> }) =>
    route(
      o,
      async (server) => (await import('./http-commands.js')).addOverHttp(server, text, o),
      async (tenant) => (await import('./data-commands.js')).addCommand(config({ data: o.data }), text, { ...o, tenant }),
    ),
  )
dataCommand(program.command('search <query>').description('search a scope; one hit per line, best first'))
  .option('--top-k <n>', 'results (1-1000 on the store; a server caps it at its maxTopK, 100 by default)', integer(1, 1000), 10)
  .addOption(new Option('--mode <mode>', 'search mode').choices(['hybrid', 'vector', 'keyword']).default('hybrid'))
  .option('--filters <json>', 'Mem0-style filters as a JSON object', jsonObjectFlag)
  .action(async (query: string, o: DataFlags & SearchFlags) =>
    route(
      o,
      async (server) => (await import('./http-commands.js')).searchOverHttp(server, query, o),
      async (tenant) => (await import('./data-commands.js')).searchCommand(config({ data: o.data }), query, { ...o, tenant }),
    ),
  )
dataCommand(program.command('list').description('list a scope as JSON lines, in id order (the order they were added; imported ones keep their ids)'))
  .option('--filters <json>', 'Mem0-style filters as a JSON object', jsonObjectFlag)
  .option('--limit <n>', 'most memories to print (default: all)', integer(1))
  .action(async (o: DataFlags & ListFlags) =>
    route(
      o,
      async (server) => (await import('./http-commands.js')).listOverHttp(server, o),
      async (tenant) => (await import('./data-commands.js')).listCommand(config({ data: o.data }), { ...o, tenant }),
    ),
  )
dataCommand(
  program
    .command('mcp')
    .description(
      'serve the memory tools to an MCP client over stdio; --user/--agent/--run set the scope a tool call without one uses. On the store, or relayed to a running server (--url, or the one on the data folder)',
    ),
).action(async (o: DataFlags) => {
  const { mcpOnStore, mcpOverHttp } = await import('./mcp-command.js')
  const defaults = { user_id: o.user, agent_id: o.agent, run_id: o.run }
  await route(
    o,
    (server) => mcpOverHttp(config({ data: o.data }), server, defaults),
    (tenant) => mcpOnStore(config({ data: o.data }), tenant, defaults),
  )
})
program
  .command('export')
  .description(
    "write a tenant's memories (superseded ones included, deleted ones not) as JSON lines, without their history (`migrate` copies a whole store, history included); re-running with the same --out resumes after its last id (memories changed meanwhile below it are not revisited; a fresh --out is a snapshot; needs the store: stop the server first)",
  )
  .addOption(tenantOption())
  .addOption(dataOption())
  .option('--out <file>', 'output file (default: stdout)')
  .action(async (o: { tenant: string; data?: string; out?: string }) => {
    const { exportCommand } = await import('./data-commands.js')
    await exportCommand(config({ data: o.data }), o)
  })
program
  .command('import <file>')
  .description(
    'read JSON lines written by export, keeping ids, times and metadata (each line with an id is that memory; a line without one, or whose id another tenant holds, that repeats a stored text is that text\'s memory); an id another tenant of this store holds gets a new id, printed as {"from","to"} on stdout; history starts at the import; resumable and idempotent (ids and duplicates are skipped; needs the store: stop the server first)',
  )
  .addOption(tenantOption())
  .addOption(dataOption())
  .option('--batch <n>', 'memories per write', '500')
  .action(async (file: string, o: { tenant: string; data?: string; batch: string }) => {
    const { importCommand } = await import('./data-commands.js')
    await importCommand(config({ data: o.data }), file, o)
  })
program
  .command('reembed')
  .description('move every memory to another embedding model (needs the store: stop the server first)')
  .addOption(dataOption())
  .option('--from-model <id>', 'the model the store was built with, if not the default')
  .option('--from-model-path <dir>', 'local folder of that model')
  .option('--model <id>', 'new model id (downloaded from the Hugging Face hub)')
  .option('--model-path <dir>', 'new model from a local folder')
  .action(async (o: { data?: string; fromModel?: string; fromModelPath?: string; model?: string; modelPath?: string }) => {
    const { reembedCommand } = await import('./data-commands.js')
    await reembedCommand(config({ data: o.data, model: o.fromModel, modelPath: o.fromModelPath }), o)
  })

program
  .command('migrate')
  .description(
    'copy the store (memories, history, jobs) and its API keys to another location, e.g. a folder to PostgreSQL + S3 or back; stop every server on both first. Resumable: after a failure or Ctrl-C, run the same command again',
  )
  .addOption(dataOption())
  .option('--metadata-url <url>', 'the source store: metadata in PostgreSQL (env AGENTMEM_METADATA_URL)')
  .option('--vectors-url <url>', 'the source store: memories in S3-compatible storage (env AGENTMEM_VECTORS_URL)')
  .option('--to-data <dir>', 'target data folder (whatever the --to-*-url flags leave local; keys too unless --to-metadata-url)')
  .option('--to-metadata-url <url>', 'target metadata and keys in PostgreSQL: postgres://user:password@host/db')
  .option('--to-vectors-url <url>', 'target memories in S3-compatible storage: s3://bucket/prefix (endpoint and keys from AWS_* or AGENTMEM_S3_*)')
  .option('--batch <n>', 'rows per read and write', integer(1, 10_000), 500)
  .action(
    async (o: { data?: string; metadataUrl?: string; vectorsUrl?: string; toData?: string; toMetadataUrl?: string; toVectorsUrl?: string; batch: number }) => {
      const { migrateCommand } = await import('./migrate-command.js')
      await migrateCommand(config({ data: o.data, metadataUrl: o.metadataUrl, vectorsUrl: o.vectorsUrl }), o)
    },
  )

try {
  await program.parseAsync()
} catch (error) {
  const code = (error as { code?: unknown }).code
  const said = error instanceof Error ? error.message : String(error)
  const message = code === 'MEMORY_EMBEDDER_MISMATCH' ? (modelMismatch(error as { details?: unknown }) ?? said) : said
  process.stderr.write(`agentmem: ${typeof code === 'string' ? `${message} (${code})` : message}\n`)
  process.exitCode = 1
}

/** The engine's model mismatch in the CLI's words: the flags that open the store, and the command that moves it (the engine names `memory.reembed`). */
function modelMismatch({ details }: { details?: unknown }): string | undefined {
  const { stored, given } = (details ?? {}) as { stored?: { model: string; dimensions: number }; given?: { model: string; dimensions: number } }
  if (!stored || !given) return undefined
  // One id at two sizes (a local folder's spec changed): the sizes tell them apart.
  const name = (m: { model: string; dimensions: number }) => (stored.model === given.model ? `${m.model} (${m.dimensions} dimensions)` : m.model)
  return (
    `this store was built with the model ${name(stored)} and was opened with ${name(given)}. Open it with the model it was built with ` +
    `(--model ${stored.model}, or --model-path for a model in a local folder; or AGENTMEM_MODEL / AGENTMEM_MODEL_PATH), or move it to the new model with ` +
    '`agentmem reembed` (--from-model or --from-model-path for the old one, --model or --model-path for the new one) while no server runs on it'
  )
}
