import t, { type Test } from 'tap'
import { createSessionClient, type SessionClientOptions } from '@sessionkit/web-storage'
import { Area, RefusingArea } from './fixtures/areas.js'
import { withGlobals } from './fixtures/globals.js'
import { server } from './fixtures/servers.js'

const key = (mechanism: string): string => `sessionkit:${mechanism}`
/** The credential a storage area holds for the mechanism, or `null`. */
const credentialIn = (area: Area, mechanism: string): string | null => {
  const raw = area.getItem(key(mechanism))
  return raw === null ? null : JSON.parse(raw).c
}
const json = async (response: Response): Promise<unknown> => response.json()

function client (t: Test, options: SessionClientOptions) {
  const created = createSessionClient({ crossTab: false, ...options })
  t.teardown(() => created.close())
  return created
}

t.test('header: log in, the credential is kept in sessionStorage and sent back; rotations and logout followed', async (t) => {
  const { base, seen } = await server(t, 'header')
  const session = new Area()
  const c = client(t, { mechanism: 'header', baseUrl: base, storageAreas: { sessionStorage: session } })
  const changes: boolean[] = []
  c.onChange((state) => changes.push(state.authenticated))
  t.same(c.state(), { authenticated: false, inMemory: false, remembered: false })
  t.same(await json(await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) })), { user: 'alice' })
  t.match(session.getItem(key('header')), /"c":"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}"/)
  t.same(await json(await c.fetch(`${base}/me`)), { user: 'alice' })
  t.equal(seen.at(-1)?.['x-session-id'], credentialIn(session, 'header'))
  t.equal((await c.fetch('/logout', { method: 'POST' })).status, 204)
  t.equal(session.getItem(key('header')), null, 'cleared when the server sends the header empty')
  t.same(changes, [true, false])
})

t.test('the credential goes to the app\'s origin and allowed ones only', async (t) => {
  const app = await server(t, 'header')
  const other = await server(t, 'header')
  const partner = await server(t, 'header')
  const c = client(t, { mechanism: 'header', baseUrl: app.base, allowedOrigins: [partner.base], storage: 'memory' })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  await c.fetch(`${other.base}/me`)
  await c.fetch(`//${new URL(other.base).host}/me`)
  await c.fetch(new Request(`${other.base}/me`))
  t.same(other.seen.map((headers) => headers['x-session-id']), [undefined, undefined, undefined], 'never to another origin')
  t.throws(() => createSessionClient({ mechanism: 'header', baseUrl: app.base, allowedOrigins: ['not a url'] }))
  await c.fetch(`${partner.base}/visits`, { method: 'POST' })
  t.type(partner.seen.at(-1)?.['x-session-id'], 'string', 'to an allowed origin')
  // look-alikes that no network here can reach: the fetch records what would have left
  const leaving: Array<[string, string | null]> = []
  const port = new URL(app.base).port
  const recording = createSessionClient({
    mechanism: 'header',
    baseUrl: app.base,
    storage: 'memory',
    crossTab: false,
    fetch: async (input, init) => {
      const request = new Request(input, init)
      if (new URL(request.url).origin === app.base) return fetch(request)
      leaving.push([request.url, request.headers.get('x-session-id')])
      return new Response('{}', { status: 200 })
    }
  })
  t.teardown(() => recording.close())
  await recording.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  t.equal(recording.state().authenticated, true)
  for (const target of [`http://127.0.0.1.evil.test:${port}/me`, `http://evil.test/127.0.0.1:${port}/me`, `https://127.0.0.1:${port}/me`, '//evil.test/me']) {
    await recording.fetch(target)
  }
  await t.rejects(recording.fetch(`http://127.0.0.1:${port}@evil.test/me`), TypeError, 'a URL with credentials in it is refused outright')
  t.equal(leaving.length, 4)
  t.same(leaving.filter(([, header]) => header !== null), [], 'no look-alike got the credential')
})

