import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { getAbsoluteFSPath } from 'swagger-ui-dist'
import { serverVersion } from '../../version.js'
import type { AppEnv } from '../context.js'

const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
}

const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>AgentMem API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' })</script>
</body>
</html>`

/** /openapi.json from the same zod schemas that validate requests, and /docs with assets served from here (works offline). */
export function registerDocsRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An AgentMem API key' })
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'AgentMem API',
      version: serverVersion,
      description:
        'Long-term memory for AI agents. Every call is confined to the tenant of its API key. Mem0 MemoryClient routes (/v1/ping/, /v3/memories/...) are served too; see docs/http-api.md.',
    },
  })
  app.get('/docs', (c) => c.html(page))
  app.get('/docs/:asset', async (c) => {
    const name = c.req.param('asset')
    const type = assets[name]
    if (!type) return c.notFound()
    return c.body(await readFile(join(getAbsoluteFSPath(), name), 'utf8'), 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' })
  })
}
