import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { request as httpRequest } from 'node:http'
import { MemoryStore } from '@sessionkit/core'
import { sessionkitHeader, type HeaderSessionOptions } from '@sessionkit/header'
import { headerOf, SECRET } from './fixtures/harness.js'

async function build (t: Test, options: Partial<HeaderSessionOptions> = {}, before?: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, calls: string[] }> {
  const calls: string[] = []
  const store = new MemoryStore()
  t.teardown(() => store.close())
  for (const method of ['get', 'set', 'touch', 'destroy'] as const) {
    const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store)
    ;(store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => { calls.push(method); return original(...args) }
  }
  const app = Fastify()
  t.teardown(() => app.close())
  before?.(app)
  await app.register(sessionkitHeader, { secret: SECRET, store, ...options })
  app.post('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', 'alice')
    return { user: 'alice' }
  })
  app.get('/me', async (request, reply) => {
    const user = request.session.get('userId')
    return user === undefined ? reply.code(401).send({ error: 'not logged in' }) : { user }
  })
  app.post('/logout', async (request, reply) => {
    await request.session.destroy()
    return reply.code(204).send()
  })
  await app.ready()
  return { app, calls }
}

t.test('login answers the new id in the header, exposed to CORS; logout sends it empty and deletes the entry', async (t) => {
  const { app } = await build(t)
  const login = await app.inject({ method: 'POST', url: '/login' })
  const credential = headerOf(login) as string
  t.match(credential, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
  t.equal(login.headers['access-control-expose-headers'], 'x-session-id')
  t.same((await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': credential } })).json(), { user: 'alice' })
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { 'x-session-id': credential } })
  t.equal(logout.statusCode, 204)
  t.equal(logout.headers['x-session-id'], '')
  const replay = await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': credential } })
  t.equal(replay.statusCode, 401)
  t.equal(replay.json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL')
})

t.test('a well-formed unknown id: 401, nothing written, the id not echoed', async (t) => {
  const { app, calls } = await build(t)
  const unknown = 'A'.repeat(43) + '.' + 'B'.repeat(43)
  const response = await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': unknown } })
  t.equal(response.statusCode, 401)
  t.same(response.json(), { statusCode: 401, code: 'FST_SESSIONKIT_INVALID_CREDENTIAL', error: 'Unauthorized', message: 'Session credential is invalid or expired' })
  t.notMatch(response.body + JSON.stringify(response.headers), unknown)
  t.same(calls, [], 'a bad signature never reaches the store')
})

t.test('malformed headers are refused before any store call', async (t) => {
  const { app, calls } = await build(t)
  const credential = headerOf(await app.inject({ method: 'POST', url: '/login' })) as string
  calls.length = 0
  const bad = {
    'a comma': `${credential},${credential}`,
    whitespace: ` ${credential.slice(1)}x`,
    'a control character': credential.slice(0, -1) + '\u0001',
    'non-ASCII': credential.slice(0, -1) + 'é',
    '1,000 characters of a valid alphabet': 'a'.repeat(1000),
    'one character short': credential.slice(1)
  }
  for (const [name, value] of Object.entries(bad)) {
    const response = await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': value } })
    t.equal(response.statusCode, 401, name)
  }
  t.same(calls, [])
})

t.test('the header sent twice over a real socket (Node joins it): 400, the credential not cleared; one value with a comma: 401', async (t) => {
  const { app } = await build(t)
  const credential = headerOf(await app.inject({ method: 'POST', url: '/login' })) as string
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const answer = await new Promise<{ status: number, cleared: boolean }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/me' }, (res) => {
      res.resume()
      resolve({ status: res.statusCode as number, cleared: res.headers['x-session-id'] !== undefined })
    })
    req.setHeader('x-session-id', [credential, credential])
    req.on('error', reject)
    req.end()
  })
  t.same(answer, { status: 400, cleared: false })
  const joined = await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': `${credential}, ${credential}` } })
  t.equal(joined.statusCode, 401, 'sent once, with a comma: a credential that fails')
  t.equal(joined.headers['x-session-id'], '', 'and cleared')
})

t.test('an empty header means no credential yet', async (t) => {
  const { app, calls } = await build(t)
  const me = await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': '' } })
  t.same([me.statusCode, me.json()], [401, { error: 'not logged in' }], 'the route answers, not the engine')
  t.same(calls, [])
  const login = await app.inject({ method: 'POST', url: '/login', headers: { 'x-session-id': '' } })
  t.type(headerOf(login), 'string')
})

t.test('a valid id in a cookie or the query is not a session', async (t) => {
  const { app } = await build(t)
  const credential = headerOf(await app.inject({ method: 'POST', url: '/login' })) as string
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${credential}` } })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: `/me?sid=${credential}` })).statusCode, 401)
})

t.test('a custom header, exposure off, and an existing expose list kept', async (t) => {
  const { app } = await build(t, { header: 'X-Api-Session', exposeHeader: false })
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.type(headerOf(response, 'x-api-session'), 'string')
  t.equal(response.headers['access-control-expose-headers'], undefined)
  const { app: listed } = await build(t, {}, (app) => {
    app.addHook('onRequest', async (_request, reply) => { reply.header('access-control-expose-headers', 'x-request-id') })
  })
  const withList = await listed.inject({ method: 'POST', url: '/login' })
  t.equal(withList.headers['access-control-expose-headers'], 'x-request-id, x-session-id')
  const twice = await listed.inject({ method: 'POST', url: '/logout', headers: { 'x-session-id': headerOf(withList) as string } })
  t.equal(twice.headers['access-control-expose-headers'], 'x-request-id, x-session-id')
})

t.test('options are validated at registration', async (t) => {
  const reserved = 'Invalid option "header": must be a header name token, none of cookie, set-cookie, authorization, host, content-length, content-type, content-encoding, transfer-encoding, connection, cache-control, location, referrer-policy, access-control-expose-headers'
  for (const [options, message] of [
    [{ header: 'cookie' }, reserved],
    [{ header: 'x session' }, reserved],
    [{ header: 'Cache-Control' }, reserved],
    [{ header: 'content-length' }, reserved],
    [{ header: 'location' }, reserved],
    [{ exposeHeader: 'yes' }, 'Invalid option "exposeHeader": must be a boolean']
  ] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(sessionkitHeader, { secret: SECRET, ...(options as object) })
    const err = await app.ready().then(() => null, (err: unknown) => err)
    t.match(err, { code: 'FST_SESSIONKIT_INVALID_OPTION', message })
  }
})
