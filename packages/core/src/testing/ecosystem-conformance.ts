import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import Fastify from 'fastify'
import type { Test } from 'tap'
import { ManualClock } from './clock.js'
import { harnessStore, type SessionHarness } from './session-conformance.js'

const SECRET = 'ecosystem-secret-0123456789abcdef-0123456789ab'
const USERS: Record<string, { id: string, password: string }> = { alice: { id: 'u-alice', password: 'alice-secret' } }

/**
 * The plugins written against `request.session.get/set/regenerate`, run unchanged on a mechanism:
 * `@fastify/passport` (local strategy: log in, stay logged in, log out), `@fastify/flash`, and
 * `@fastify/csrf-protection` in its `@fastify/secure-session` mode. They are loaded from the caller's
 * dependencies, as a user would have them.
 */
export function ecosystemConformance (t: Test, harness: SessionHarness): void {
  async function setup (t: Test): Promise<{ app: FastifyInstance, call: (request: InjectOptions) => Promise<LightMyRequestResponse> }> {
    const { Authenticator } = await import('@fastify/passport')
    const { Strategy: LocalStrategy } = await import('passport-local')
    const csrf = (await import('@fastify/csrf-protection')).default
    const clock = new ManualClock()
    const store = await harnessStore(t, harness, clock)
    const app = Fastify()
    t.teardown(() => app.close())
    await harness.register(app, {
      secret: SECRET,
      store,
      now: clock.now,
      idleTimeout: 600_000,
      absoluteTimeout: 3_600_000,
      userId: (data) => typeof data.passport === 'string' ? data.passport : null
    })
    const passport = new Authenticator()
    passport.use('local', new LocalStrategy((username, password, done) => {
      const user = USERS[username]
      done(null, user !== undefined && user.password === password ? { id: user.id, name: username } : false)
    }))
    passport.registerUserSerializer(async (user: { id: string }) => user.id)
    passport.registerUserDeserializer(async (id: string) => ({ id, name: id.slice(2) }))
    await app.register(passport.initialize())
    await app.register(passport.secureSession())
    await app.register(csrf, { sessionPlugin: '@fastify/secure-session' })

    app.post('/login', { preValidation: passport.authenticate('local', { authInfo: false }) }, async (request) => ({ user: request.user }))
    app.get('/me', async (request, reply) => request.user === undefined || request.user === null ? reply.code(401).send({ user: null }) : { user: request.user })
    app.post('/logout', async (request) => {
      await request.logOut()
      return { user: request.user ?? null }
    })
    app.post('/flash', async (request) => {
      request.flash('info', 'saved')
      return { ok: true }
    })
    app.get('/flash', async (_request, reply) => ({ info: reply.flash('info') }))
    app.get('/csrf', async (_request, reply) => ({ token: reply.generateCsrf() }))
    app.post('/protected', { onRequest: app.csrfProtection }, async () => ({ ok: true }))
    await app.ready()

    let credential: string | null = null
    async function call (request: InjectOptions): Promise<LightMyRequestResponse> {
      const response = await app.inject(credential === null ? request : harness.attach(request, credential))
      const issued = harness.credentialOf(response)
      if (issued !== undefined) credential = issued
      return response
    }
    return { app, call }
  }

  t.test('@fastify/passport: log in with a local strategy, stay logged in, log out', async (t) => {
    const { call } = await setup(t)
    t.equal((await call({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'wrong' } })).statusCode, 401)
    const login = await call({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'alice-secret' } })
    t.same([login.statusCode, login.json()], [200, { user: { id: 'u-alice', name: 'alice' } }])
    t.same((await call({ method: 'GET', url: '/me' })).json(), { user: { id: 'u-alice', name: 'alice' } }, 'still logged in')
    t.same((await call({ method: 'POST', url: '/logout' })).json(), { user: null })
    t.equal((await call({ method: 'GET', url: '/me' })).statusCode, 401, 'logged out')
  })

  t.test('@fastify/passport regenerates on login: the credential before is dead after', async (t) => {
    const { app, call } = await setup(t)
    const anonymous = await call({ method: 'POST', url: '/flash' })
    const before = harness.credentialOf(anonymous)
    t.type(before, 'string')
    const login = await call({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'alice-secret' } })
    const after = harness.credentialOf(login)
    t.type(after, 'string')
    t.not(after, before)
    const old = await app.inject(harness.attach({ method: 'GET', url: '/me' }, before as string))
    t.equal(old.statusCode, 401)
  })

  t.test('@fastify/flash: a message set in one request is read once in the next', async (t) => {
    const { call } = await setup(t)
    await call({ method: 'POST', url: '/flash' })
    t.same((await call({ method: 'GET', url: '/flash' })).json(), { info: ['saved'] })
    t.same((await call({ method: 'GET', url: '/flash' })).json(), { info: [] })
  })

  t.test('@fastify/csrf-protection (secure-session mode): a token from the session passes; none or a forged one does not', async (t) => {
    const { call } = await setup(t)
    const { token } = (await call({ method: 'GET', url: '/csrf' })).json() as { token: string }
    t.type(token, 'string')
    t.equal((await call({ method: 'POST', url: '/protected', headers: { 'csrf-token': token } })).statusCode, 200)
    t.equal((await call({ method: 'POST', url: '/protected', headers: { 'csrf-token': 'forged' } })).statusCode, 403)
    t.equal((await call({ method: 'POST', url: '/protected' })).statusCode, 403)
  })
}
