import { errorBox, type Html, html, layout } from './layout.js'

/** Sign-in with an API key. Without any key on the server, this machine needs none. */
export function loginPage(options: { error?: string; noKeys: boolean }): Html {
  return layout(
    { title: 'Sign in' },
    html`<div class="login">
<h1>Sign in</h1>
${errorBox(options.error)}
${
  options.noKeys
    ? html`<div class="card"><p>No API keys exist yet: on this machine the dashboard opens without one, as tenant <strong>default</strong>.</p><p><a class="button" href="/ui">Open the dashboard</a></p></div>`
    : ''
}
<form class="card stack" method="post" action="/ui/login">
  <label>API key<input type="password" name="key" required autocomplete="off" autofocus></label>
  <div class="actions"><button>Sign in</button></div>
  <p class="muted">The key stays on the server; the browser keeps only a session cookie. Sessions end after 12 hours unused, on sign-out, on a server restart, or when the key is revoked.</p>
</form>
</div>`,
  )
}
