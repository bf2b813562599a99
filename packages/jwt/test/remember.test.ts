import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { MemoryStore, type StoredSession } from '@sessionkit/core'
import { ManualClock } from '@sessionkit/core/testing'
import { buildJwtApp, bearer, InterleavingStore } from './fixtures/app.js'

const DAY = 86_400_000

/** The Set-Cookie lines of a response, by cookie name. */
function setCookies (response: LightMyRequestResponse): Map<string, string> {
  const lines = [response.headers['set-cookie'] ?? []].flat()
  return new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line]))
}

function valueOf (line: string | undefined): string {
  return line?.slice(line.indexOf('=') + 1, line.indexOf(';')) as string
}

function routes (app: FastifyInstance): void {
  app.post<{ Body: { user: string, remember?: boolean } }>('/login-remember', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', request.body.user)
    if (request.body.remember !== false) request.session.remember()
    return { remembered: request.session.remembered }
  })
  app.post<{ Body: { on: unknown } }>('/remember', async (request) => {
    request.session.remember(request.body.on as boolean)
    return { remembered: request.session.remembered }
  })
  app.get('/remembered', async (request) => ({ remembered: request.session.remembered }))
  app.post('/regenerate', async (request) => {
    await request.session.regenerate(['userId'])
    return { remembered: request.session.remembered }
  })
}

const OPTIONS = { transport: 'cookie' as const, refreshTokenTtl: '1d', remember: { refreshTokenTtl: '30d' } }

t.test('cookie transport: a remembered login gets persistent cookies and a family that lives remember.refreshTokenTtl', async (t) => {
  const { app, clock } = await buildJwtApp(t, OPTIONS, routes)
  const login = await app.inject({ method: 'POST', url: '/login-remember', payload: { user: 'alice' } })
  t.same(login.json(), { remembered: true })
  const cookies = setCookies(login)
  t.match(cookies.get('sid'), /; Max-Age=900; Path=\/; HttpOnly; SameSite=Lax$/, 'the access cookie kept until the token expires')
  t.match(cookies.get('sid-refresh'), new RegExp(`; Max-Age=${30 * 86_400}; Path=/refresh; HttpOnly; SameSite=Lax$`), 'the refresh cookie kept for the family\'s 30 days')
  const access = valueOf(cookies.get('sid'))
  t.same((await app.inject({ method: 'GET', url: '/remembered', headers: { cookie: `sid=${access}` } })).json(), { remembered: true }, 'the token says so')

  const ordinary = await app.inject({ method: 'POST', url: '/login-remember', payload: { user: 'bob', remember: false } })
  t.same(ordinary.json(), { remembered: false })
  t.match(setCookies(ordinary).get('sid'), /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, 'browser-session cookies')
  t.match(setCookies(ordinary).get('sid-refresh'), /^sid-refresh=[^;]+; Path=\/refresh; HttpOnly; SameSite=Lax$/)

  clock.advance(2 * DAY)
  const refused = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${valueOf(setCookies(ordinary).get('sid-refresh'))}` } })
  t.equal(refused.statusCode, 401, 'the ordinary family ended after refreshTokenTtl (1 day)')
  const rotated = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${valueOf(cookies.get('sid-refresh'))}` } })
  t.equal(rotated.statusCode, 200, 'the remembered one lives on')
  t.match(setCookies(rotated).get('sid-refresh'), new RegExp(`; Max-Age=${28 * 86_400}; Path=/refresh;`), 'kept for what the family has left, not 30 days more')
  t.match(setCookies(rotated).get('sid'), /; Max-Age=900; /)
  const next = valueOf(setCookies(rotated).get('sid'))
  t.same((await app.inject({ method: 'GET', url: '/remembered', headers: { cookie: `sid=${next}` } })).json(), { remembered: true }, 'the refreshed token is remembered too')

  const again = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${valueOf(cookies.get('sid-refresh'))}` } })
  t.match(setCookies(again).get('sid-refresh'), new RegExp(`; Max-Age=${28 * 86_400}; `), 'the grace window\'s repeated answer, kept as long')

  clock.advance(28 * DAY)
  const latest = valueOf(setCookies(rotated).get('sid-refresh'))
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${latest}` } })).statusCode, 401, 'ended 30 days after login')
})

