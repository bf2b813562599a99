import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { buildApp } from '../src/app.js'
import { readConfig, type Mechanism } from '../src/config.js'
import { listen } from './fixtures/listen.js'

/** A client of one mechanism over a real socket: it keeps the credential the way a real client would. */
class Client {
  credential: string | null = null
  refreshToken: string | null = null
  constructor (readonly base: string, readonly mechanism: Mechanism) {}

  async call (method: string, path: string, body?: unknown): Promise<{ status: number, body: unknown, headers: Headers }> {
    const headers: Record<string, string> = {}
    let url = this.base + path
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.credential !== null) {
      if (this.mechanism === 'cookie') headers.cookie = `sid=${this.credential}`
      if (this.mechanism === 'header') headers['x-session-id'] = this.credential
      if (this.mechanism === 'query') url += `${path.includes('?') ? '&' : '?'}sid=${this.credential}`
      if (this.mechanism === 'jwt') headers.authorization = `Bearer ${this.credential}`
    }
    if (path === '/refresh' && this.refreshToken !== null) headers['x-refresh-token'] = this.refreshToken
    const response = await fetch(url, { method, headers, body: typeof body === 'string' ? body : body === undefined ? null : JSON.stringify(body) })
    const issued = this.mechanism === 'cookie'
      ? /^sid=([^;]*)/.exec(response.headers.get('set-cookie') ?? '')?.[1]
      : response.headers.get(this.mechanism === 'jwt' ? 'x-session-token' : 'x-session-id') ?? undefined
    const refresh = response.headers.get('x-refresh-token')
    if (refresh !== null) this.refreshToken = refresh
    if (issued !== undefined) this.credential = issued === '' ? null : issued
    const text = await response.text()
    return { status: response.status, body: text === '' ? null : JSON.parse(text), headers: response.headers }
  }
}

