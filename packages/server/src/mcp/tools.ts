import type { Memory } from '@agentmem/memory'
import { identifier, jsonObject } from '@agentmem/memory/identifiers'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import { z } from 'zod'
import { apiNames, type ErrorCode, isCodedError, logFailure, publicMessage, ServerError, ServerErrorCode, statusByCode } from '../errors.js'
import { readFilters } from '../http/filters.js'
import { memoryNotFound } from '../http/routes/memories.js'
import { messageRoles, messagesError, scopeOf, toAddResponseJson, toHistoryJson, toMemoryJson, toSearchHitJson } from '../http/schemas.js'

/** The scope a connection works in when a tool call names none (e.g. the user the agent serves). */
export interface DefaultScope {
  user_id?: string | undefined
  agent_id?: string | undefined
  run_id?: string | undefined
}

export interface McpToolsContext {
  /**
   * The store as the caller's tenant: every tool is confined to it, like every HTTP route. A
   * function is called at each tool call (`agentmem mcp` opens the store once another process
   * lets go of it); its error is the call's.
   */
  memory: Memory | (() => Promise<Memory>)
  defaults: DefaultScope
  /** The API key id, recorded as the actor of history events. */
  actor?: string | undefined
  logger: Logger
  version: string
  /** The HTTP request's id (absent over stdio): a server fault's error names it, as the log does. */
  requestId?: string | undefined
}

const scope = {
  user_id: identifier.optional().describe('The user the memories are about. Defaults to the connection’s user, if it has one.'),
  agent_id: identifier.optional().describe('The agent the memories belong to. Defaults to the connection’s agent, if it has one.'),
  run_id: identifier.optional().describe('One conversation or session. Defaults to the connection’s run, if it has one.'),
}
const filters = jsonObject
  .optional()
  .describe(
    'Mem0-style filters: {"metadata.topic": "home"}, {"created_at": {"gte": "2026-01-01"}}, operators eq ne gt gte lt lte in nin contains icontains, combined with AND / OR / NOT.',
  )
const memoryId = z.uuid().describe('A memory id, as returned by add_memory, search_memories or list_memories.')

/**
 * The memory tools an agent gets over MCP, for one connection: the same engine calls, validation
 * and JSON shapes as the native HTTP API (`/v1`), so a memory looks the same on every surface.
 */