t.test('a request that carries the credential follows no redirect unless asked; an answer from another origin is not adopted', async (t) => {
  const app = await server(t, 'header')
  const other = await server(t, 'header')
  const go = (to: string): string => `/go?to=${encodeURIComponent(to)}`
  // anonymous: nothing to carry, the redirect is followed, and what the other origin says is not taken
  const anonymous = client(t, { mechanism: 'header', baseUrl: app.base, storage: 'memory' })
  const planted = await anonymous.fetch(go(`${other.base}/plant`))
  t.same(await json(planted), { planted: true }, 'followed')
  t.equal(anonymous.state().authenticated, false, 'another origin\'s credential header is not adopted')
  const c = client(t, { mechanism: 'header', baseUrl: app.base, storage: 'memory' })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  const held = c.state()
  await t.rejects(c.fetch(go(`${other.base}/me`)), TypeError, 'a redirect to another origin: refused')
  t.same(other.seen.filter((headers) => headers['x-session-id'] !== undefined), [], 'and the credential never left')
  await t.rejects(c.fetch(go('/me')), TypeError, 'a same-origin one too, by default')
  t.same(await json(await c.fetch(go('/me'), { redirect: 'follow' })), { user: 'alice' }, 'followed when the caller asks')
  await c.fetch(go(`${other.base}/plant`), { redirect: 'follow' })
  t.same(c.state(), held, 'still the app\'s own credential')
  t.equal((await c.fetch(go('/me'), { redirect: 'manual' })).status, 302, 'redirect: manual as asked')
  // a logout answered with a redirect: done, neither followed nor an error
  const leaving = client(t, { mechanism: 'header', baseUrl: app.base, storage: 'memory', logoutUrl: '/logout-then-home' })
  await leaving.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"bob"}' })
  const before = app.seen.length
  await leaving.logout()
  t.equal(leaving.state().authenticated, false)
  t.same(app.seen.slice(before).map((headers) => headers.url), ['/logout-then-home'], 'the redirect not followed')
})

t.test('a credential the server refuses is cleared; the app\'s own 401 leaves the session alone', async (t) => {
  const { base, clock } = await server(t, 'header')
  const c = client(t, { mechanism: 'header', baseUrl: base, storage: 'memory' })
  await c.fetch('/visits', { method: 'POST' })
  t.equal(c.state().authenticated, true)
  const own = await c.fetch('/me')
  t.equal(own.status, 401, 'the app\'s "log in first" on a live anonymous session')
  t.equal(own.headers.get('x-session-id'), null)
  t.equal(c.state().authenticated, true, 'kept')
  t.same(await json(await c.fetch('/visits', { method: 'POST' })), { visits: 2 }, 'and the same session goes on')
  clock.advance(48 * 60 * 60_000)
  const refused = await c.fetch('/visits', { method: 'POST' })
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('x-session-id'), '', 'the server clears what it refuses')
  t.equal(c.state().authenticated, false, 'cleared')
})

t.test('an answer to a request sent before a login does not undo the login: neither its "forget" nor a credential of its own', async (t) => {
  const { base } = await server(t, 'header')
  const session = new Area()
  let gate: Promise<void> | null = null
  // requests to /visits wait at the door until released: sent before the login, answered after it
  const c = client(t, {
    mechanism: 'header',
    baseUrl: base,
    storageAreas: { sessionStorage: session },
    fetch: async (input, init) => {
      const request = new Request(input, init)
      if (new URL(request.url).pathname === '/visits' && gate !== null) await gate
      return fetch(request)
    }
  })
  const held = (): string | null => credentialIn(session, 'header')
  const login = async (user: string): Promise<unknown> => json(await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) }))
  let release!: () => void

  // logged in, a request goes out; a new login (regenerate) kills its credential; its answer, a 401
  // that clears the dead credential, comes after
  await login('alice')
  const before = held()
  gate = new Promise((resolve) => { release = resolve })
  const late = c.fetch('/visits', { method: 'POST' })
  await login('bob')
  const after = held()
  t.not(after, before)
  release()
  const refused = await late
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('x-session-id'), '', 'the server cleared the credential that request carried')
  t.equal(held(), after, 'the login\'s credential is kept')
  t.same(await json(await c.fetch('/me')), { user: 'bob' })

  // with no session, a request goes out and is answered with a session of its own after a login
  await c.fetch('/logout', { method: 'POST' })
  t.equal(held(), null)
  gate = new Promise((resolve) => { release = resolve })
  const anonymous = c.fetch('/visits', { method: 'POST' })
  await login('cy')
  const cy = held()
  release()
  const own = await anonymous
  t.match(own.headers.get('x-session-id'), /^[A-Za-z0-9_-]{43}\./, 'the server made that request a session of its own')
  t.not(own.headers.get('x-session-id'), cy)
  t.equal(held(), cy, 'the login\'s credential is kept')
  t.same(await json(await c.fetch('/me')), { user: 'cy' })

  // and without a race, an answer still rotates and clears as before
  gate = null
  t.same(await json(await c.fetch('/visits', { method: 'POST' })), { visits: 1 })
  t.equal(held(), cy)
  await c.fetch('/logout', { method: 'POST' })
  t.equal(held(), null)
})