async function start (t: Test, mechanism: Mechanism, store: string): Promise<string> {
  return listen(t, { SESSION_MECHANISM: mechanism, SESSION_STORE: store, REDIS_PREFIX: `e2e-${process.pid}-${Date.now()}:`, SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef', ...(process.env.REDIS_URL === undefined ? {} : { REDIS_URL: process.env.REDIS_URL }) })
}

/** Outside CI, a machine with no Redis skips the Redis rows with this reason; CI always runs them. */
const NO_REDIS = process.env.CI === 'true' || await new Promise<boolean>((resolve) => {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const socket = connect(Number(url.port || 6379), url.hostname, () => { socket.destroy(); resolve(true) })
  socket.on('error', () => resolve(false))
})
  ? false
  : 'no Redis on REDIS_URL (bash .ci/run starts one)'

for (const [mechanism, store] of ['cookie', 'header', 'query', 'jwt'].flatMap((m) => [[m, 'memory'], [m, 'redis']]) as Array<[Mechanism, string]>) {
  t.test(`end to end over a real socket: ${mechanism}, ${store} store`, { skip: store === 'redis' && NO_REDIS }, async (t) => {
    const base = await start(t, mechanism, store)
    const client = (): Client => new Client(base, mechanism)

    t.test('health never touches a session', async (t) => {
      const c = client()
      const response = await c.call('GET', '/health')
      t.same([response.status, response.body], [200, { status: 'ok' }])
      t.equal(c.credential, null)
    })

    t.test('login: wrong password 401, malformed body 400, right one 200', async (t) => {
      const c = client()
      t.equal((await c.call('POST', '/login', { username: 'alice', password: 'nope' })).status, 401)
      t.equal((await c.call('POST', '/login', { username: 'mallory', password: 'alice-secret' })).status, 401)
      t.equal((await c.call('POST', '/login', '{"username":')).status, 400)
      t.equal((await c.call('POST', '/login', { username: 'alice' })).status, 400)
      t.equal(c.credential, null)
      const ok = await c.call('POST', '/login', { username: 'alice', password: 'alice-secret' })
      t.same([ok.status, ok.body], [200, { user: 'alice', remembered: false }])
      t.match(c.credential, mechanism === 'jwt' ? /^[\w-]+\.[\w-]+\.[\w-]+$/ : /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
      await c.call('POST', '/visits')
      t.same((await c.call('GET', '/me')).body, { user: 'alice', visits: 1 })
    })

    t.test('remember me: the login says so, and keeps saying so after a refresh of the session', async (t) => {
      const c = client()
      const login = await c.call('POST', '/login', { username: 'alice', password: 'alice-secret', remember: true })
      t.same([login.status, login.body], [200, { user: 'alice', remembered: true }])
      if (mechanism === 'cookie') t.match(login.headers.get('set-cookie'), /^sid=[^;]+; Max-Age=2592000; Path=\/; HttpOnly; SameSite=Lax$/, 'a cookie kept for 30 days')
      t.equal((await c.call('POST', '/login', { username: 'alice', password: 'alice-secret', remember: 'yes' })).status, 400, 'a remember that is no boolean')
      const again = await c.call('POST', '/login', { username: 'alice', password: 'alice-secret' })
      t.same(again.body, { user: 'alice', remembered: false }, 'a login without it is not remembered')
      if (mechanism === 'cookie') t.match(again.headers.get('set-cookie'), /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, 'a browser-session cookie')
    })

    t.test('fixation: the credential before login differs from the one after, and the old is dead', async (t) => {
      const c = client()
      t.same((await c.call('POST', '/visits')).body, { visits: 1 })
      const before = c.credential
      await c.call('POST', '/login', { username: 'bob', password: 'bob-secret' })
      t.not(c.credential, before)
      const old = new Client(base, mechanism)
      old.credential = before
      const me = await old.call('GET', '/me')
      t.equal(me.status, 401)
      t.same((await c.call('GET', '/me')).body, { user: 'bob', visits: 0 }, 'nothing from before login carried over')
    })

    t.test('logout, then replay of the old credential: 401', async (t) => {
      const c = client()
      await c.call('POST', '/login', { username: 'alice', password: 'alice-secret' })
      const credential = c.credential
      t.equal((await c.call('POST', '/logout')).status, 204)
      t.equal(c.credential, null, 'told to forget it')
      const replay = new Client(base, mechanism)
      replay.credential = credential
      t.equal((await replay.call('GET', '/me')).status, 401)
    })

    t.test('sessions: listed, one revoked, then all with logout-all', async (t) => {
      const [phone, laptop, tablet, other] = [client(), client(), client(), client()]
      for (const c of [phone, laptop, tablet]) await c.call('POST', '/login', { username: 'alice', password: 'alice-secret' })
      await other.call('POST', '/login', { username: 'bob', password: 'bob-secret' })
      const list = (await phone.call('GET', '/sessions')).body as Array<{ id: string, current: boolean }>
      t.ok(list.length >= 3)
      t.equal(list.filter((s) => s.current).length, 1)
      const laptopId = ((await laptop.call('GET', '/sessions')).body as Array<{ id: string, current: boolean }>).find((s) => s.current)?.id as string
      t.equal((await phone.call('DELETE', `/sessions/${laptopId}`)).status, 204)
      t.equal((await laptop.call('GET', '/me')).status, 401, 'the revoked one is dead')
      t.equal((await phone.call('DELETE', `/sessions/${laptopId}`)).status, 404)
      t.equal((await phone.call('POST', '/logout-all')).status, 204)
      t.equal((await tablet.call('GET', '/me')).status, 401)
      t.equal((await phone.call('GET', '/me')).status, 401)
      t.equal((await other.call('GET', '/me')).status, 200, 'bob is untouched')
      t.equal((await client().call('POST', '/logout-all')).status, 401)
      t.equal((await client().call('GET', '/sessions')).status, 401)
      t.equal((await client().call('DELETE', `/sessions/${laptopId}`)).status, 401)
    })

    t.test('concurrent PUTs of different prefs both persist', { skip: mechanism === 'jwt' && 'a stateless token carries one request\'s changes' }, async (t) => {
      const c = client()
      await c.call('POST', '/login', { username: 'alice', password: 'alice-secret' })
      const keys = ['theme', 'lang', 'tz', 'font', 'size']
      const responses = await Promise.all(keys.map((key, i) => c.call('PUT', `/prefs/${key}`, { value: i })))
      t.same(responses.map((r) => r.status), [200, 200, 200, 200, 200])
      t.same((await c.call('GET', '/prefs')).body, { prefs: { theme: 0, lang: 1, tz: 2, font: 3, size: 4 } })
      t.equal((await c.call('PUT', '/prefs/Bad Key', { value: 1 })).status, 400)
    })

    t.test('refresh: a new pair; the spent refresh token later ends the family', { skip: mechanism !== 'jwt' && 'jwt only' }, async (t) => {
      const c = client()
      await c.call('POST', '/login', { username: 'alice', password: 'alice-secret' })
      const spent = c.refreshToken
      const refreshed = await c.call('POST', '/refresh')
      t.equal(refreshed.status, 200)
      t.not(c.refreshToken, spent)
      t.same((await c.call('GET', '/me')).body, { user: 'alice', visits: 0 })
      const thief = client()
      thief.refreshToken = spent
      await new Promise((resolve) => setTimeout(resolve, 10))
      t.equal((await thief.call('POST', '/refresh')).status, 200, 'within the grace window: the same answer')
      t.equal(thief.credential, c.credential)
    })

    t.test('50 parallel first requests give 50 sessions', async (t) => {
      const clients = Array.from({ length: 50 }, client)
      await Promise.all(clients.map((c) => c.call('POST', '/visits')))
      t.equal(new Set(clients.map((c) => c.credential)).size, 50)
    })

    t.test('the demo page', async (t) => {
      const response = await fetch(base + '/')
      t.equal(response.status, 200)
      t.match(await response.text(), new RegExp(`sessionkit demo: <code>${mechanism}</code> sessions`))
    })
  })
}

t.test('composed: cookie and header in one scope', async (t) => {
  const app = await buildApp(readConfig({ SESSION_MECHANISM: 'cookie,header', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }), { logger: false })
  t.teardown(() => app.close())
  const browser = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'alice-secret' } })
  t.match(String(browser.headers['set-cookie']), /^sid=/)
  t.equal(browser.headers['x-session-id'], undefined, 'a browser gets a cookie only')
  const mobile = await app.inject({ method: 'POST', url: '/login', headers: { 'x-session-id': '' }, payload: { username: 'alice', password: 'alice-secret' } })
  t.type(mobile.headers['x-session-id'], 'string', 'a client that asks for the header gets it')
  t.equal(mobile.headers['set-cookie'], undefined)
  const sessions = await app.inject({ method: 'GET', url: '/sessions', headers: { 'x-session-id': String(mobile.headers['x-session-id']) } })
  t.equal((sessions.json() as unknown[]).length, 2, 'one user, two channels, one store')
})

