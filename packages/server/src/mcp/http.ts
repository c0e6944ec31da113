import { identifier } from '@agentmem/memory/identifiers'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { Logger } from 'pino'
import { z } from 'zod'
import { validationFailed } from '../errors.js'
import type { AppEnv } from '../http/context.js'
import { serverVersion } from '../version.js'
import { answerInvalidParams } from './protocol-errors.js'
import { createMcpServer } from './tools.js'

/** `/mcp?user_id=alice`: the scope a connection's tool calls default to, checked as the engine checks ids (no `*`). */
const defaultScopeQuery = z.strictObject({ user_id: identifier.optional(), agent_id: identifier.optional(), run_id: identifier.optional() })

/**
 * MCP over Streamable HTTP at /mcp, behind the same API-key auth as every route: the key's tenant
 * confines every tool. Stateless (no session ids): each POST gets its own server and transport,
 * so any replica can answer any request and nothing is kept between calls.
 */
export function registerMcpRoute(app: OpenAPIHono<AppEnv>, logger: Logger): void {
  // Other methods are 405 (app.ts): nothing to open or end between stateless calls.
  app.post('/mcp', async (c) => {
    const query = defaultScopeQuery.safeParse(c.req.query())
    if (!query.success) throw validationFailed(query.error.issues, 'query')
    const server = createMcpServer({
      memory: c.get('memory'),
      defaults: query.data,
      actor: c.get('principal').keyId ?? undefined,
      logger: logger.child({ requestId: c.get('requestId') }),
      requestId: c.get('requestId'),
      version: serverVersion,
    })
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true })
    await server.connect(transport)
    answerInvalidParams(transport)
    try {
      return await transport.handleRequest(c.req.raw)
    } finally {
      await server.close()
    }
  })
}