t.test('jwt: of two requests that change the session at once, the first answer\'s token is kept', async (t) => {
  const { base } = await server(t, 'jwt')
  const session = new Area()
  // the answers of /visits requests wait, in the order the requests go out, on these
  const holds: Array<Promise<void> | null> = []
  const c = client(t, {
    mechanism: 'jwt',
    baseUrl: base,
    storageAreas: { sessionStorage: session },
    fetch: async (input, init) => {
      const request = new Request(input, init)
      const waiting = new URL(request.url).pathname === '/visits' ? holds.shift() ?? null : null
      const response = await fetch(request)
      if (waiting !== null) await waiting
      return response
    }
  })
  const held = (): string | null => credentialIn(session, 'jwt')
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  const token = held()
  let release!: () => void
  holds.push(new Promise((resolve) => { release = resolve }), null)
  const slow = c.fetch('/visits', { method: 'POST' })
  const first = await c.fetch('/visits', { method: 'POST' })
  const firstToken = first.headers.get('x-session-token')
  t.not(firstToken, token)
  t.equal(held(), firstToken, 'the first answer re-issued the token')
  release()
  const later = await slow
  t.match(later.headers.get('x-session-token'), /\./, 'the other answer re-issued one of its own, from the same token')
  t.not(later.headers.get('x-session-token'), firstToken)
  t.equal(held(), firstToken, 'the first answer\'s token is kept')
})

t.test('storage that throws falls back to memory, without a throw', async (t) => {
  const { base } = await server(t, 'header')
  for (const refusal of ['SecurityError', 'QuotaExceededError'] as const) {
    const c = client(t, { mechanism: 'header', baseUrl: base, storageAreas: { sessionStorage: new RefusingArea(refusal) } })
    await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
    t.same(c.state(), { authenticated: true, inMemory: true, remembered: false }, refusal)
    t.same(await json(await c.fetch('/me')), { user: 'alice' })
  }
  const thrower = {}
  Object.defineProperty(thrower, 'sessionStorage', { get () { throw new DOMException('denied', 'SecurityError') } })
  const c = client(t, { mechanism: 'header', baseUrl: base, storageAreas: thrower })
  t.same(c.state(), { authenticated: false, inMemory: true, remembered: false }, 'a storage getter that throws')
})

t.test('what is read back is untrusted: "null", "{", 5 MB, a forged shape, an expired JWT are logged out and removed', async (t) => {
  const expired = ['e30', Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) - 60 })).toString('base64url'), 'sig'].join('.')
  // an encrypted JWT shows only its header, which repeats the expiry
  const sealedExpired = [Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 'e1', exp: Math.floor(Date.now() / 1000) - 60 })).toString('base64url'), '', 'iv', 'body', 'tag'].join('.')
  const values = {
    null: 'null',
    brace: '{',
    huge: 'x'.repeat(5 * 1024 * 1024),
    forged: JSON.stringify({ v: 1, c: '<script>', r: null }),
    'bad refresh': JSON.stringify({ v: 1, c: 'abc', r: 'a b' }),
    'old version': JSON.stringify({ v: 0, c: 'abc', r: null }),
    'expired jwt': JSON.stringify({ v: 1, c: expired, r: null }),
    'expired encrypted jwt': JSON.stringify({ v: 1, c: sealedExpired, r: null }),
    'six segments': JSON.stringify({ v: 1, c: 'a..b.c.d.e', r: null }),
    'five segments, the second not empty': JSON.stringify({ v: 1, c: 'a.b.c.d.e', r: null })
  }
  for (const [name, value] of Object.entries(values)) {
    const area = new Area()
    area.setItem(key('jwt'), value)
    const c = client(t, { mechanism: 'jwt', baseUrl: 'http://app.test', storageAreas: { sessionStorage: area } })
    t.equal(c.state().authenticated, false, name)
    t.equal(area.getItem(key('jwt')), null, `${name}: removed`)
  }
})

t.test('jwt: several requests that find the token expired share one refresh', async (t) => {
  const { base, clock, refreshes } = await server(t, 'jwt')
  let time = Date.now()
  const c = client(t, { mechanism: 'jwt', baseUrl: base, storage: 'memory', now: () => time })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  clock.advance(2 * 60_000)
  time += 2 * 60_000
  const answers = await Promise.all(Array.from({ length: 5 }, async () => json(await c.fetch('/me'))))
  t.same(answers, Array(5).fill({ user: 'alice' }))
  t.equal(refreshes.length, 1, 'one refresh')
})

