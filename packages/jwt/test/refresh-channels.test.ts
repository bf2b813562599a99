import t from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { MemoryStore } from '@sessionkit/core'
import { sessionkitJwt, type JwtSessionOptions } from '@sessionkit/jwt'
import { buildJwtApp, bearer } from './fixtures/app.js'
import { HS_KEY } from './fixtures/keys.js'

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/

/** The Set-Cookie lines of a response, by cookie name. */
function setCookies (response: LightMyRequestResponse): Map<string, string> {
  const lines = [response.headers['set-cookie'] ?? []].flat()
  return new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line]))
}

function valueOf (line: string | undefined): string | undefined {
  return line?.slice(line.indexOf('=') + 1, line.indexOf(';'))
}

async function cookieLogin (app: FastifyInstance): Promise<{ access: string, refresh: string, response: LightMyRequestResponse }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice' } })
  const cookies = setCookies(response)
  return { access: valueOf(cookies.get('sid')) as string, refresh: valueOf(cookies.get('sid-refresh')) as string, response }
}

t.test('cookie transport: the refresh token travels in an HttpOnly cookie of its own, sent only to the refresh route', async (t) => {
  const { app } = await buildJwtApp(t, { transport: 'cookie', refreshTokenTtl: '7d' })
  const { access, refresh, response } = await cookieLogin(app)
  t.match(access, /^ey/, 'the access token in the session cookie')
  t.match(refresh, REFRESH_TOKEN)
  t.equal(response.headers['x-refresh-token'], undefined, 'never in a header page scripts can read')
  t.equal(response.headers['access-control-expose-headers'], undefined)
  t.equal(response.headers['cache-control'], 'no-store', 'a response handing out tokens is never stored by a cache')
  t.equal(setCookies(response).get('sid-refresh'), `sid-refresh=${refresh}; Path=/refresh; HttpOnly; SameSite=Lax`, 'a browser-session cookie unless the session is remembered')

  const rotated = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${refresh}` } })
  t.equal(rotated.statusCode, 200)
  t.equal(rotated.headers['cache-control'], 'no-store')
  const next = setCookies(rotated)
  const nextAccess = valueOf(next.get('sid')) as string
  const nextRefresh = valueOf(next.get('sid-refresh')) as string
  t.match(nextRefresh, REFRESH_TOKEN)
  t.not(nextRefresh, refresh, 'rotated')
  t.equal(rotated.headers['x-refresh-token'], undefined)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${nextAccess}` } })).json().user, 'alice', 'the new access token serves')

  const reused = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${refresh}` } })
  t.equal(reused.statusCode, 200, 'the spent one within the grace window gets the same answer')
  t.equal(valueOf(setCookies(reused).get('sid-refresh')), nextRefresh)
})

t.test('cookie transport: a refused refresh leaves the refresh cookie alone; a token sent in the header instead is refused', async (t) => {
  const { app, clock } = await buildJwtApp(t, { transport: 'cookie', refreshGrace: 0 })
  const { refresh } = await cookieLogin(app)
  const inHeader = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': refresh } })
  t.equal(inHeader.statusCode, 401, 'only the cookie channel is read')
  t.equal(inHeader.json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL')

  const first = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${refresh}` } })
  t.equal(first.statusCode, 200, 'the header attempt cost the cookie nothing')
  clock.advance(1)
  const reused = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${refresh}` } })
  t.equal(reused.statusCode, 401, 'a spent one past the grace window')
  t.equal(reused.headers['cache-control'], 'no-store')
  // a browser applies every Set-Cookie in the order the answers arrive: clearing here could take away
  // the refresh cookie a login (or the first refresh) has just handed out
  t.equal(reused.headers['set-cookie'], undefined, 'nothing said of the cookie')
  const latest = valueOf(setCookies(first).get('sid-refresh')) as string
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${latest}` } })).statusCode, 401, 'the reuse ended the family')

  const malformed = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: 'sid-refresh=nonsense' } })
  t.equal(malformed.statusCode, 401)
  t.equal(malformed.headers['set-cookie'], undefined, 'nor of a malformed one')
  const twice = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${latest}; sid-refresh=${refresh}` } })
  t.equal(twice.statusCode, 400, 'two refresh cookies: refused, not guessed')
  t.equal(twice.json().code, 'FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL')
})

t.test('cookie transport: a refresh sent with the family a login then ended, answered after the login, leaves the login\'s cookies in the browser', async (t) => {
  const { app } = await buildJwtApp(t, { transport: 'cookie' })
  const alice = await cookieLogin(app)
  // a browser's cookie jar, each answer applied in the order the answers arrive
  const jar = new Map<string, string>()
  const apply = (response: LightMyRequestResponse): void => {
    for (const [name, line] of setCookies(response)) {
      const value = valueOf(line) as string
      if (value === '') jar.delete(name)
      else jar.set(name, value)
    }
  }
  apply(alice.response)
  // a background refresh leaves with alice's refresh cookie; bob's login (regenerate: alice's family
  // ends) overtakes it
  const bob = await app.inject({ method: 'POST', url: '/login', payload: { user: 'bob' }, headers: { cookie: `sid=${alice.access}` } })
  t.equal(bob.statusCode, 200)
  apply(bob)
  const bobs = new Map(jar)
  t.not(bobs.get('sid-refresh'), alice.refresh, 'the login handed out a refresh cookie of a new family')
  const late = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${alice.refresh}` } })
  t.equal(late.statusCode, 401, 'alice\'s family is over')
  apply(late)
  t.same(jar, bobs, 'the browser still holds what the login gave it')
  const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${jar.get('sid-refresh') as string}` } })
  t.equal(refreshed.statusCode, 200, 'and refreshes with it')
})

t.test('cookie transport: a request in flight when a login ends its family leaves the login\'s cookies in the browser', async (t) => {
  let arrived!: () => void
  let release!: () => void
  const inside = new Promise<void>((resolve) => { arrived = resolve })
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app } = await buildJwtApp(t, { transport: 'cookie' }, (app) => {
    app.post('/gated', async (request) => {
      request.session.set('late', true)
      arrived()
      await gate
      return { ok: true }
    })
  })
  const alice = await cookieLogin(app)
  const late = app.inject({ method: 'POST', url: '/gated', headers: { cookie: `sid=${alice.access}` } })
  await inside
  // bob signs in on the same browser while alice's change is on its way (regenerate: her family ends)
  const bob = await app.inject({ method: 'POST', url: '/login', payload: { user: 'bob' }, headers: { cookie: `sid=${alice.access}` } })
  const bobs = setCookies(bob)
  t.type(valueOf(bobs.get('sid')), 'string')
  release()
  const answer = await late
  t.equal(answer.statusCode, 200)
  t.equal(answer.headers['set-cookie'], undefined, 'nothing issued for the ended family, and neither cookie cleared')
  const me = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${valueOf(bobs.get('sid')) as string}` } })
  t.equal(me.json().user, 'bob', 'bob is still signed in')
  const replay = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${alice.access}` } })
  t.equal(replay.statusCode, 401, 'alice\'s token is dead')
})

t.test('cookie transport: the refresh route has the CSRF guard', async (t) => {
  const { app } = await buildJwtApp(t, { transport: 'cookie' })
  const { refresh } = await cookieLogin(app)
  const cookie = `sid-refresh=${refresh}`
  for (const headers of [{ origin: 'https://evil.test' }, { 'sec-fetch-site': 'cross-site' }]) {
    const response = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie, ...headers } })
    t.equal(response.statusCode, 403, JSON.stringify(headers))
    t.equal(response.json().code, 'FST_SESSIONKIT_CROSS_SITE_REQUEST')
    t.equal(response.headers['set-cookie'], undefined, 'nothing rotated, nothing cleared')
  }
  const own = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie, origin: 'http://localhost:80', host: 'localhost:80' } })
  t.equal(own.statusCode, 200, 'the app\'s own origin refreshes, and the family was untouched by the refusals')

  const { app: open } = await buildJwtApp(t, { transport: 'cookie', cookie: { csrf: false } })
  const login = await cookieLogin(open)
  t.equal((await open.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${login.refresh}`, origin: 'https://evil.test' } })).statusCode, 200, 'csrf: false turns it off here too')
})

