import { type ListFlags, print, printPages, type ScopeFlags, type SearchFlags } from './output.js'
import { callServer, type ServerTarget } from './server-client.js'

/** The scope in the HTTP API's names. */
const scopeJson = (o: ScopeFlags) => ({
  ...(o.user !== undefined && { user_id: o.user }),
  ...(o.agent !== undefined && { agent_id: o.agent }),
  ...(o.run !== undefined && { run_id: o.run }),
})

/** `agentmem add` against a server: prints what `POST /v1/memories` answers. */
export async function addOverHttp(server: ServerTarget, text: string, o: ScopeFlags & { metadata?: Record<string, unknown> }): Promise<void> {
  print(
    await callServer(server, { method: 'POST', path: '/v1/memories', body: { messages: text, ...scopeJson(o), ...(o.metadata && { metadata: o.metadata }) } }),
  )
}

/** `agentmem search` against a server: the hits of `POST /v1/memories/search`, one per line. */
export async function searchOverHttp(server: ServerTarget, query: string, o: ScopeFlags & SearchFlags): Promise<void> {
  const body = { query, ...scopeJson(o), top_k: o.topK, mode: o.mode, ...(o.filters && { filters: o.filters }) }
  const { results } = await callServer<{ results: unknown[] }>(server, { method: 'POST', path: '/v1/memories/search', body })
  for (const hit of results) print(hit)
}

/** `agentmem list` against a server: walks `GET /v1/memories` with its cursor. */
export async function listOverHttp(server: ServerTarget, o: ScopeFlags & ListFlags): Promise<void> {
  await printPages(o.limit, async (size, cursor) => {
    const query = new URLSearchParams({
      ...scopeJson(o),
      limit: String(size),
      ...(o.filters && { filters: JSON.stringify(o.filters) }),
      ...(cursor !== undefined && { cursor }),
    })
    const page = await callServer<{ results: unknown[]; next_cursor: string | null }>(server, { method: 'GET', path: `/v1/memories?${query}` })
    return { results: page.results, next: page.next_cursor }
  })
}
