import { html as render } from 'hono/html'
import type { HtmlEscapedString } from 'hono/utils/html'
import type { Principal } from '../../keys/key-store.js'
import { stylesheetPath } from '../styles.js'

/** A rendered fragment. */
export type Html = HtmlEscapedString

/**
 * hono's `html`: every interpolated value that is not itself a fragment is escaped (`&<>"'`), so
 * memory text and metadata can never become markup. Views have no async parts, so it is synchronous.
 */
export const html = (strings: TemplateStringsArray, ...values: unknown[]): Html => render(strings, ...values) as Html

/** Who is looking, for the header and the forms of every page. */
export interface Viewer {
  principal: Principal
  csrfToken: string
}

const sections = [
  { id: 'entities', label: 'Entities', href: '/ui/entities' },
  { id: 'memories', label: 'Memories', href: '/ui/memories' },
  { id: 'search', label: 'Search', href: '/ui/search' },
  { id: 'jobs', label: 'Jobs', href: '/ui/jobs' },
  { id: 'stats', label: 'Stats', href: '/ui/stats' },
  { id: 'keys', label: 'Keys', href: '/ui/keys', admin: true },
] as const
export type Section = (typeof sections)[number]['id']

/** The whole document around a page's content; `viewer` is absent on the sign-in page. */
export function layout(options: { title: string; section?: Section; viewer?: Viewer; notice?: string }, content: Html): Html {
  const { viewer } = options
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · AgentMem</title>
<link rel="stylesheet" href="${stylesheetPath}">
</head>
<body>
<header class="top">
  <a class="brand" href="/ui">AgentMem</a>
  ${viewer ? navigation(viewer, options.section) : ''}
</header>
<main>
${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : ''}
${content}
</main>
</body>
</html>`
}

function navigation(viewer: Viewer, current: Section | undefined): Html {
  const { principal } = viewer
  const links = sections.filter((s) => !('admin' in s) || principal.role === 'admin')
  return html`<nav>${links.map((s) => html`<a href="${s.href}"${s.id === current ? html` aria-current="page"` : ''}>${s.label}</a>`)}</nav>
  <div class="who">
    <span>tenant <strong>${principal.tenantId}</strong>${principal.role === 'admin' ? html` <span class="badge">admin</span>` : ''}</span>
    ${
      principal.keyId === null
        ? html`<span class="muted">no API keys yet: this machine only</span>`
        : html`<form method="post" action="/ui/logout">${csrfField(viewer)}<button class="link">Sign out</button></form>`
    }
  </div>`
}

/** The per-session token every state-changing form carries. */
export function csrfField(viewer: Viewer): Html {
  return html`<input type="hidden" name="_csrf" value="${viewer.csrfToken}">`
}

/** A page of its own for errors: status, the message the API would give, and the request id for the log. */
export function errorPage(options: { status: number; code: string; message: string; requestId: string; viewer?: Viewer }): Html {
  const title = options.status === 404 ? 'Not found' : options.status === 403 ? 'Forbidden' : options.status >= 500 ? 'Server error' : 'Request refused'
  return layout(
    { title, ...(options.viewer && { viewer: options.viewer }) },
    html`<h1>${title}</h1>
<div class="error" role="alert"><p>${options.message}</p><p class="muted">${options.code} · request ${options.requestId}</p></div>
<p><a href="/ui">Back to the dashboard</a></p>`,
  )
}

/** An inline error box, for forms whose input the engine refused. */
export function errorBox(message: string | undefined): Html | string {
  return message ? html`<div class="error" role="alert"><p>${message}</p></div>` : ''
}

/** `2026-11-30T01:02:03.456Z` as `2026-11-30 01:02:03`, in UTC like the API. */
export function time(iso: string | null | undefined): Html | string {
  return iso ? html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 19)}</time>` : ''
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2)
}

/** A URL with query parameters, leaving out the empty ones. */
export function href(path: string, params: Record<string, string | number | boolean | null | undefined> = {}): string {
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '' && value !== false) query.set(name, String(value))
  const text = query.toString()
  return text ? `${path}?${text}` : path
}

/** Links to a list's first page (when not on it) and its next page, with the list's own parameters. */
export function pager(
  path: string,
  params: Record<string, string | number | undefined>,
  page: { cursor?: string | undefined; next_cursor: string | null },
): Html {
  return html`<div class="pager">
  <span>${page.cursor ? html`<a href="${href(path, params)}">« first page</a>` : ''}</span>
  <span>${page.next_cursor ? html`<a rel="next" href="${href(path, { ...params, cursor: page.next_cursor })}">next page »</a>` : html`<span class="muted">end of list</span>`}</span>
</div>`
}

export function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}
