import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { sessionkit } from '@sessionkit/core'
import { headerTransport } from './fixtures/transport.js'
import { RedisStore } from '@sessionkit/redis'
import { NO_REDIS, REDIS_URL } from './fixtures/redis-server.js'

/** Log in, read, log out, and revoke a user everywhere: the same routes on every instance. */
function accountRoutes (app: FastifyInstance): void {
  app.post<{ Body: { user: string } }>('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', request.body.user)
    return { ok: true }
  })
  app.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  app.post<{ Body: { user: string } }>('/revoke', async (request) => ({ revoked: await app.sessionkit.revokeUserSessions(request.body.user) }))
}

const SECRET = 'two-instances-secret-0123456789abcdef-0123456'
const transport = headerTransport()

async function instance (t: Test, prefix: string): Promise<string> {
  const store = new RedisStore({ connection: REDIS_URL, prefix })
  t.teardown(() => store.close())
  await store.ready()
  const app: FastifyInstance = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, { secret: SECRET, store, transports: [transport] })
  accountRoutes(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

async function call (base: string, method: string, path: string, credential?: string, body?: unknown): Promise<{ status: number, credential: string | null }> {
  const headers: Record<string, string> = {}
  if (credential !== undefined) headers['x-session-id'] = credential
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) })
  await response.arrayBuffer()
  return { status: response.status, credential: response.headers.get('x-session-id') }
}

t.test('two apps on different ports share sessions, logouts and revocations through Redis', { skip: NO_REDIS }, async (t) => {
  const prefix = `sk-two-${randomBytes(6).toString('hex')}:`
  const [a, b] = [await instance(t, prefix), await instance(t, prefix)]
  const alice = (await call(a, 'POST', '/login', undefined, { user: 'alice' })).credential as string
  t.equal((await call(b, 'GET', '/me', alice)).status, 200, 'created on A, live on B')
  t.equal((await call(a, 'POST', '/logout', alice)).status, 200)
  t.equal((await call(b, 'GET', '/me', alice)).status, 401, 'logged out on A, dead on B')
  const [first, second] = [(await call(a, 'POST', '/login', undefined, { user: 'bob' })).credential as string, (await call(b, 'POST', '/login', undefined, { user: 'bob' })).credential as string]
  const carol = (await call(b, 'POST', '/login', undefined, { user: 'carol' })).credential as string
  t.equal((await call(a, 'POST', '/revoke', undefined, { user: 'bob' })).status, 200)
  t.equal((await call(b, 'GET', '/me', first)).status, 401, 'user-wide revocation on A honoured by B')
  t.equal((await call(b, 'GET', '/me', second)).status, 401)
  t.equal((await call(a, 'GET', '/me', carol)).status, 200, 'another user untouched')
})

t.test('JWT sessions on two instances sharing Redis: a logout and a user-wide revocation on one are honoured by the other', { skip: NO_REDIS }, async (t) => {
  const { sessionkitJwt } = await import('@sessionkit/jwt')
  const prefix = `sk-two-jwt-${randomBytes(6).toString('hex')}:`
  async function jwtInstance (): Promise<FastifyInstance> {
    const store = new RedisStore({ connection: REDIS_URL, prefix })
    t.teardown(() => store.close())
    await store.ready()
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionkitJwt, { keys: [{ kid: 'shared', algorithm: 'HS256', secret: SECRET }], store })
    accountRoutes(app)
    return app
  }
  const [a, b] = [await jwtInstance(), await jwtInstance()]
  const token = async (app: FastifyInstance, user: string): Promise<string> => String((await app.inject({ method: 'POST', url: '/login', payload: { user } })).headers['x-session-token'])
  const me = async (app: FastifyInstance, value: string): Promise<number> => (await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${value}` } })).statusCode
  const alice = await token(a, 'alice')
  t.equal(await me(b, alice), 200, 'issued by A, accepted by B')
  await a.inject({ method: 'POST', url: '/logout', headers: { authorization: `Bearer ${alice}` } })
  t.equal(await me(b, alice), 401, 'logged out on A, refused by B')
  const [bob1, bob2, carol] = [await token(a, 'bob'), await token(b, 'bob'), await token(b, 'carol')]
  await a.inject({ method: 'POST', url: '/revoke', payload: { user: 'bob' } })
  t.equal(await me(b, bob1), 401, 'a user-wide revocation on A reaches B')
  t.equal(await me(b, bob2), 401)
  t.equal(await me(a, carol), 200, 'another user untouched')
})