t.test('remember() on a live session re-issues its tokens, the family started again from the same login; remember(false) shortens it again', async (t) => {
  const { app, clock, store } = await buildJwtApp(t, { refreshTokenTtl: '1d', remember: { refreshTokenTtl: '30d' } }, routes)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'carol' } })
  const token = login.headers['x-session-token'] as string
  const refresh = login.headers['x-refresh-token'] as string
  const [before] = await app.sessionkit.listUserSessions('carol')
  clock.advance(60_000)
  const remember = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: bearer(token) })
  t.same(remember.json(), { remembered: true })
  const remembered = remember.headers['x-session-token'] as string
  const renewed = remember.headers['x-refresh-token'] as string
  t.ok(remembered, 'a new token')
  t.not(remembered, token)
  t.ok(renewed, 'and a new refresh token')
  t.not(renewed, refresh)
  const sessions = await app.sessionkit.listUserSessions('carol')
  t.equal(sessions.length, 1, 'one family still')
  t.not(sessions[0]?.id, before?.id, 'a new one')
  t.equal(sessions[0]?.createdAt, before?.createdAt, 'started at the same login')
  t.equal((await store.get(sessions[0]?.id as string))?.remembered, true, 'the family is remembered')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': refresh } })).statusCode, 401, 'the old refresh token is over')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).statusCode, 401, 'and the old family\'s access token')
  const unchanged = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: bearer(remembered) })
  t.equal(unchanged.headers['x-session-token'], undefined, 'remembered already: nothing re-issued')

  clock.advance(2 * DAY)
  const rotated = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': renewed } })
  t.equal(rotated.statusCode, 200, 'past the ordinary family lifetime, still refreshed')
  const forget = await app.inject({ method: 'POST', url: '/remember', payload: { on: false }, headers: bearer(rotated.headers['x-session-token'] as string) })
  t.same(forget.json(), { remembered: false })
  const [ordinary] = await app.sessionkit.listUserSessions('carol')
  t.equal((await store.get(ordinary?.id as string))?.remembered, false, 'no longer remembered: it ends refreshTokenTtl after login, which is past')
  clock.advance(1)
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': forget.headers['x-refresh-token'] as string } })).statusCode, 401, 'an ordinary family two days after login is over')
})

t.test('cookie transport: remember() on a live session makes both cookies outlive the browser session at once', async (t) => {
  const { app, clock } = await buildJwtApp(t, OPTIONS, routes)
  const login = await app.inject({ method: 'POST', url: '/login-remember', payload: { user: 'dave', remember: false } })
  t.match(setCookies(login).get('sid-refresh'), /^sid-refresh=[^;]+; Path=\/refresh; HttpOnly; SameSite=Lax$/, 'a browser-session refresh cookie')
  clock.advance(600_000)
  const access = valueOf(setCookies(login).get('sid'))
  const remember = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: { cookie: `sid=${access}` } })
  t.same(remember.json(), { remembered: true })
  const cookies = setCookies(remember)
  t.match(cookies.get('sid'), /; Max-Age=900; Path=\/; HttpOnly; SameSite=Lax$/, 'the access cookie kept until its token expires')
  t.match(cookies.get('sid-refresh'), new RegExp(`; Max-Age=${30 * 86_400 - 600}; Path=/refresh; HttpOnly; SameSite=Lax$`), 'the refresh cookie kept for what is left of 30 days from login')
  // the browser closed and opened again: the refresh cookie is still there two days on
  clock.advance(2 * DAY)
  const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: { cookie: `sid-refresh=${valueOf(cookies.get('sid-refresh'))}` } })
  t.equal(refreshed.statusCode, 200)
  t.match(setCookies(refreshed).get('sid-refresh'), new RegExp(`; Max-Age=${28 * 86_400 - 600}; `))

  const forget = await app.inject({ method: 'POST', url: '/remember', payload: { on: false }, headers: { cookie: `sid=${valueOf(setCookies(refreshed).get('sid'))}` } })
  t.same(forget.json(), { remembered: false })
  t.match(setCookies(forget).get('sid'), /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, 'browser-session cookies again')
  t.match(setCookies(forget).get('sid-refresh'), /^sid-refresh=[^;]+; Path=\/refresh; HttpOnly; SameSite=Lax$/)
})

t.test('remember() on a session whose family ended while its request ran issues nothing', async (t) => {
  const { app, store } = await buildJwtApp(t, { refreshTokenTtl: '1d', remember: { refreshTokenTtl: '30d' } }, (app) => {
    routes(app)
    app.post('/remember-after-logout', async (request) => {
      request.session.remember()
      // a logout elsewhere ends the family before this request's answer
      const [family] = await app.sessionkit.listUserSessions('erin')
      await store.destroy(family?.id as string)
      return { ok: true }
    })
  })
  const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'erin' } })
  const late = await app.inject({ method: 'POST', url: '/remember-after-logout', headers: bearer(login.headers['x-session-token'] as string) })
  t.equal(late.statusCode, 200)
  t.equal(late.headers['x-session-token'], undefined, 'no new token, and nothing said of the old')
  t.equal(late.headers['x-refresh-token'], undefined)
  t.same(await app.sessionkit.listUserSessions('erin'), [], 'no family brought back')
})