t.test('jwt with SESSION_JWT_TRANSPORT=cookie: both tokens in HttpOnly cookies, refreshed by cookie, cleared at logout', async (t) => {
  let now = Date.now()
  const base = await listen(t, { SESSION_MECHANISM: 'jwt', SESSION_JWT_TRANSPORT: 'cookie', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }, { now: () => now })
  /** What a browser keeps: cookie name to value, by the Set-Cookie lines it gets. */
  const jar = new Map<string, string>()
  async function call (method: string, path: string, body?: unknown): Promise<Response> {
    // the refresh cookie's Path is /refresh: a browser sends it there only
    const cookie = [...jar].filter(([name]) => name !== 'sid-refresh' || path === '/refresh').map(([name, value]) => `${name}=${value}`).join('; ')
    const headers: Record<string, string> = cookie === '' ? {} : { cookie }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) })
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';') as [string]
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      if (value === '') jar.delete(name)
      else jar.set(name, value)
    }
    return response
  }
  const ordinary = await call('POST', '/login', { username: 'alice', password: 'alice-secret' })
  t.match(ordinary.headers.getSetCookie().join('\n'), /^sid-refresh=[^;]+; Path=\/refresh; HttpOnly; SameSite=Lax$/m, 'not remembered: a browser-session cookie')
  const login = await call('POST', '/login', { username: 'alice', password: 'alice-secret', remember: true })
  t.equal(login.status, 200)
  t.equal(login.headers.get('x-session-token'), null, 'no token in a header')
  t.equal(login.headers.get('x-refresh-token'), null)
  t.match(login.headers.getSetCookie().join('\n'), /^sid-refresh=[^;]+; Max-Age=2592000; Path=\/refresh; HttpOnly; SameSite=Lax$/m, 'remembered: kept for the family\'s 30 days')
  t.match(login.headers.getSetCookie().join('\n'), /^sid=[^;]+; Max-Age=900; Path=\/; HttpOnly; SameSite=Lax$/m, 'and the access cookie until the token expires')
  t.same(await (await call('GET', '/me')).json(), { user: 'alice', visits: 0 })
  now += 16 * 60_000
  t.equal((await call('GET', '/me')).status, 401, 'the access token has expired')
  t.equal((await call('POST', '/refresh')).status, 200, 'the refresh cookie gets a new pair')
  t.same(await (await call('GET', '/me')).json(), { user: 'alice', visits: 0 })
  t.equal((await call('POST', '/logout')).status, 204)
  t.same([...jar.keys()], [], 'both cookies cleared')
  const page = await (await call('GET', '/')).text()
  t.match(page, /<code>jwt<\/code> sessions, tokens in HttpOnly cookies/)
  t.match(page, /const mode = "jwt-cookie"/)
})

