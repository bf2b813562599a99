import t from 'tap'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { ecosystemConformance } from '@sessionkit/core/testing'
import { sessionkitJwt } from '@sessionkit/jwt'
import { HS_KEY, bearerHarness, cookieHarness } from './fixtures/keys.js'

t.test('ecosystemConformance: JWT over Bearer', async (t) => ecosystemConformance(t, bearerHarness()))
t.test('ecosystemConformance: JWT over a cookie', async (t) => ecosystemConformance(t, cookieHarness()))

t.test("the app's own @fastify/jwt beside the plugin: its tokens on opted-out routes, sessions on the others", async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyJwt, { secret: 'the-apps-own-api-secret-0123456789abcdef' })
  await app.register(sessionkitJwt, { keys: [HS_KEY] })
  app.post('/login', async (request) => {
    request.session.set('userId', 'alice')
    return { apiToken: app.jwt.sign({ scope: 'reports' }) }
  })
  app.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
  app.get('/api/reports', { config: { session: false } }, async (request) => {
    await request.jwtVerify()
    return { scope: (request.user as { scope: string }).scope }
  })
  const login = await app.inject({ method: 'POST', url: '/login' })
  const session = String(login.headers['x-session-token'])
  const api = login.json().apiToken as string
  const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` })
  t.same((await app.inject({ method: 'GET', url: '/me', headers: bearer(session) })).json(), { user: 'alice' })
  t.same((await app.inject({ method: 'GET', url: '/api/reports', headers: bearer(api) })).json(), { scope: 'reports' }, "the app's request.jwtVerify() on an opted-out route")
  const apiAsSession = await app.inject({ method: 'GET', url: '/me', headers: bearer(api) })
  t.equal(apiAsSession.statusCode, 401, 'a token the plugin did not issue is no session')
  t.equal(apiAsSession.json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL')
  t.equal((await app.inject({ method: 'GET', url: '/api/reports', headers: bearer(session) })).statusCode, 401, "a session token is not the app's API token")
})