async function interleaved (t: Test): Promise<{ app: FastifyInstance, store: InterleavingStore, token: string }> {
  const clock = new ManualClock()
  const store = new InterleavingStore({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildJwtApp(t, { store, now: clock.now, refreshTokenTtl: '1d', remember: { refreshTokenTtl: '30d' } }, routes)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'fay' } })
  return { app, store, token: login.headers['x-session-token'] as string }
}

t.test('remember() on a live session whose family a logout ends after it was read starts no new family', async (t) => {
  const { app, store, token } = await interleaved(t)
  const [family] = await app.sessionkit.listUserSessions('fay')
  // the logout of another tab lands between the read of the family and its new start
  store.between = async (id) => {
    store.between = undefined
    t.equal(id, family?.id, 'the family was read')
    t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 204)
  }
  const late = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: bearer(token) })
  t.equal(late.statusCode, 200)
  t.equal(late.headers['x-session-token'], undefined, 'no new token, and nothing said of the old')
  t.equal(late.headers['x-refresh-token'], undefined)
  t.same(await app.sessionkit.listUserSessions('fay'), [], 'the logout holds: no family outlives it')
})

t.test('remember() on a live session whose family changes after it was read reads it again', async (t) => {
  const { app, store, token } = await interleaved(t)
  let changes = 0
  // a change of the session elsewhere (a refresh, another request) lands between the read and the new start
  store.between = async (id) => {
    changes++
    if (changes === 2) store.between = undefined
    const current = await MemoryStore.prototype.get.call(store, id) as StoredSession
    await store.set(id, { ...current, version: current.version + 1 }, current.version, 60_000)
  }
  const remember = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: bearer(token) })
  t.equal(changes, 2, 'two changes landed; the third read claimed the family')
  t.equal(remember.statusCode, 200)
  t.ok(remember.headers['x-session-token'], 'the family started again, with a new token pair')
  t.ok(remember.headers['x-refresh-token'])
  t.equal((await app.sessionkit.listUserSessions('fay')).length, 1, 'one family')

  store.between = async (id) => {
    const current = await MemoryStore.prototype.get.call(store, id) as StoredSession
    await store.set(id, { ...current, version: current.version + 1 }, current.version, 60_000)
  }
  const contended = await app.inject({ method: 'POST', url: '/remember', payload: { on: false }, headers: bearer(remember.headers['x-session-token'] as string) })
  t.equal(contended.statusCode, 409, 'a family that changes at every read gives up with a coded 409')
  t.equal(contended.json().code, 'FST_SESSIONKIT_WRITE_CONFLICT')
  t.equal(contended.headers['x-session-token'], undefined)
})

t.test('regenerate() keeps a session remembered; destroy() and bad input', async (t) => {
  const { app } = await buildJwtApp(t, OPTIONS, routes)
  const login = await app.inject({ method: 'POST', url: '/login-remember', payload: { user: 'dan' } })
  const access = valueOf(setCookies(login).get('sid'))
  const regenerated = await app.inject({ method: 'POST', url: '/regenerate', headers: { cookie: `sid=${access}` } })
  t.same(regenerated.json(), { remembered: true })
  t.match(setCookies(regenerated).get('sid-refresh'), new RegExp(`; Max-Age=${30 * 86_400}; `), 'a new family, remembered from its start')
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: `sid=${valueOf(setCookies(regenerated).get('sid'))}` } })
  t.equal(logout.statusCode, 204)
  const bad = await app.inject({ method: 'POST', url: '/remember', payload: { on: 1 } })
  t.equal(bad.statusCode, 500)
  t.equal(bad.json().code, 'FST_SESSIONKIT_INVALID_VALUE')
  const anonymous = await app.inject({ method: 'POST', url: '/remember', payload: { on: true } })
  t.same(anonymous.json(), { remembered: true })
  t.equal(anonymous.headers['set-cookie'], undefined, 'an empty session issues nothing')
})

t.test('the remember option is checked at registration', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['30d', 'Invalid option "remember": must be an object: { refreshTokenTtl }'],
    [{ refreshTokenTtl: 'soon' }, 'Invalid option "remember.refreshTokenTtl": must be a positive number of milliseconds or a text such as "15m", "12h", "30d"'],
    [{ refreshTokenTtl: '1h' }, 'Invalid option "remember.refreshTokenTtl": must not be shorter than refreshTokenTtl']
  ]
  for (const [remember, message] of cases) {
    await t.rejects(buildJwtApp(t, { remember: remember as never }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message }, JSON.stringify(remember))
  }
  // without refresh tokens, remembering changes what the token says and nothing else
  const { app } = await buildJwtApp(t, { refreshTokenTtl: false, remember: { refreshTokenTtl: '30d' } }, routes)
  const login = await app.inject({ method: 'POST', url: '/login-remember', payload: { user: 'eve' } })
  t.same(login.json(), { remembered: true })
  t.equal(login.headers['x-refresh-token'], undefined)
})