t.test('cookie transport: logout and regenerate clear the refresh cookie, or replace it', async (t) => {
  const { app } = await buildJwtApp(t, { transport: 'cookie' })
  const { access, refresh } = await cookieLogin(app)
  const again = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice' }, headers: { cookie: `sid=${access}` } })
  const replaced = valueOf(setCookies(again).get('sid-refresh')) as string
  t.match(replaced, REFRESH_TOKEN, 'a new login (regenerate) replaces it')
  t.not(replaced, refresh)
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${refresh}` } })).statusCode, 401, 'the old family is over')

  const current = valueOf(setCookies(again).get('sid')) as string
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: `sid=${current}` } })
  t.equal(logout.statusCode, 204)
  const cleared = setCookies(logout)
  t.match(cleared.get('sid'), /^sid=; Max-Age=0; Path=\//)
  t.match(cleared.get('sid-refresh'), /^sid-refresh=; Max-Age=0; Path=\/refresh;/)
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${replaced}` } })).statusCode, 401)

  // a session that ends and is issued again without a user: the old refresh cookie goes
  const { app: anonymous } = await buildJwtApp(t, { transport: 'cookie' }, (app) => {
    app.post('/guest', async (request) => {
      await request.session.regenerate()
      request.session.set('theme', 'dark')
      return { ok: true }
    })
  })
  const guest = await cookieLogin(anonymous)
  const demoted = await anonymous.inject({ method: 'POST', url: '/guest', headers: { cookie: `sid=${guest.access}` } })
  t.match(valueOf(setCookies(demoted).get('sid')), /^ey/, 'a new token without a user')
  t.match(setCookies(demoted).get('sid-refresh'), /^sid-refresh=; Max-Age=0;/, 'and no refresh token left behind')

  const expired = await app.inject({ method: 'GET', url: '/me', headers: { cookie: 'sid=ey.invalid.token' } })
  t.equal(setCookies(expired).has('sid-refresh'), false, 'an invalid access token alone leaves the refresh cookie be: refreshing is what it is for')
})

