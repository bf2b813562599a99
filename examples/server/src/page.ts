import type { Mechanism } from './config.js'

/**
 * The demo page. With cookies the browser carries the credential; with the header, query or jwt
 * mechanism this page keeps it in a variable (memory only: gone on reload) and sends it itself.
 */
export function demoPage (mechanisms: readonly Mechanism[]): string {
  const mode = mechanisms[0] as Mechanism
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
<h1>sessionkit demo: <code>${mechanisms.join(' + ')}</code> sessions</h1>
<p>Log in as <code>alice</code> / <code>alice-secret</code> or <code>bob</code> / <code>bob-secret</code>.</p>
<form id="login">
  <input name="username" placeholder="username" autocomplete="username" required>
  <input name="password" type="password" placeholder="password" autocomplete="current-password" required>
  <button>Log in</button>
</form>
<div class="row">
  <button id="me">GET /me</button><button id="visit">Count a visit</button>
  <button id="sessions">My sessions</button><button id="logout">Log out</button><button id="logout-all">Log out everywhere</button>
</div>
<pre id="out">Not logged in.</pre>
<ul id="list"></ul>
<script type="module">
const mode = ${JSON.stringify(mode)}
let credential = ''
const out = document.getElementById('out')
async function call (method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let url = path
  if (mode === 'header' && credential) headers['x-session-id'] = credential
  if (mode === 'query' && credential) url += (url.includes('?') ? '&' : '?') + 'sid=' + encodeURIComponent(credential)
  if (mode === 'jwt' && credential) headers.authorization = 'Bearer ' + credential
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
  const issued = response.headers.get(mode === 'jwt' ? 'x-session-token' : 'x-session-id')
  if (issued !== null) credential = issued
  const text = await response.text()
  out.textContent = method + ' ' + path + ' → ' + response.status + '\\n' + text
  return { status: response.status, json: text ? JSON.parse(text) : null }
}
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  await call('POST', '/login', { username: form.get('username'), password: form.get('password') })
})
document.getElementById('me').onclick = () => call('GET', '/me')
document.getElementById('visit').onclick = () => call('POST', '/visits')
document.getElementById('logout').onclick = () => call('POST', '/logout')
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
</script>
</body>
</html>
`
}