t.test('jwt, encrypted tokens: kept, sent, and refreshed once when the header says they expired', async (t) => {
  const { base, clock, refreshes, seen } = await server(t, 'jwt', { sealed: true })
  let time = Date.now()
  const area = new Area()
  const c = client(t, { mechanism: 'jwt', baseUrl: base, storageAreas: { sessionStorage: area }, now: () => time })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  const held = credentialIn(area, 'jwt') as string
  t.equal(held.split('.').length, 5, 'the sealed token is what is kept')
  t.same(await json(await c.fetch('/me')), { user: 'alice' })
  t.equal(refreshes.length, 0)
  clock.advance(2 * 60_000)
  time += 2 * 60_000
  const sent = seen.length
  const answers = await Promise.all(Array.from({ length: 3 }, async () => json(await c.fetch('/me'))))
  t.same(answers, Array(3).fill({ user: 'alice' }))
  t.equal(refreshes.length, 1, 'one refresh')
  t.same(seen.slice(sent).map((request) => request.url), ['/refresh', '/me', '/me', '/me'], 'the expiry read from the header: refreshed before sending, no request sent with the expired token')
  t.not(credentialIn(area, 'jwt'), held, 'a new sealed token')
})

t.test('jwt: the app\'s own 401 neither refreshes nor clears', async (t) => {
  const { base, refreshes } = await server(t, 'jwt')
  const c = client(t, { mechanism: 'jwt', baseUrl: base, storage: 'memory' })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  const response = await c.fetch('/locked')
  t.equal(response.status, 401)
  t.equal(response.headers.get('x-session-token'), null)
  t.same(refreshes, [], 'no refresh')
  t.equal(c.state().authenticated, true, 'kept')
  t.same(await json(await c.fetch('/me')), { user: 'alice' })
})

t.test('jwt: a 401 with a refresh token tries one refresh, then gives up cleanly', async (t) => {
  const { base, app } = await server(t, 'jwt')
  const area = new Area()
  const c = client(t, { mechanism: 'jwt', baseUrl: base, storageAreas: { sessionStorage: area } })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  await app.sessionkit.revokeUserSession('alice', (await app.sessionkit.listUserSessions('alice'))[0]?.id as string)
  const response = await c.fetch('/me')
  t.equal(response.status, 401)
  t.equal(c.state().authenticated, false)
  t.equal(area.getItem(key('jwt')), null)
})

t.test('logout in one tab ends the others (BroadcastChannel); a local storage event with a forged value is dropped', async (t) => {
  const { base } = await server(t, 'header')
  const shared = new Area()
  const target = new EventTarget()
  withGlobals(t, { addEventListener: target.addEventListener.bind(target), removeEventListener: target.removeEventListener.bind(target) })
  const namespace = `tabs-${Date.now()}`
  const one = createSessionClient({ mechanism: 'header', baseUrl: base, storage: 'local', namespace, crossTab: true, storageAreas: { localStorage: shared } })
  const two = createSessionClient({ mechanism: 'header', baseUrl: base, storage: 'session', namespace, crossTab: true, storageAreas: { sessionStorage: new Area() } })
  t.teardown(() => { one.close(); two.close() })
  await two.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  t.equal(two.state().authenticated, true)
  const ended = new Promise<boolean>((resolve) => two.onChange((state) => resolve(state.authenticated)))
  await one.logout()
  t.equal(await ended, false, 'the other tab heard the logout')
  t.equal(two.state().authenticated, false)
  shared.setItem(`${namespace}:header`, '{"v":1,"c":"<img>","r":null}')
  const heard = new Promise<boolean>((resolve) => one.onChange((state) => resolve(state.authenticated)))
  target.dispatchEvent(Object.assign(new Event('storage'), { key: `${namespace}:header`, newValue: '{"v":1,"c":"<img>","r":null}' }))
  target.dispatchEvent(Object.assign(new Event('storage'), { key: 'something-else', newValue: 'x' }))
  t.equal(await heard, false)
  t.equal(shared.getItem(`${namespace}:header`), null, 'the forged value is removed')
})

