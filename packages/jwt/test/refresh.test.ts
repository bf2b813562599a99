import t from 'tap'
import { buildJwtApp, bearer } from './fixtures/app.js'
import { tokenOf } from './fixtures/keys.js'

async function login (app: import('fastify').FastifyInstance, user = 'alice'): Promise<{ access: string, refresh: string }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { user } })
  return { access: tokenOf(response) as string, refresh: String(response.headers['x-refresh-token']) }
}

async function refresh (app: import('fastify').FastifyInstance, token: string): Promise<{ status: number, access?: string, refresh?: string }> {
  const response = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': token } })
  if (response.statusCode !== 200) return { status: response.statusCode }
  return { status: 200, access: tokenOf(response) as string, refresh: String(response.headers['x-refresh-token']) }
}

t.test('a refresh rotates the pair; the data and the user carry over', async (t) => {
  const { app, clock } = await buildJwtApp(t)
  const first = await login(app)
  t.match(first.refresh, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
  const changed = tokenOf(await app.inject({ method: 'POST', url: '/set', headers: bearer(first.access), payload: { cart: ['book'] } })) as string
  t.not(changed, first.access)
  const replaced = await app.inject({ method: 'GET', url: '/me', headers: bearer(first.access) })
  t.same(replaced.json().data, { userId: 'alice' }, 'a replaced token lives until its expiry, with its older data')
  clock.advance(16 * 60_000)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(changed) })).statusCode, 401, 'access tokens expire')
  const second = await refresh(app, first.refresh)
  t.equal(second.status, 200)
  t.not(second.refresh, first.refresh)
  const me = await app.inject({ method: 'GET', url: '/me', headers: bearer(second.access as string) })
  t.same(me.json(), { user: 'alice', data: { userId: 'alice', cart: ['book'] } })
})

t.test('reuse of a spent refresh token revokes the whole family', async (t) => {
  const { app, clock } = await buildJwtApp(t, { refreshGrace: 5_000 })
  const r1 = await login(app)
  const r2 = await refresh(app, r1.refresh)
  t.equal(r2.status, 200)
  clock.advance(6_000)
  t.equal((await refresh(app, r1.refresh)).status, 401, 'R1 again, past the grace window')
  t.equal((await refresh(app, r2.refresh as string)).status, 401, 'R2 is dead too')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(r2.access as string) })).statusCode, 401, 'and its access token')
  t.same(await app.sessionkit.listUserSessions('alice'), [])
})

t.test('a spent or unknown refresh token of a live family is logged as a warning, without any token', async (t) => {
  const logs: string[] = []
  const { app, clock } = await buildJwtApp(t, { refreshGrace: 5_000 }, undefined, logs)
  const warnings = (): Array<Record<string, unknown>> => logs.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40)
  const r1 = await login(app)
  const [family] = await app.sessionkit.listUserSessions('alice')
  const r2 = await refresh(app, r1.refresh)
  t.equal((await refresh(app, r1.refresh)).status, 200, 'a retry within the grace window')
  t.same(warnings(), [], 'is no warning')
  clock.advance(6_000)
  t.equal((await refresh(app, r1.refresh)).status, 401)
  t.match(warnings(), [{ event: 'sessionkit.refresh-reuse', userId: 'alice', family: family?.id.slice(0, 8), msg: 'a spent or unknown refresh token of a live family: the family is revoked' }])
  t.equal(warnings()[0]?.family, family?.id.slice(0, 8))
  const bob = await login(app, 'bob')
  t.equal((await refresh(app, bob.refresh.slice(0, 44) + 'C'.repeat(43))).status, 401, 'a secret that does not match')
  t.match(warnings()[1], { event: 'sessionkit.refresh-reuse', userId: 'bob' })
  t.equal((await refresh(app, r2.refresh as string)).status, 401, 'a family already revoked')
  t.equal((await refresh(app, 'A'.repeat(43) + '.' + 'B'.repeat(43))).status, 401, 'no family')
  t.equal(warnings().length, 2, 'neither warns: no live family was hit')
  for (const secret of [r1.refresh, r2.refresh as string, bob.refresh, r1.access, bob.access, ...[r1.refresh, bob.refresh].flatMap((token) => token.split('.'))]) {
    t.notOk(logs.some((line) => line.includes(secret)), 'no token, nor any part of one, in the logs')
  }
})

t.test('twenty parallel refreshes with R1 never yield two live families', async (t) => {
  const { app, store } = await buildJwtApp(t)
  const r1 = await login(app)
  const answers = await Promise.all(Array.from({ length: 20 }, () => refresh(app, r1.refresh)))
  const ok = answers.filter((a) => a.status === 200)
  t.ok(ok.length >= 1)
  t.equal(new Set(ok.map((a) => a.refresh)).size, 1, 'every success got the same answer')
  t.equal(new Set(ok.map((a) => a.access)).size, 1)
  t.equal((await store.listUserSessions('alice')).length, 1, 'one family')
  const next = await refresh(app, ok[0]?.refresh as string)
  t.equal(next.status, 200, 'and it goes on')
})

t.test('a malformed, unknown or tampered refresh token: 401', async (t) => {
  const { app } = await buildJwtApp(t)
  const { refresh: token } = await login(app)
  for (const bad of ['', 'x', 'A'.repeat(43) + '.' + 'B'.repeat(43), token.slice(0, 44) + 'C'.repeat(43)]) {
    t.equal((await refresh(app, bad)).status, 401, bad.slice(0, 10))
  }
  t.equal((await app.inject({ method: 'POST', url: '/refresh' })).statusCode, 401, 'no header')
})

t.test('a family past refreshTokenTtl is gone', async (t) => {
  const { app, clock } = await buildJwtApp(t, { accessTokenTtl: '1m', refreshTokenTtl: '1h' })
  const { refresh: token } = await login(app)
  clock.advance(3_600_000 + 1_000)
  t.equal((await refresh(app, token)).status, 401)
})

t.test('without refresh tokens, no refresh route and no X-Refresh-Token', async (t) => {
  const { app } = await buildJwtApp(t, { refreshTokenTtl: false })
  const response = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice' } })
  t.equal(response.headers['x-refresh-token'], undefined)
  t.equal((await app.inject({ method: 'POST', url: '/refresh' })).statusCode, 404)
  t.equal((await app.sessionkit.listUserSessions('alice')).length, 1, 'the login is still listed')
})

t.test('revoking one session from the admin API ends its refresh and its access token', async (t) => {
  const { app } = await buildJwtApp(t)
  const phone = await login(app)
  const laptop = await login(app)
  const [first] = await app.sessionkit.listUserSessions('alice')
  t.equal(await app.sessionkit.revokeUserSession('alice', 'nope'), false)
  t.equal(await app.sessionkit.revokeUserSession('alice', first?.id as string), true)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(phone.access) })).statusCode, 401)
  t.equal((await refresh(app, phone.refresh)).status, 401)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(laptop.access) })).statusCode, 200)
  const third = await login(app)
  const list = await app.sessionkit.listUserSessions('alice')
  const keep = list.at(-1)?.id as string
  t.equal(await app.sessionkit.revokeUserSessions('alice', { except: keep }), 1)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(laptop.access) })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(third.access) })).statusCode, 200, 'the excepted one lives')
})
