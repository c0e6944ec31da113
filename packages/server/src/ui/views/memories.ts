import type { z } from '@hono/zod-openapi'
import type { historyItem, memoryItem } from '../../http/schemas.js'
import { csrfField, errorBox, type Html, href, html, json, layout, pager, shorten, time, type Viewer } from './layout.js'

export type MemoryJson = z.infer<typeof memoryItem>
export type HistoryJson = z.infer<typeof historyItem>

/** The list page's inputs as the user typed them, to fill the form back in. */
export interface ListInput {
  user_id?: string | undefined
  agent_id?: string | undefined
  run_id?: string | undefined
  filters?: string | undefined
  include_superseded?: string | undefined
  limit?: number | string | undefined
  cursor?: string | undefined
}

/** A scope's memories in creation order, a page at a time, with the API's filters. */
export function memoriesPage(
  viewer: Viewer,
  options: { input: ListInput; page?: { results: MemoryJson[]; next_cursor: string | null }; error?: string; notice?: string },
): Html {
  const { input, page } = options
  const base = {
    user_id: input.user_id,
    agent_id: input.agent_id,
    run_id: input.run_id,
    filters: input.filters,
    include_superseded: input.include_superseded,
    limit: input.limit,
  }
  return layout(
    { title: 'Memories', section: 'memories', viewer, ...(options.notice && { notice: options.notice }) },
    html`<h1>Memories</h1>
<form class="card filters" method="get" action="/ui/memories">
  ${scopeInputs(input)}
  <label>per page<select name="limit">${[20, 50, 100, 500].map((n) => html`<option value="${n}"${n === (Number(input.limit) || 100) ? html` selected` : ''}>${n}</option>`)}</select>
  </label>
  <label class="wide">filters (JSON, as in the API)<textarea class="code" name="filters" rows="2" placeholder='{"metadata.topic": "home"}'>
${input.filters ?? ''}</textarea>
  </label>
  <div class="wide actions">
    <label class="check"><input type="checkbox" name="include_superseded" value="true"${input.include_superseded === 'true' ? html` checked` : ''}> include superseded</label>
    <button>List</button>
  </div>
</form>
${errorBox(options.error)}
${page ? memoryTable(page.results) : options.error ? '' : html`<p class="muted">Choose a user, agent or run (or pick one on <a href="/ui/entities">Entities</a>).</p>`}
${page ? pager('/ui/memories', base, { cursor: input.cursor, next_cursor: page.next_cursor }) : ''}`,
  )
}

export function scopeInputs(input: { user_id?: string | undefined; agent_id?: string | undefined; run_id?: string | undefined }): Html {
  return html`<label>user id<input name="user_id" value="${input.user_id ?? ''}" autocomplete="off"></label>
  <label>agent id<input name="agent_id" value="${input.agent_id ?? ''}" autocomplete="off"></label>
  <label>run id<input name="run_id" value="${input.run_id ?? ''}" autocomplete="off"></label>`
}

function memoryTable(results: MemoryJson[]): Html {
  if (results.length === 0) return html`<p class="card muted">No memories match.</p>`
  return html`<table>
  <thead><tr><th>memory</th><th>scope</th><th>metadata</th><th class="num">created</th></tr></thead>
  <tbody>
  ${results.map(
    (m) => html`<tr>
    <td class="text"><a href="/ui/memories/${m.id}">${shorten(m.memory, 240)}</a>${m.valid_to ? html` <span class="badge warn">superseded</span>` : ''}</td>
    <td>${scopeLabel(m)}</td>
    <td><code class="text">${Object.keys(m.metadata).length ? shorten(JSON.stringify(m.metadata), 120) : ''}</code></td>
    <td class="num">${time(m.created_at)}</td>
  </tr>`,
  )}
  </tbody>
</table>`
}

export function scopeLabel(m: { user_id: string | null; agent_id: string | null; run_id: string | null }): Html {
  const parts = [
    m.user_id !== null && html`user <a href="${href('/ui/memories', { user_id: m.user_id })}">${m.user_id}</a>`,
    m.agent_id !== null && html`agent <a href="${href('/ui/memories', { agent_id: m.agent_id })}">${m.agent_id}</a>`,
    m.run_id !== null && html`run <a href="${href('/ui/memories', { run_id: m.run_id })}">${m.run_id}</a>`,
  ].filter((part) => part !== false)
  return html`<span class="text">${parts.map((part, i) => html`${i > 0 ? ' · ' : ''}${part}`)}</span>`
}

/**
 * One memory: text, scope, metadata, the edit form, delete and purge, and its history. A deleted
 * memory (`memory` null) still shows its history, and can still be purged. Each <textarea> opens
 * with a line break because HTML drops one there: a text starting with a newline keeps it.
 */
