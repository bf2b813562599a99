import { createHash } from 'node:crypto'
import type { Config, Mechanism } from './config.js'

/**
 * The headers the demo page goes out with: a Content-Security-Policy that lets run only the page's
 * own inline script and style (by their SHA-256) and scripts of its own origin, and lets it talk to
 * its own origin only. Where a credential is kept in web storage, an injected script could read it:
 * this is the defence to put in front of that, in any app that keeps one there.
 */
export function demoPageHeaders (html: string): Record<string, string> {
  const digest = (pattern: RegExp): string => {
    // the page always has one of each: it is made just above
    const inline = (pattern.exec(html) as RegExpExecArray)[1] as string
    return `'sha256-${createHash('sha256').update(inline).digest('base64')}'`
  }
  const policy = [
    "default-src 'none'",
    `script-src 'self' ${digest(/<script type="module">([\s\S]*?)<\/script>/)}`,
    `style-src ${digest(/<style>([\s\S]*?)<\/style>/)}`,
    "connect-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
  return { 'content-security-policy': policy, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' }
}

/**
 * The demo page. With cookies the browser carries the credential. With the header or jwt mechanism
 * the page uses `@sessionkit/web-storage` (sessionStorage, or `?storage=local|memory`). With the
 * query mechanism it keeps the credential in a variable and puts it in each URL itself. With JWTs
 * in cookies the browser carries both tokens, and the page refreshes once when a call finds the
 * access token expired.
 */
export function demoPage (mechanisms: readonly Mechanism[], jwtTransport: Config['jwtTransport'] = 'bearer'): string {
  const cookieTokens = mechanisms[0] === 'jwt' && jwtTransport === 'cookie'
  const mode = cookieTokens ? 'jwt-cookie' : mechanisms[0] as Mechanism
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sessionkit demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #1d2433; }
  h1 { font-size: 1.4rem; } code { background: #eef1f6; padding: 0 .3rem; border-radius: 4px; }
  form, .row { display: flex; gap: .5rem; flex-wrap: wrap; margin: .75rem 0; }
  input, button { font: inherit; padding: .35rem .6rem; } button { cursor: pointer; }
  pre { background: #f6f8fb; padding: .75rem; border-radius: 6px; overflow: auto; min-height: 3rem; }
  li button { margin-left: .5rem; }
</style>
</head>
<body>
<h1>sessionkit demo: <code>${mechanisms.join(' + ')}</code> sessions${cookieTokens ? ', tokens in HttpOnly cookies' : ''}</h1>
<p>Log in as <code>alice</code> / <code>alice-secret</code> or <code>bob</code> / <code>bob-secret</code>.</p>
<form id="login">
  <input name="username" placeholder="username" autocomplete="username" required>
  <input name="password" type="password" placeholder="password" autocomplete="current-password" required>
  <label><input name="remember" type="checkbox"> Remember me</label>
  <button>Log in</button>
</form>
<div class="row">
  <button id="me">GET /me</button><button id="visit">Count a visit</button>
  <button id="sessions">My sessions</button><button id="logout">Log out</button><button id="logout-all">Log out everywhere</button>
</div>
<p id="state">Session: none</p>
<pre id="out">Not logged in.</pre>
<ul id="list"></ul>
<script type="module">
const mode = ${JSON.stringify(mode)}
const state = document.getElementById('state')
let client = null
if (mode === 'header' || mode === 'jwt') {
  const { createSessionClient } = await import('/sessionkit/web-storage/index.js')
  const storage = new URLSearchParams(location.search).get('storage') ?? 'session'
  client = createSessionClient({ mechanism: mode, storage })
  const show = (current) => { state.textContent = 'Session: ' + (current.authenticated ? 'held' : 'none') + ' (' + (current.inMemory ? 'memory' : (current.remembered ? 'local' : 'session') + 'Storage') + ')' }
  client.onChange(show)
  show(client.state())
  window.sessionClient = client
}
let credential = ''
const out = document.getElementById('out')
async function send (url, init) {
  const response = await (client === null ? fetch(url, init) : client.fetch(url, init))
  // JWTs in cookies: an expired access token reads as no session; the refresh cookie, sent to
  // /refresh only, gets a new pair, and the call is made once more
  if (mode !== 'jwt-cookie' || response.status !== 401) return response
  const refreshed = await fetch('/refresh', { method: 'POST', credentials: 'same-origin' })
  return refreshed.ok ? fetch(url, init) : response
}
async function call (method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let url = path
  if (mode === 'query' && credential) url += (url.includes('?') ? '&' : '?') + 'sid=' + encodeURIComponent(credential)
  const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' }
  const response = await send(url, init)
  const issued = response.headers.get('x-session-id')
  if (client === null && issued !== null) credential = issued
  const text = await response.text()
  out.textContent = method + ' ' + path + ' → ' + response.status + '\\n' + text
  return { status: response.status, json: text ? JSON.parse(text) : null }
}
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  const remember = form.get('remember') === 'on'
  // the browser client keeps a remembered credential in localStorage (every tab, across restarts)
  if (client !== null && remember) client.remember(true)
  else if (client !== null && new URLSearchParams(location.search).get('storage') === null) client.remember(false)
  await call('POST', '/login', { username: form.get('username'), password: form.get('password'), remember })
})
document.getElementById('me').onclick = () => call('GET', '/me')
document.getElementById('visit').onclick = () => call('POST', '/visits')
document.getElementById('logout').onclick = () => client === null ? call('POST', '/logout') : client.logout().then(() => { out.textContent = 'Logged out.' })
document.getElementById('logout-all').onclick = () => call('POST', '/logout-all')
document.getElementById('sessions').onclick = async () => {
  const { status, json } = await call('GET', '/sessions')
  const list = document.getElementById('list')
  list.replaceChildren()
  if (status !== 200) return
  for (const session of json) {
    const item = document.createElement('li')
    item.textContent = session.id.slice(0, 10) + '… since ' + new Date(session.createdAt).toLocaleTimeString() + (session.current ? ' (this one)' : '')
    const revoke = document.createElement('button')
    revoke.textContent = 'Revoke'
    revoke.onclick = () => call('DELETE', '/sessions/' + session.id)
    item.append(revoke)
    list.append(item)
  }
}
// handlers are attached: tests (and impatient people) may click now
document.body.dataset.ready = 'true'
</script>
</body>
</html>
`
}
