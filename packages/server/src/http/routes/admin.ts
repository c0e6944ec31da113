import { tenantIdSchema } from '@agentmem/memory/identifiers'
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import { ServerError, ServerErrorCode } from '../../errors.js'
import { type KeyStore, toKeyJson } from '../../keys/key-store.js'
import type { AppEnv } from '../context.js'
import { errorBody, noQuery } from '../schemas.js'

/** A tenant as the engine takes one (no control characters, never `*`): a refusal names the API's field. */
const tenant = tenantIdSchema
const keyInfo = z
  .object({
    id: z.string(),
    tenant: z.string(),
    name: z.string().nullable(),
    role: z.enum(['tenant', 'admin']),
    prefix: z.string(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
  })
  .openapi('ApiKey')
const security = [{ bearer: [] }]
const errors = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: errorBody } } },
  401: { description: 'Missing or invalid key', content: { 'application/json': { schema: errorBody } } },
  403: { description: 'Not an admin key', content: { 'application/json': { schema: errorBody } } },
}

/** Tenant management for admin keys: API keys of any tenant, and resetting a tenant. */
export function registerAdminRoutes(app: OpenAPIHono<AppEnv>, keys: KeyStore): void {
  app.use('/v1/admin/*', async (c, next) => {
    if (c.get('principal').role !== 'admin') throw new ServerError(ServerErrorCode.Forbidden, 'This route needs an admin key')
    await next()
  })

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/keys',
      summary: 'List API keys (never the keys themselves)',
      security,
      request: { query: z.strictObject({ tenant: tenant.optional() }) },
      responses: { 200: { description: 'Keys', content: { 'application/json': { schema: z.object({ results: z.array(keyInfo) }) } } }, ...errors },
    }),
    async (c) => {
      const { tenant: tenantId } = c.req.valid('query')
      const list = await keys.list(tenantId === undefined ? {} : { tenantId })
      return c.json({ results: list.map(toKeyJson) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/keys',
      summary: 'Create an API key for a tenant; the key is in this response only',
      security,
      request: {
        query: noQuery,
        body: {
          content: {
            'application/json': {
              schema: z.strictObject({ tenant, name: z.string().max(256).optional(), role: z.enum(['tenant', 'admin']).default('tenant') }),
            },
          },
          required: true,
        },
      },
      responses: { 200: { description: 'The new key', content: { 'application/json': { schema: keyInfo.extend({ key: z.string() }) } } }, ...errors },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const { key, info } = await keys.create({ tenantId: body.tenant, role: body.role, ...(body.name !== undefined && { name: body.name }) })
      return c.json({ ...toKeyJson(info), key }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/keys/{id}',
      summary: 'Revoke an API key',
      security,
      request: { params: z.object({ id: z.string().min(1).max(64) }), query: noQuery },
      responses: {
        200: { description: 'Revoked', content: { 'application/json': { schema: z.object({ revoked: z.literal(true) }) } } },
        404: { description: 'No such active key', content: { 'application/json': { schema: errorBody } } },
        ...errors,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param')
      if (!(await keys.revoke(id))) throw new ServerError(ServerErrorCode.RouteNotFound, `No active key ${id}`, { details: { id } })
      return c.json({ revoked: true as const }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/tenants/{tenant}/reset',
      summary:
        'Erase every memory of a tenant and its history (other tenants are untouched); `deleted` counts the memories erased (0 for a tenant that has none, such as a mistyped one; null only when a replica of an earlier version did it)',
      security,
      request: { params: z.object({ tenant }), query: noQuery },
      responses: {
        200: { description: 'Reset', content: { 'application/json': { schema: z.object({ reset: z.literal(true), deleted: z.number().int().nullable() }) } } },
        ...errors,
      },
    }),
    async (c) => {
      const { deleted } = await c.get('memory').withTenant(c.req.valid('param').tenant).reset()
      return c.json({ reset: true as const, deleted }, 200)
    },
  )
}