export function memoryPage(viewer: Viewer, options: { id: string; memory: MemoryJson | null; history: HistoryJson[]; notice?: string }): Html {
  const { memory, history, id } = options
  const purged = history.some((e) => e.purged)
  const job = memory?.metadata['inference_job']
  return layout(
    { title: 'Memory', section: 'memories', viewer, ...(options.notice && { notice: options.notice }) },
    html`<h1>Memory ${memory === null ? html`<span class="badge danger">${purged ? 'purged' : 'deleted'}</span>` : memory.valid_to ? html`<span class="badge warn">superseded</span>` : ''}</h1>
${
  memory
    ? html`<div class="card">
  <p class="memory-text">${memory.memory}</p>
  <dl class="facts">
    <dt>id</dt><dd class="mono">${memory.id}</dd>
    <dt>scope</dt><dd>${scopeLabel(memory)}</dd>
    ${memory.role ? html`<dt>role</dt><dd>${memory.role}</dd>` : ''}
    <dt>created</dt><dd>${time(memory.created_at)}</dd>
    <dt>updated</dt><dd>${time(memory.updated_at)}</dd>
    ${memory.valid_to ? html`<dt>superseded</dt><dd>${time(memory.valid_to)}</dd>` : ''}
    ${typeof job === 'string' ? html`<dt>inference job</dt><dd><a class="mono" href="${href('/ui/jobs', { id: job })}">${job}</a></dd>` : ''}
    <dt>metadata</dt><dd><pre>${json(memory.metadata)}</pre></dd>
  </dl>
</div>
<h2>Edit</h2>
<form class="card stack" method="post" action="/ui/memories/${memory.id}">
  ${csrfField(viewer)}
  <label>text<textarea name="text" rows="3">
${memory.memory}</textarea></label>
  <label>metadata (JSON object)<textarea class="code" name="metadata" rows="4">
${json(memory.metadata)}</textarea></label>
  <div class="actions">
    <button>Save</button>
    <a class="button secondary" href="/ui/memories/${memory.id}/delete">Delete…</a>
    <a class="button danger" href="/ui/memories/${memory.id}/delete?purge=true">Purge…</a>
  </div>
</form>`
    : html`<div class="card"><p class="mono">${id}</p><p>${
        purged
          ? 'This memory was deleted and purged: its texts are erased from history and disk.'
          : 'This memory was deleted. Its texts are still in history until it is purged.'
      }</p>${purged ? '' : html`<a class="button danger" href="/ui/memories/${id}/delete?purge=true">Purge…</a>`}</div>`
}
<h2>History</h2>
${historyTable(history)}`,
  )
}

function historyTable(history: HistoryJson[]): Html {
  return html`<table>
  <thead><tr><th>event</th><th class="num">when</th><th>previous text</th><th>new text</th><th>actor</th></tr></thead>
  <tbody>
  ${history.map(
    (e) => html`<tr>
    <td><span class="badge${e.event === 'DELETE' ? ' danger' : e.event === 'SUPERSEDE' ? ' warn' : ''}">${e.event}</span>${e.purged ? html` <span class="badge danger">purged</span>` : ''}</td>
    <td class="num">${time(e.created_at)}</td>
    <td class="text">${e.previous_memory ?? ''}</td>
    <td class="text">${e.new_memory ?? ''}</td>
    <td class="mono">${e.actor ?? ''}</td>
  </tr>`,
  )}
  </tbody>
</table>`
}

/** The confirmation step before a delete or a purge: a GET that changes nothing, then a POST. */
export function confirmDeletePage(viewer: Viewer, options: { id: string; text: string | null; purge: boolean }): Html {
  const { id, purge } = options
  return layout(
    { title: purge ? 'Purge memory' : 'Delete memory', section: 'memories', viewer },
    html`<h1>${purge ? 'Purge this memory?' : 'Delete this memory?'}</h1>
<div class="card">
  ${options.text !== null ? html`<p class="memory-text">${options.text}</p>` : ''}
  <p class="mono muted">${id}</p>
  <p>${
    purge
      ? 'Purging deletes the memory and erases its texts from history and from disk. This cannot be undone.'
      : 'Deleting removes the memory from lists and searches. Its history keeps the texts until it is purged.'
  }</p>
  <form class="actions" method="post" action="/ui/memories/${id}/delete">
    ${csrfField(viewer)}
    <input type="hidden" name="purge" value="${purge ? 'true' : 'false'}">
    <button class="danger">${purge ? 'Purge' : 'Delete'}</button>
    <a class="button secondary" href="/ui/memories/${id}">Cancel</a>
  </form>
</div>`,
  )
}
