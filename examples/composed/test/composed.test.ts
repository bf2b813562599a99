import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildComposedApp } from '../src/app.js'

const secret = 'composed-secret-0123456789abcdef-0123456789abc'
const login = { username: 'alice', password: 'alice-secret' }

async function sessions (t: Test): Promise<{ app: FastifyInstance, cookie: string, header: string, token: string }> {
  const app = await buildComposedApp({ secret })
  t.teardown(() => app.close())
  const web = await app.inject({ method: 'POST', url: '/login', payload: login })
  const api = await app.inject({ method: 'POST', url: '/api/login', payload: login })
  const partner = await app.inject({ method: 'POST', url: '/partner/login', payload: login })
  return {
    app,
    cookie: String(web.headers['set-cookie']).split(';')[0] as string,
    header: String(api.headers['x-session-id']),
    token: String(partner.headers['x-session-token'])
  }
}

const me = {
  web: (app: FastifyInstance, cookie: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/me', headers: { cookie } }),
  api: (app: FastifyInstance, header: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/api/me', headers: { 'x-session-id': header } }),
  partner: (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/partner/me', headers: { authorization: `Bearer ${token}` } })
}

t.test('each scope speaks its own mechanism, and only its own', async (t) => {
  const { app, cookie, header, token } = await sessions(t)
  t.match(cookie, /^sid=/)
  t.same((await me.web(app, cookie)).json(), { user: 'alice' })
  t.same((await me.api(app, header)).json(), { user: 'alice' })
  t.same((await me.partner(app, token)).json(), { user: 'alice' })
  t.equal((await app.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).statusCode, 401, 'a cookie means nothing to /api')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': header } })).statusCode, 401, 'a header means nothing to /')
  t.equal((await app.inject({ method: 'GET', url: '/partner/me', headers: { 'x-session-id': header } })).statusCode, 401)
  const listed = (await me.web(app, cookie), await app.inject({ method: 'GET', url: '/sessions', headers: { cookie } })).json()
  t.equal(listed.length, 3, 'one store lists the user\'s sessions of every mechanism')
})

for (const from of ['web', 'api', 'partner'] as const) {
  t.test(`POST /logout-all from ${from} ends the user's sessions in all three`, async (t) => {
    const { app, cookie, header, token } = await sessions(t)
    const bob = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'bob', password: 'bob-secret' } })
    const request = {
      web: { url: '/logout-all', headers: { cookie } },
      api: { url: '/api/logout-all', headers: { 'x-session-id': header } },
      partner: { url: '/partner/logout-all', headers: { authorization: `Bearer ${token}` } }
    }[from]
    t.equal((await app.inject({ method: 'POST', ...request })).statusCode, 204)
    t.equal((await me.web(app, cookie)).statusCode, 401)
    t.equal((await me.api(app, header)).statusCode, 401)
    t.equal((await me.partner(app, token)).statusCode, 401)
    t.equal((await me.api(app, String(bob.headers['x-session-id']))).statusCode, 200, 'bob is untouched')
  })
}

t.test('wrong passwords and missing sessions are 401 in every scope; a store of your own is used', async (t) => {
  const { MemoryStore } = await import('@sessionkit/core')
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const app = await buildComposedApp({ secret, store, logger: false })
  t.teardown(() => app.close())
  for (const prefix of ['', '/api', '/partner']) {
    t.equal((await app.inject({ method: 'POST', url: `${prefix}/login`, payload: { username: 'alice', password: 'nope' } })).statusCode, 401)
    for (const [method, url] of [['GET', '/me'], ['POST', '/logout-all'], ['GET', '/sessions']] as const) {
      t.equal((await app.inject({ method, url: prefix + url })).statusCode, 401, `${method} ${prefix}${url}`)
    }
  }
  await app.inject({ method: 'POST', url: '/api/login', payload: login })
  t.equal((await store.listUserSessions('alice')).length, 1)
})
