#!/usr/bin/env node
/** @module agentmem: the command-line interface (serve, keys, add, search, list, export, import, reembed). */
import { Command, Option } from 'commander'
import { loadConfig, type ServerConfigInput } from '../config.js'
import { isCodedError } from '../errors.js'
import { addCommand, exportCommand, importCommand, listCommand, reembedCommand, searchCommand } from './data-commands.js'
import { keysCreate, keysList, keysRevoke } from './keys-commands.js'
import { serveCommand } from './serve-command.js'

const program = new Command('agentmem').description('Long-term memory for AI agents').showHelpAfterError()

const dataOption = () => new Option('--data <dir>', 'data folder (env AGENTMEM_DATA, default .agentmem)')
const tenantOption = () => new Option('--tenant <name>', 'tenant to act as').default('default')
const scopeOptions = (c: Command) =>
  c.option('--user <id>', 'user id').option('--agent <id>', 'agent id').option('--run <id>', 'run id').addOption(tenantOption()).addOption(dataOption())
/** Flags override the environment, which overrides the config file. */
const config = (flags: ServerConfigInput) => loadConfig({ flags })

program
  .command('serve')
  .description('start the HTTP server (127.0.0.1:8787 by default)')
  .addOption(dataOption())
  .option('--host <address>', 'address to listen on (env AGENTMEM_HOST)')
  .option('--port <number>', 'port (env AGENTMEM_PORT)')
  .action(async (o: { data?: string; host?: string; port?: string }) => serveCommand(config({ data: o.data, host: o.host, port: o.port })))

const keys = program.command('keys').description('API keys: each belongs to one tenant')
keys
  .command('create')
  .description('create a key; prints only the key, which is never shown again')
  .requiredOption('--tenant <name>', 'tenant the key can act on')
  .option('--name <label>', 'a label for listings')
  .option('--admin', 'may manage keys and reset tenants')
  .addOption(dataOption())
  .action(async (o: { tenant: string; name?: string; admin?: boolean; data?: string }) => keysCreate(config({ data: o.data }), o))
keys
  .command('list')
  .description('list keys (never the keys themselves)')
  .option('--tenant <name>', 'only this tenant')
  .addOption(dataOption())
  .action(async (o: { tenant?: string; data?: string }) => keysList(config({ data: o.data }), o))
keys
  .command('revoke <id>')
  .description('revoke a key by id')
  .addOption(dataOption())
  .action(async (id: string, o: { data?: string }) => keysRevoke(config({ data: o.data }), id))

scopeOptions(program.command('add <text>').description('add a memory'))
  .option('--metadata <json>', 'metadata as a JSON object')
  .action(async (text: string, o) => addCommand(config({ data: o.data }), text, o))
scopeOptions(program.command('search <query>').description('search a scope'))
  .option('--top-k <n>', 'results', '10')
  .option('--mode <mode>', 'hybrid, vector or keyword', 'hybrid')
  .option('--filters <json>', 'Mem0-style filters as JSON')
  .action(async (query: string, o) => searchCommand(config({ data: o.data }), query, o))
scopeOptions(program.command('list').description('list a scope as JSON lines, oldest first'))
  .option('--filters <json>', 'Mem0-style filters as JSON')
  .option('--limit <n>', 'most memories to print (default: all)')
  .action(async (o) => listCommand(config({ data: o.data }), o))
program
  .command('export')
  .description("write a tenant's memories as JSON lines; re-running with the same --out resumes")
  .addOption(tenantOption())
  .addOption(dataOption())
  .option('--out <file>', 'output file (default: stdout)')
  .action(async (o: { tenant: string; data?: string; out?: string }) => exportCommand(config({ data: o.data }), o))
program
  .command('import <file>')
  .description(
    'read JSON lines written by export, keeping ids, times and metadata; an id another tenant of this store holds gets a new id, printed as {"from","to"} on stdout; resumable and idempotent (ids and duplicates are skipped)',
  )
  .addOption(tenantOption())
  .addOption(dataOption())
  .option('--batch <n>', 'memories per write', '500')
  .action(async (file: string, o: { tenant: string; data?: string; batch: string }) => importCommand(config({ data: o.data }), file, o))
program
  .command('reembed')
  .description('move every memory to another embedding model')
  .addOption(dataOption())
  .option('--from-model <id>', 'the model the store was built with, if not the default')
  .option('--from-model-path <dir>', 'local folder of that model')
  .option('--model <id>', 'new model id (downloaded from the Hugging Face hub)')
  .option('--model-path <dir>', 'new model from a local folder')
  .action(async (o: { data?: string; fromModel?: string; fromModelPath?: string; model?: string; modelPath?: string }) =>
    reembedCommand(config({ data: o.data, model: o.fromModel, modelPath: o.fromModelPath }), o),
  )

try {
  await program.parseAsync()
} catch (error) {
  process.stderr.write(`agentmem: ${isCodedError(error) ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
}
