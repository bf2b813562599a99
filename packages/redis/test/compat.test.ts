import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { createClient } from 'redis'
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import { sessionkit, callbackStore, type CallbackStore, type SessionStore } from '@sessionkit/core'
import { headerCarriage, headerTransport } from './fixtures/transport.js'
import { sessionConformance, storeConformance } from '@sessionkit/core/testing'
import { NO_REDIS, NO_REDIS_SERVER, REDIS_URL } from './fixtures/redis-server.js'

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

t.test('connect-redis while its Redis is down: a 503 within storeTimeout, not its offline-queue hang', { skip: NO_REDIS || NO_REDIS_SERVER }, async (t) => {
  const { ownRedis } = await import('./fixtures/redis-server.js')
  const Fastify = (await import('fastify')).default
  const server = await ownRedis(t)
  const client = createClient({ url: server.url, socket: { reconnectStrategy: 100 } })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.destroy())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, {
    secret: 'compat-secret-0123456789abcdef-0123456789abcd',
    store: callbackStore(new ConnectRedisStore({ client, prefix: 'down:' }) as unknown as CallbackStore),
    storeTimeout: 300,
    transports: [headerTransport('x-test')]
  })
  app.post('/set', async (request) => {
    request.session.set('a', 1)
    return { ok: true }
  })
  const created = await app.inject({ method: 'POST', url: '/set' })
  t.equal(created.statusCode, 200)
  await server.kill()
  const down = await app.inject({ method: 'POST', url: '/set' })
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
})