t.test('a server with its own credential header: the client is told its name', async (t) => {
  const api = await server(t, 'header', { header: 'x-api-session' })
  const c = client(t, { mechanism: 'header', header: 'X-Api-Session', baseUrl: api.base, storage: 'memory' })
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  t.same(await json(await c.fetch('/me')), { user: 'alice' })
  t.match(api.seen.at(-1)?.['x-api-session'], /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/, 'sent in that header')
  t.equal(api.seen.at(-1)?.['x-session-id'], undefined, 'and in no other')
  t.equal((await c.fetch('/logout', { method: 'POST' })).status, 204)
  t.equal(c.state().authenticated, false, 'the empty header clears it')

  const tokens = await server(t, 'jwt', { header: 'x-access-token' })
  const j = client(t, { mechanism: 'jwt', header: 'x-access-token', baseUrl: tokens.base, storage: 'memory' })
  await j.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  t.same(await json(await j.fetch('/me')), { user: 'alice' })
  t.match(tokens.seen.at(-1)?.authorization, /^Bearer ey/, 'the token read from x-access-token goes out as Bearer')
  tokens.clock.advance(61_000)
  t.same(await json(await j.fetch('/me')), { user: 'alice' }, 'an expired token is refreshed and the new one, read from x-access-token, is used')
  t.equal(tokens.refreshes.length, 1)
})

t.test('options are checked', async (t) => {
  t.throws(() => createSessionClient({ mechanism: 'cookie' as 'header', baseUrl: 'http://a.test' }), { message: 'mechanism must be "header" or "jwt"' })
  t.throws(() => createSessionClient({ mechanism: 'header', storage: 'cookies' as 'local', baseUrl: 'http://a.test' }), { message: 'storage must be "session", "local" or "memory"' })
  t.throws(() => createSessionClient({ mechanism: 'header' }), { message: 'baseUrl is required outside a page: the origin the credential belongs to' })
  for (const header of ['', 'bad header', 'Authorization', 'cookie', 'X-Refresh-Token', 42 as unknown as string]) {
    t.throws(() => createSessionClient({ mechanism: 'header', header, baseUrl: 'http://a.test' }), { message: 'header must be a header name of letters, digits and "-", other than authorization, cookie and x-refresh-token' }, String(header))
  }
})

t.test('remember(): the credential moves to localStorage, a new tab or a restart finds it there, remember(false) moves it back', async (t) => {
  const { base, seen } = await server(t, 'header')
  const [tab, shared] = [new Area(), new Area()]
  const c = client(t, { mechanism: 'header', baseUrl: base, storageAreas: { sessionStorage: tab, localStorage: shared } })
  const changes: boolean[] = []
  c.onChange((state) => changes.push(state.remembered))
  await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' })
  t.same(c.state(), { authenticated: true, inMemory: false, remembered: false })
  const kept = tab.getItem(key('header'))
  t.type(kept, 'string', 'in this tab\'s sessionStorage')
  c.remember()
  t.same(c.state(), { authenticated: true, inMemory: false, remembered: true })
  t.equal(shared.getItem(key('header')), kept, 'moved to localStorage')
  t.equal(tab.getItem(key('header')), null, 'and out of sessionStorage')
  c.remember(true)
  t.same(changes, [false, true], 'asked twice, moved once')

  // a new tab (its own empty sessionStorage) or a restart: the remembered credential is found
  const next = client(t, { mechanism: 'header', baseUrl: base, storageAreas: { sessionStorage: new Area(), localStorage: shared } })
  t.same(next.state(), { authenticated: true, inMemory: false, remembered: true })
  t.same(await json(await next.fetch('/me')), { user: 'alice' })
  t.equal(seen.at(-1)?.['x-session-id'], JSON.parse(kept as string).c)
  await next.fetch('/visits', { method: 'POST' })
  t.equal(shared.getItem(key('header')), kept, 'a response that hands out nothing new leaves it be')

  c.remember(false)
  t.same(c.state(), { authenticated: true, inMemory: false, remembered: false })
  t.equal(tab.getItem(key('header')), kept, 'back in this tab only')
  t.equal(shared.getItem(key('header')), null)
  // a client created for localStorage takes up one kept in its tab's sessionStorage
  const local = client(t, { mechanism: 'header', baseUrl: base, storage: 'local', storageAreas: { sessionStorage: tab, localStorage: shared } })
  t.same(local.state(), { authenticated: true, inMemory: false, remembered: false })

  c.remember(true)
  await c.logout()
  t.same([tab.getItem(key('header')), shared.getItem(key('header'))], [null, null], 'logout forgets it in both areas')
  t.same(c.state(), { authenticated: false, inMemory: false, remembered: true }, 'and later logins stay remembered until told otherwise')
  const empty = client(t, { mechanism: 'header', baseUrl: base, storageAreas: { sessionStorage: new Area(), localStorage: new Area() } })
  empty.remember()
  t.same(empty.state(), { authenticated: false, inMemory: false, remembered: true }, 'nothing held: only the area changes')
  const memory = client(t, { mechanism: 'header', baseUrl: base, storage: 'memory' })
  t.throws(() => memory.remember(), { message: 'remember() needs web storage: this client keeps its credential in memory' })
})
