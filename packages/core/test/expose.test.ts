import t from 'tap'
import Fastify from 'fastify'
import { RESERVED_HEADERS, credentialHeaderWriter, exposeHeader, forbidStoring, repeatsHeader } from '@sessionkit/core'
import { buildApp } from './fixtures/app.js'
import { credentialOf } from './fixtures/transport.js'

t.test('exposeHeader adds a header name once, keeping what is there', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/:case', async (request, reply) => {
    const { case: which } = request.params as { case: string }
    if (which === 'listed') reply.header('access-control-expose-headers', 'x-request-id, X-Session-Id')
    if (which === 'other') reply.header('access-control-expose-headers', 'x-request-id')
    exposeHeader(reply, 'x-session-id')
    exposeHeader(reply, 'x-session-id')
    return {}
  })
  t.equal((await app.inject('/fresh')).headers['access-control-expose-headers'], 'x-session-id')
  t.equal((await app.inject('/other')).headers['access-control-expose-headers'], 'x-request-id, x-session-id')
  t.equal((await app.inject('/listed')).headers['access-control-expose-headers'], 'x-request-id, X-Session-Id')
})

t.test('credentialHeaderWriter sets the header, and lists it in Access-Control-Expose-Headers only when asked', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const exposed = credentialHeaderWriter('x-session-id', true)
  const hidden = credentialHeaderWriter('x-session-id', false)
  app.get('/:case', async (request, reply) => {
    reply.header('access-control-expose-headers', 'x-request-id')
    const send = (request.params as { case: string }).case === 'exposed' ? exposed : hidden
    send(reply, 'credential')
    send(reply, 'credential')
    return {}
  })
  const one = await app.inject('/exposed')
  t.equal(one.headers['x-session-id'], 'credential')
  t.equal(one.headers['access-control-expose-headers'], 'x-request-id, x-session-id', 'added once, beside what was there')
  const two = await app.inject('/hidden')
  t.equal(two.headers['x-session-id'], 'credential')
  t.equal(two.headers['access-control-expose-headers'], 'x-request-id', 'untouched')
  t.ok(['set-cookie', 'content-length', 'cache-control', 'authorization'].every((name) => RESERVED_HEADERS.has(name)))
  t.notOk(RESERVED_HEADERS.has('x-session-id'))
})

t.test('forbidStoring makes a response no-store unless it is already', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const cases: Record<string, string | undefined> = {
    none: undefined,
    public: 'public, max-age=3600',
    private: 'private, no-store',
    own: 'no-store',
    query: 'no-store, private',
    upper: 'NO-STORE',
    lookalike: 'no-storefront'
  }
  app.get('/:case', async (request, reply) => {
    const value = cases[(request.params as { case: string }).case]
    if (value !== undefined) reply.header('cache-control', value)
    forbidStoring(reply)
    return {}
  })
  t.equal((await app.inject('/none')).headers['cache-control'], 'no-store')
  t.equal((await app.inject('/public')).headers['cache-control'], 'no-store', 'a response that hands out a credential is never public')
  t.equal((await app.inject('/private')).headers['cache-control'], 'private, no-store')
  t.equal((await app.inject('/own')).headers['cache-control'], 'no-store')
  t.equal((await app.inject('/query')).headers['cache-control'], 'no-store, private', 'the query mechanism\'s own value is kept')
  t.equal((await app.inject('/upper')).headers['cache-control'], 'NO-STORE')
  t.equal((await app.inject('/lookalike')).headers['cache-control'], 'no-store')
})

t.test('a response that issues, rotates or clears a credential is no-store; one that does not keeps the app\'s caching', async (t) => {
  const { app } = await buildApp(t, {}, (app) => {
    app.get('/cached', async (request, reply) => {
      reply.header('cache-control', 'public, max-age=3600')
      return { n: request.session.get('n') ?? null }
    })
    app.post('/cached-login', async (request, reply) => {
      reply.header('cache-control', 'public, max-age=3600')
      request.session.set('n', 1)
      return { ok: true }
    })
  })
  const login = await app.inject({ method: 'POST', url: '/cached-login' })
  const credential = credentialOf(login) as string
  t.type(credential, 'string')
  t.equal(login.headers['cache-control'], 'no-store', 'issued')
  const read = await app.inject({ method: 'GET', url: '/cached', headers: { 'x-test-session': credential } })
  t.equal(read.statusCode, 200)
  t.equal(read.headers['cache-control'], 'public, max-age=3600', 'nothing issued: the app decides')
  const refused = await app.inject({ method: 'GET', url: '/cached', headers: { 'x-test-session': 'A'.repeat(43) + '.' + 'B'.repeat(43) } })
  t.equal(refused.headers['cache-control'], 'no-store', 'cleared')
})

t.test('repeatsHeader: a name twice in the raw list, in any case; values are never taken for names', async (t) => {
  t.equal(repeatsHeader(['Host', 'x', 'Authorization', 'Bearer a'], 'authorization'), false, 'once')
  t.equal(repeatsHeader(['authorization', 'a', 'Host', 'x', 'AUTHORIZATION', 'b'], 'authorization'), true, 'twice, spelled apart')
  t.equal(repeatsHeader(['X-Session-Id', 'a', 'x-session-id', 'b'], 'x-session-id'), true)
  t.equal(repeatsHeader(['Host', 'authorization', 'X-Authorization', 'a', 'Authorizatio', 'b'], 'authorization'), false, 'a value, and names that only look alike')
  t.equal(repeatsHeader([], 'authorization'), false)
})