t.test('cookie transport: __Host- session cookie, __Secure- refresh cookie on the prefixed refresh route', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(async (scope) => {
    await scope.register(sessionkitJwt, { keys: [HS_KEY], store, transport: 'cookie', cookie: { hostPrefix: true, cookie: { sameSite: 'strict' } }, refreshRoute: '/token' })
    scope.post('/login', async (request) => {
      request.session.set('userId', 'alice')
      return { ok: true }
    })
  }, { prefix: '/auth/' })
  const login = await app.inject({ method: 'POST', url: '/auth/login' })
  const cookies = setCookies(login)
  t.match(cookies.get('__Host-sid'), /; Path=\/; HttpOnly; Secure; SameSite=Strict$/)
  const line = cookies.get('__Secure-sid-refresh') as string
  t.match(line, /^__Secure-sid-refresh=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/auth\/token; HttpOnly; Secure; SameSite=Strict$/)
  const refreshed = await app.inject({ method: 'POST', url: '/auth/token', headers: { cookie: `__Secure-sid-refresh=${valueOf(line) as string}` } })
  t.equal(refreshed.statusCode, 200, 'the route is where the cookie\'s path says')
  t.ok(setCookies(refreshed).has('__Secure-sid-refresh'))
})

t.test('refreshRoute: false hands out no refresh token, by either channel', async (t) => {
  for (const transport of ['bearer', 'cookie'] as const) {
    const { app } = await buildJwtApp(t, { transport, refreshRoute: false })
    const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice' } })
    t.equal(login.statusCode, 200)
    t.equal(login.headers['x-refresh-token'], undefined, transport)
    t.equal(setCookies(login).has('sid-refresh'), false, transport)
    t.equal((await app.inject({ method: 'POST', url: '/refresh' })).statusCode, 404, transport)
    t.equal((await app.sessionkit.listUserSessions('alice')).length, 1, 'the login is still listed')
  }
})

t.test('bearer options: the response header and its CORS exposure', async (t) => {
  const options: Partial<JwtSessionOptions> = { bearer: { responseHeader: 'X-Access-Token', exposeHeader: false } }
  const { app } = await buildJwtApp(t, options)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice' } })
  const token = login.headers['x-access-token'] as string
  t.match(token, /^ey/)
  t.equal(login.headers['x-session-token'], undefined)
  t.match(login.headers['x-refresh-token'], REFRESH_TOKEN)
  t.equal(login.headers['access-control-expose-headers'], undefined, 'not exposed')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json().user, 'alice')
  const refused = await app.inject({ method: 'GET', url: '/me', headers: bearer('x.y.z') })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['x-access-token'], '', 'a refused token is cleared in the configured header')

  const { app: exposed } = await buildJwtApp(t)
  const defaults = await exposed.inject({ method: 'POST', url: '/login', payload: { user: 'alice' } })
  t.equal(defaults.headers['access-control-expose-headers'], 'x-session-token, x-refresh-token', 'exposed by default')
})