t.test('jwt with SESSION_JWT_ENCRYPTION=on: tokens a client cannot read, refreshed and revoked as before', async (t) => {
  for (const transport of ['bearer', 'cookie']) {
    let now = Date.now()
    const base = await listen(t, { SESSION_MECHANISM: 'jwt', SESSION_JWT_TRANSPORT: transport, SESSION_JWT_ENCRYPTION: 'on', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }, { now: () => now })
    const jar = new Map<string, string>()
    let refresh: string | null = null
    let token: string | null = null
    async function call (method: string, path: string, body?: unknown): Promise<Response> {
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
      const cookie = [...jar].filter(([name]) => name !== 'sid-refresh' || path === '/refresh').map(([name, value]) => `${name}=${value}`).join('; ')
      if (cookie !== '') headers.cookie = cookie
      if (token !== null) headers.authorization = `Bearer ${token}`
      if (refresh !== null && path === '/refresh') headers['x-refresh-token'] = refresh
      const response = await fetch(base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) })
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';') as [string]
        const value = pair.slice(pair.indexOf('=') + 1)
        if (value === '') jar.delete(pair.slice(0, pair.indexOf('=')))
        else jar.set(pair.slice(0, pair.indexOf('=')), value)
      }
      const issued = response.headers.get('x-session-token')
      if (issued !== null) token = issued === '' ? null : issued
      refresh = response.headers.get('x-refresh-token') ?? refresh
      return response
    }
    t.equal((await call('POST', '/login', { username: 'alice', password: 'alice-secret' })).status, 200)
    const held = transport === 'cookie' ? jar.get('sid') as string : token as unknown as string
    t.equal(held.split('.').length, 5, `${transport}: the access token is a JWE`)
    t.notMatch(held.split('.').map((part) => Buffer.from(part, 'base64url').toString('latin1')).join(' '), /alice/, `${transport}: nothing of the user readable`)
    t.same(await (await call('GET', '/me')).json(), { user: 'alice', visits: 0 })
    now += 16 * 60_000
    t.equal((await call('GET', '/me')).status, 401, `${transport}: expired`)
    t.equal((await call('POST', '/refresh')).status, 200, `${transport}: refreshed`)
    t.same(await (await call('GET', '/me')).json(), { user: 'alice', visits: 0 })
    const kept = transport === 'cookie' ? jar.get('sid') as string : token as unknown as string
    t.equal((await call('POST', '/logout')).status, 204)
    const replay = await fetch(base + '/me', { headers: transport === 'cookie' ? { cookie: `sid=${kept}` } : { authorization: `Bearer ${kept}` } })
    t.equal(replay.status, 401, `${transport}: replayed after logout`)
  }
})

