import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import { createClient } from 'redis'
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import { sessionkit, callbackStore, type CallbackStore, type SessionStore } from '@sessionkit/core'
import { headerCarriage, headerTransport } from './fixtures/transport.js'
import { sessionConformance, storeConformance } from '@sessionkit/core/testing'
import { NO_REDIS, NO_REDIS_SERVER, REDIS_URL, ownRedis, type OwnRedis } from './fixtures/redis-server.js'

type NodeRedis = ReturnType<typeof createClient>

async function connectRedis (t: Test): Promise<{ store: SessionStore, client: NodeRedis, prefix: string }> {
  const client = createClient({ url: REDIS_URL })
  await client.connect()
  t.teardown(() => client.quit())
  const prefix = `sk-compat-${randomBytes(6).toString('hex')}:`
  const store = callbackStore(new ConnectRedisStore({ client, prefix }) as unknown as CallbackStore)
  return { store, client, prefix }
}

t.test('storeConformance: callbackStore over the real connect-redis, on the same Redis', { skip: NO_REDIS }, async (t) => {
  const clients = new WeakMap<SessionStore, { client: NodeRedis, prefix: string }>()
  storeConformance(t, {
    async create (t) {
      const { store, client, prefix } = await connectRedis(t)
      clients.set(store, { client, prefix })
      return store
    },
    ttlOf: async (store, id) => {
      const { client, prefix } = clients.get(store) as { client: NodeRedis, prefix: string }
      const ttl = await client.pTTL(prefix + id)
      return ttl < 0 ? null : ttl
    }
  })
})

t.test('sessionConformance over connect-redis', { skip: NO_REDIS }, async (t) => {
  sessionConformance(t, {
    register: (app, options) => app.register(sessionkit, {
      ...options,
      transports: [headerTransport()]
    }),
    ...headerCarriage,
    store: async (t, now) => {
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      t.teardown(() => client.quit())
      const prefix = `sk-compat-${randomBytes(6).toString('hex')}:`
      return callbackStore(new ConnectRedisStore({ client, prefix }) as unknown as CallbackStore, { now })
    }
  })
})

/**
 * An app on connect-redis over a redis-server of the test's own (`storeTimeout` 300 ms), with
 * `POST /set/:value` (running `beforeSet` first) and `GET /get`; and the credential of a session
 * that holds `a: '1'`.
 */
async function ownConnectRedis (t: Test, prefix: string, beforeSet: (request: FastifyRequest) => unknown = () => undefined): Promise<{ app: FastifyInstance, server: OwnRedis, client: NodeRedis, headers: { 'x-test': string } }> {
  const server = await ownRedis(t)
  const client = createClient({ url: server.url, socket: { reconnectStrategy: 100 } })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.destroy())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, {
    secret: 'compat-secret-0123456789abcdef-0123456789abcd',
    store: callbackStore(new ConnectRedisStore({ client, prefix }) as unknown as CallbackStore),
    storeTimeout: 300,
    transports: [headerTransport('x-test')]
  })
  app.post('/set/:value', async (request) => {
    await beforeSet(request)
    request.session.set('a', (request.params as { value: string }).value)
    return { ok: true }
  })
  app.get('/get', async (request) => ({ a: request.session.get('a') ?? null }))
  const created = await app.inject({ method: 'POST', url: '/set/1' })
  t.equal(created.statusCode, 200)
  return { app, server, client, headers: { 'x-test': String(created.headers['x-test']) } }
}

t.test('connect-redis while its Redis is down: a 503 within storeTimeout, not its offline-queue hang; back with its data when Redis is', { skip: NO_REDIS || NO_REDIS_SERVER }, async (t) => {
  const { app, server, client, headers } = await ownConnectRedis(t, 'down:')
  await server.kill()
  const down = await app.inject({ method: 'POST', url: '/set/2', headers })
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  t.equal(down.headers['x-test'], undefined, 'the credential is neither replaced nor cleared')

  // back on the same port with its data (append-only file): the same credential, no restart of the app
  await server.start()
  for (let i = 0; i < 50 && !client.isReady; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  const back = await app.inject({ method: 'GET', url: '/get', headers })
  t.equal(back.statusCode, 200)
  t.same(back.json(), { a: '1' }, 'the session as it was before the outage; the change refused with 503 never lands')
  t.equal((await app.inject({ method: 'POST', url: '/set/3', headers })).statusCode, 200)
  t.same((await app.inject({ method: 'GET', url: '/get', headers })).json(), { a: '3' })
})

t.test('connect-redis on a Redis that stalls mid-request: the change answered with 503 never lands when Redis answers again', { skip: NO_REDIS || NO_REDIS_SERVER }, async (t) => {
  // loaded; Redis stops answering before the save (its commands wait, as on a busy or paused server)
  const { app, server, client, headers } = await ownConnectRedis(t, 'stall:', async (request) => {
    if (request.headers['x-stall'] === '1') await admin.client('PAUSE', 1_000, 'ALL')
  })
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => admin.disconnect())
  const stalled = await app.inject({ method: 'POST', url: '/set/2', headers: { ...headers, 'x-stall': '1' } })
  t.equal(stalled.statusCode, 503)
  t.equal(stalled.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  await admin.client('UNPAUSE')
  // the save's read is answered now; give a write it might still make the time to land
  await client.ping()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const back = await app.inject({ method: 'GET', url: '/get', headers })
  t.equal(back.statusCode, 200)
  t.same(back.json(), { a: '1' }, 'the session as it was: the change answered with 503 did not land')
  t.equal((await app.inject({ method: 'POST', url: '/set/3', headers })).statusCode, 200)
  t.same((await app.inject({ method: 'GET', url: '/get', headers })).json(), { a: '3' })
})
