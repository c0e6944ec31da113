import type { ApiKeyInfo } from '../../keys/key-store.js'
import { csrfField, type Html, html, layout, time, type Viewer } from './layout.js'

/** Every tenant's keys (never the keys themselves), a form to create one, revoke links. Admin keys only. */
export function keysPage(viewer: Viewer, options: { keys: ApiKeyInfo[]; notice?: string }): Html {
  return layout(
    { title: 'API keys', section: 'keys', viewer, ...(options.notice && { notice: options.notice }) },
    html`<h1>API keys</h1>
<form class="card filters" method="post" action="/ui/keys">
  ${csrfField(viewer)}
  <label>tenant<input name="tenant" required maxlength="256" autocomplete="off"></label>
  <label>name<input name="name" maxlength="256" autocomplete="off" placeholder="optional"></label>
  <label>role<select name="role"><option value="tenant">tenant</option><option value="admin">admin (every tenant: keys, resets)</option></select></label>
  <div class="actions"><button>Create key</button></div>
</form>
<table>
  <thead><tr><th>id</th><th>tenant</th><th>name</th><th>role</th><th>prefix</th><th class="num">created</th><th>state</th><th></th></tr></thead>
  <tbody>
  ${options.keys.map(
    (k) => html`<tr>
    <td class="mono">${k.id}</td>
    <td class="text">${k.tenantId}</td>
    <td class="text">${k.name ?? ''}</td>
    <td>${k.role === 'admin' ? html`<span class="badge">admin</span>` : 'tenant'}</td>
    <td class="mono">${k.prefix}…</td>
    <td class="num">${time(k.createdAt)}</td>
    <td>${k.revokedAt ? html`<span class="badge danger">revoked</span> ${time(k.revokedAt)}` : html`<span class="badge ok">active</span>`}</td>
    <td class="num">${k.revokedAt ? '' : html`<a href="/ui/keys/${k.id}/revoke">Revoke…</a>`}</td>
  </tr>`,
  )}
  ${options.keys.length === 0 ? html`<tr><td colspan="8" class="muted">No keys: clients on this machine are served without one, as tenant default.</td></tr>` : ''}
  </tbody>
</table>`,
  )
}

/** The new key, once: it is stored hashed, so no page can show it again. */
export function keyCreatedPage(viewer: Viewer, options: { key: string; info: ApiKeyInfo }): Html {
  return layout(
    { title: 'Key created', section: 'keys', viewer },
    html`<h1>Key created</h1>
<div class="card">
  <p>Copy the key now: it is stored hashed and is never shown again.</p>
  <p class="secret mono" id="new-key">${options.key}</p>
  <dl class="facts">
    <dt>id</dt><dd class="mono">${options.info.id}</dd>
    <dt>tenant</dt><dd>${options.info.tenantId}</dd>
    <dt>role</dt><dd>${options.info.role}</dd>
    ${options.info.name ? html`<dt>name</dt><dd>${options.info.name}</dd>` : ''}
  </dl>
  <p><a href="/ui/keys">Back to the keys</a></p>
</div>`,
  )
}

export function confirmRevokePage(viewer: Viewer, key: ApiKeyInfo): Html {
  return layout(
    { title: 'Revoke key', section: 'keys', viewer },
    html`<h1>Revoke this key?</h1>
<div class="card">
  <dl class="facts">
    <dt>id</dt><dd class="mono">${key.id}</dd>
    <dt>tenant</dt><dd>${key.tenantId}</dd>
    <dt>name</dt><dd>${key.name ?? ''}</dd>
    <dt>prefix</dt><dd class="mono">${key.prefix}…</dd>
  </dl>
  <p>Clients using it are refused from their next request, dashboard sessions included. Revoking cannot be undone.</p>
  <form class="actions" method="post" action="/ui/keys/${key.id}/revoke">
    ${csrfField(viewer)}
    <button class="danger">Revoke</button>
    <a class="button secondary" href="/ui/keys">Cancel</a>
  </form>
</div>`,
  )
}