export function createMcpServer(ctx: McpToolsContext): McpServer {
  const { defaults, actor } = ctx
  const server = new McpServer({ name: 'agentmem', version: ctx.version })
  /**
   * The call's scope ids, or the connection's where the call names none at all: in its arguments
   * or as ids in its filters, where Mem0-style agents put them (`*` names no id: the default stays).
   */
  const scopeIds = (args: DefaultScope, inFilters: object = {}) => {
    const named = Object.keys(inFilters).length > 0 || args.user_id !== undefined || args.agent_id !== undefined || args.run_id !== undefined
    return scopeOf(named ? args : defaults)
  }
  const tool = <Shape extends z.ZodRawShape>(
    name: string,
    description: string,
    inputSchema: Shape,
    annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean },
    run: (args: z.infer<z.ZodObject<Shape>>, memory: Memory, signal: AbortSignal) => Promise<unknown>,
  ) =>
    // Strict, as the HTTP API's bodies: an argument the tool does not know is an error, never ignored.
    server.registerTool(name, { description, inputSchema: z.strictObject(inputSchema), annotations }, (async (
      args: z.infer<z.ZodObject<Shape>>,
      extra: { signal: AbortSignal },
    ) => {
      try {
        const memory = typeof ctx.memory === 'function' ? await ctx.memory() : ctx.memory
        return reply(await run(args, memory, extra.signal))
      } catch (error) {
        return toolError(error, ctx, name)
      }
    }) as never)

  tool(
    'add_memory',
    'Remember something about the user: a fact, a preference, an event. Pass the text, or the conversation messages to remember. The same text twice in a scope is stored once. With infer: true (when the server has an LLM) facts are extracted from the messages and reconciled with what is already remembered.',
    {
      messages: z
        .union([z.string().min(1), z.array(z.strictObject({ role: z.enum(messageRoles), content: z.string() })).min(1)], { error: messagesError })
        .describe('The text to remember, or messages [{role, content}] to remember.'),
      ...scope,
      metadata: jsonObject.optional().describe('Any JSON object to store with the memory, usable in filters.'),
      infer: z.boolean().default(false).describe('Extract and reconcile facts with the configured LLM.'),
    },
    {},
    async (args, memory) => {
      const result = await memory.add(args.messages, {
        ...scopeIds(args),
        ...(args.metadata && { metadata: args.metadata }),
        infer: args.infer,
        actor,
      })
      return toAddResponseJson(result)
    },
  )

  tool(
    'search_memories',
    'Find what is remembered about a question, best match first. Use before answering anything that may depend on what the user said earlier.',
    {
      query: z.string().min(1).describe('What to look for, in natural language or keywords.'),
      ...scope,
      filters,
      top_k: z.number().int().min(1).max(100).default(10).describe('How many memories to return.'),
      mode: z.enum(['hybrid', 'vector', 'keyword']).default('hybrid').describe('hybrid (default) combines meaning and keywords.'),
      rerank: z
        .boolean()
        .default(false)
        .describe("Reorder the best candidates with the server's reranker model (slower, often better); only if the server has one."),
    },
    { readOnlyHint: true },
    async (args, memory, signal) => {
      const { scope: filterScope, filters: parsed } = readFilters(args.filters)
      const { results } = await memory.search(args.query, {
        signal,
        ...filterScope,
        ...scopeIds(args, filterScope),
        ...(parsed && { filters: parsed }),
        topK: args.top_k,
        mode: args.mode,
        explain: true, // for each hit's `similarity`, as over HTTP
        rerank: args.rerank,
      })
      return { results: results.map((hit) => toSearchHitJson(hit)) }
    },
  )

  tool(
    'list_memories',
    'List the memories of a scope in id order (the order they were added; imported ones keep their ids), a page at a time. Pass next_cursor back as cursor for the next page.',
    {
      ...scope,
      filters,
      limit: z.number().int().min(1).max(100).default(50),
      cursor: z.string().max(1024).optional().describe('next_cursor from the previous page.'),
      include_superseded: z.boolean().default(false).describe('Also memories that a newer fact replaced.'),
    },
    { readOnlyHint: true },
    async (args, memory) => {
      const { scope: filterScope, filters: parsed } = readFilters(args.filters)
      const page = await memory.getAll({
        ...filterScope,
        ...scopeIds(args, filterScope),
        ...(parsed && { filters: parsed }),
        limit: args.limit,
        ...(args.cursor !== undefined && { cursor: args.cursor }),
        includeSuperseded: args.include_superseded,
      })
      return { results: page.results.map(toMemoryJson), next_cursor: page.nextCursor }
    },
  )

  tool('get_memory', 'Read one memory by id.', { memory_id: memoryId }, { readOnlyHint: true }, async (args, memory) => {
    const item = await memory.get(args.memory_id)
    if (!item) throw memoryNotFound(args.memory_id)
    return toMemoryJson(item)
  })

  tool(
    'update_memory',
    'Correct a memory: new text, new metadata, or both. The previous version stays in its history.',
    { memory_id: memoryId, text: z.string().min(1).optional(), metadata: jsonObject.optional() },
    { idempotentHint: true },
    async (args, memory) => {
      if (args.text === undefined && args.metadata === undefined) throw invalid('give text, metadata or both')
      const item = await memory.update(args.memory_id, {
        ...(args.text !== undefined && { text: args.text }),
        ...(args.metadata !== undefined && { metadata: args.metadata }),
        actor,
      })
      return toMemoryJson(item)
    },
  )

  tool(
    'delete_memory',
    'Forget one memory. Its history keeps the text unless purge is true, which erases it everywhere.',
    { memory_id: memoryId, purge: z.boolean().default(false).describe('Also erase the text from the history (cannot be undone).') },
    { destructiveHint: true, idempotentHint: true },
    async (args, memory) => {
      await memory.delete(args.memory_id, { purge: args.purge, actor })
      return { deleted: true, purged: args.purge }
    },
  )

  tool(
    'delete_all_memories',
    'Forget every memory of a scope (a user, agent or run), named in the call: the connection’s default scope never applies here. Purge also erases their texts from the history.',
    {
      user_id: identifier.optional().describe('Delete every memory of this user.'),
      agent_id: identifier.optional().describe('Delete every memory of this agent.'),
      run_id: identifier.optional().describe('Delete every memory of this run.'),
      purge: z.boolean().default(false),
    },
    { destructiveHint: true, idempotentHint: true },
    async (args, memory) => {
      // Only what the call names: a bare call must not wipe the connection's default user.
      const ids = scopeOf(args)
      if (Object.keys(ids).length === 0) throw invalid('name a user_id, agent_id or run_id in the call: delete_all_memories never uses the default scope')
      return await memory.deleteAll({ ...ids, purge: args.purge, actor })
    },
  )

  tool(
    'memory_history',
    'How a memory changed over time: added, updated, superseded, deleted.',
    { memory_id: memoryId },
    { readOnlyHint: true },
    async (args, memory) => {
      const entries = await memory.history(args.memory_id)
      if (entries.length === 0) throw memoryNotFound(args.memory_id)
      return { results: entries.map(toHistoryJson) }
    },
  )

  tool('list_entities', 'The users, agents and runs that have memories, with how many each.', {}, { readOnlyHint: true }, async (_args, memory) => ({
    results: await memory.entities(),
  }))

  return server
}

function reply(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }] }
}

/**
 * A failed call as a tool result, `{ error: { code, message, details? } }` as the HTTP API answers:
 * a client error's message in API words; a feature this server lacks (501) names it; a server
 * fault's own message can carry internals, so it goes to the log, and the result names the request
 * id that finds it there. Logged as over HTTP (`logFailure`).
 */
function toolError(error: unknown, ctx: Pick<McpToolsContext, 'logger' | 'requestId'>, tool: string): CallToolResult {
  const code: ErrorCode = isCodedError(error) ? error.code : ServerErrorCode.Internal
  const status = statusByCode[code]
  logFailure(() => ctx.logger, 'mcp', error, code, { tool })
  const body =
    isCodedError(error) && status < 500
      ? { code, message: apiNames(error.message), ...(error.details && { details: error.details }) }
      : {
          code,
          message: publicMessage(code),
          ...(status === 501 && isCodedError(error) && error.details && { details: error.details }),
          ...(status !== 501 && ctx.requestId !== undefined && { request_id: ctx.requestId }),
        }
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: body }) }] }
}

function invalid(message: string): ServerError {
  return new ServerError(ServerErrorCode.ValidationFailed, message)
}
