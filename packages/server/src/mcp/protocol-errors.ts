import { STDIO_DEFAULT_MAX_BUFFER_SIZE } from '@modelcontextprotocol/sdk/shared/stdio.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { ClientRequestSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'

/** The methods agentmem's MCP server answers; any other is the SDK's -32601 Method not found, whatever its params. */
const answered = new Set(['initialize', 'ping', 'tools/list', 'tools/call'])
/** The SDK's schema of each request a client may send that the server answers, by method. */
const requestSchemas = new Map<string, (typeof ClientRequestSchema.options)[number]>(
  ClientRequestSchema.options.filter((schema) => answered.has(schema.shape.method.value)).map((schema) => [schema.shape.method.value, schema]),
)

/**
 * Answers a request whose params do not fit its method (`tools/call` without params, or with
 * `arguments` that is no object) with -32602 Invalid params, naming each field in one line. The
 * SDK's protocol layer answered -32603 Internal error carrying zod's issue list as pretty-printed
 * JSON: a server fault, to the client, for its own mistake. Other messages pass on unchanged.
 */
export function answerInvalidParams(transport: Transport): void {
  const receive = transport.onmessage
  transport.onmessage = (message, extra) => {
    if ('method' in message && 'id' in message) {
      const checked = requestSchemas.get(message.method)?.safeParse(message)
      if (checked?.success === false) {
        const fields = checked.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message.replace(/^Invalid input: /, '')}`)
        void transport.send({ jsonrpc: '2.0', id: message.id, error: { code: -32602, message: `Invalid params for ${message.method}: ${fields.join('; ')}` } })
        return
      }
    }
    receive?.(message, extra)
  }
}

/**
 * Answers a line that is not JSON (-32700) or not a JSON-RPC message (-32600), as JSON-RPC asks
 * and the /mcp route does: the SDK's stdio transport only reports it to `onerror`, so the client
 * waited for an answer that never came. So is a line over the stdio transport's limit (10 MiB),
 * after which the SDK closes the transport: `onTooLarge` hears it, to say so and fail the process
 * rather than end as if the client had left. Other errors go on to what was set before.
 */
export function answerUnreadable(transport: Transport, onTooLarge?: (message: string) => void): void {
  const reported = transport.onerror
  transport.onerror = (error) => {
    const tooLarge = error.message.startsWith('ReadBuffer exceeded maximum size')
    const code = error instanceof SyntaxError ? -32700 : error.name === 'ZodError' || tooLarge ? -32600 : undefined
    if (code === undefined) return reported?.(error)
    const message = tooLarge
      ? `Invalid Request: a message over ${STDIO_DEFAULT_MAX_BUFFER_SIZE / 2 ** 20} MiB, the stdio transport's limit; the connection closes`
      : code === -32700
        ? 'Parse error: a line that is not JSON'
        : 'Invalid Request: not a JSON-RPC 2.0 message'
    if (tooLarge) onTooLarge?.(message)
    // No id can be read from such a line: JSON-RPC answers it with id null, which the SDK's types do not allow.
    void transport.send({ jsonrpc: '2.0', id: null, error: { code, message } } as unknown as JSONRPCMessage)
  }
}