t.test('SESSION_MECHANISM=query: no log line holds the credential, a request no route matches included', async (t) => {
  const lines: string[] = []
  const app = await buildApp(readConfig({ SESSION_MECHANISM: 'query', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }), { logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } })
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'alice-secret' } })
  const sid = login.headers['x-session-id'] as string
  t.match(sid, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
  t.equal((await app.inject(`/me?sid=${sid}`)).statusCode, 200)
  // the routes without sessions too: a client may put the credential on any link
  t.equal((await app.inject(`/health?sid=${sid}`)).statusCode, 200)
  t.equal((await app.inject(`/sessionkit/web-storage/index.js?sid=${sid}`)).statusCode, 200)
  const missing = await app.inject(`/no-such-page?sid=${sid}`)
  t.equal(missing.statusCode, 404)
  t.notOk(missing.body.includes(sid.slice(0, 43)), 'not in the answer')
  const text = lines.join('')
  t.match(text, /Route GET:\/no-such-page\?sid=\[redacted\] not found/)
  t.notOk(text.includes(sid.slice(0, 43)), 'no token in any line')
})

t.test('a generated secret is logged as a warning', async (t) => {
  const lines: string[] = []
  const app = await buildApp(readConfig({}), { logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } } })
  t.teardown(() => app.close())
  t.match(lines.join(''), /SESSION_SECRET is not set/)
})

t.test('an injected clock reaches the sessions', async (t) => {
  let now = Date.UTC(2030, 0, 1)
  const app = await buildApp(readConfig({ SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }), { logger: false, now: () => now })
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'alice-secret' } })
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string
  now += 31 * 60_000
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { cookie } })).statusCode, 401, 'idle timeout')
})

t.test('header and query composed, with the configured log level', async (t) => {
  const app = await buildApp(readConfig({ SESSION_MECHANISM: 'header,query', LOG_LEVEL: 'silent', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }))
  t.teardown(() => app.close())
  t.equal(app.log.level, 'silent')
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'bob', password: 'bob-secret' } })
  const credential = String(login.headers['x-session-id'])
  t.same((await app.inject({ method: 'GET', url: `/me?sid=${credential}` })).json(), { user: 'bob', visits: 0 })
  t.same((await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': credential } })).json(), { user: 'bob', visits: 0 })
  const both = await app.inject({ method: 'GET', url: `/me?sid=${credential}`, headers: { 'x-session-id': 'A'.repeat(43) + '.' + 'B'.repeat(43) } })
  t.equal(both.statusCode, 400, 'two channels that disagree')
})

t.test('a Redis that does not answer stops start-up with a message naming REDIS_URL', async (t) => {
  const config = readConfig({ SESSION_STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:1', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' })
  await t.rejects(buildApp(config, { logger: false }), { message: 'REDIS_URL: no Redis answered at redis://127.0.0.1:1 within 5 s' })
})

t.test('the browser client is served as built modules, and nothing else is', async (t) => {
  const app = await buildApp(readConfig({ SESSION_MECHANISM: 'header', SESSION_SECRET: 'e2e-secret-0123456789abcdef-0123456789abcdef' }), { logger: false })
  t.teardown(() => app.close())
  const module = await app.inject('/sessionkit/web-storage/index.js')
  t.equal(module.statusCode, 200)
  t.match(module.headers['content-type'], /^text\/javascript/)
  t.match(module.body, /createSessionClient/)
  t.equal((await app.inject('/sessionkit/web-storage/missing.js')).statusCode, 404)
  t.equal((await app.inject('/sessionkit/web-storage/..%2Fpackage.json')).statusCode, 404)
  t.equal((await app.inject('/sessionkit/web-storage/index.d.ts')).statusCode, 404)
})
