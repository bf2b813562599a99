import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { sessionkit } from '@sessionkit/core'
import { headerCarriage, headerTransport } from './fixtures/transport.js'
import { sessionConformance, storeConformance } from '@sessionkit/core/testing'
import { RedisStore, type RedisStoreOptions } from '@sessionkit/redis'
import { NO_REDIS, REDIS_URL, redisOptions } from './fixtures/redis-server.js'
import { Redis } from 'ioredis'
import { Redis as Redis5 } from 'ioredis5'

const prefix = (): string => `sk-test-${randomBytes(6).toString('hex')}:`

/**
 * The store conformance suite on the Redis stores `make` builds, each under a prefix of its own.
 * `make` closes what it opened: a store closes only a client it owns.
 */
function redisConformance (t: Test, make: (t: Test, prefix: string) => RedisStore): void {
  const prefixes = new WeakMap<RedisStore, string>()
  storeConformance(t, {
    async create (t) {
      const chosen = prefix()
      const store = make(t, chosen)
      prefixes.set(store, chosen)
      await store.ready()
      return store
    },
    ttlOf: async (store, id) => {
      // the key named directly (see the README's key layout): no KEYS on a shared Redis
      const ttl = await (store as RedisStore).client.pttl(`${prefixes.get(store as RedisStore) as string}s:{${id}}`)
      return ttl < 0 ? null : ttl
    }
  })
}

/** A store that owns its client, made with `connection`. */
function owning (t: Test, connection: RedisStoreOptions['connection'], prefix: string): RedisStore {
  const store = new RedisStore({ connection, prefix })
  t.teardown(() => store.close())
  return store
}

t.test('storeConformance: one Redis', { skip: NO_REDIS }, async (t) => {
  redisConformance(t, (t, prefix) => owning(t, REDIS_URL, prefix))
})

t.test('storeConformance: a client of your own that maps RESP3 replies to objects, an owned client asked to, and one on RESP2', { skip: NO_REDIS }, async (t) => {
  let made = 0
  redisConformance(t, (t, prefix) => {
    // in turn: a client of the app's; an owned one, whose reply shapes the store sets; an owned one on RESP2
    const kind = made++ % 3
    if (kind === 0) {
      const client = new Redis(REDIS_URL, { protocol: 3, replyMapping: 'resp3' })
      t.teardown(() => client.disconnect())
      return new RedisStore({ client, prefix })
    }
    if (kind === 2) return owning(t, { ...redisOptions(REDIS_URL), protocol: 2 }, prefix)
    const store = owning(t, { ...redisOptions(REDIS_URL), protocol: 3, replyMapping: 'resp3' }, prefix)
    t.equal((store.client as Redis).options.replyMapping, 'legacy', 'an owned client reads the shapes the store sets')
    return store
  })
})

t.test('storeConformance: a client of ioredis 5, which an app may still have', { skip: NO_REDIS }, async (t) => {
  redisConformance(t, (t, prefix) => {
    const client = new Redis5(REDIS_URL, { enableOfflineQueue: false, commandTimeout: 500 })
    t.teardown(() => client.disconnect())
    // the store's types are ioredis 6's; the client is used through what both versions share
    const store = new RedisStore({ client: client as unknown as Redis, prefix })
    t.equal(store.boundedLatency, true, 'its options read as ioredis 6\'s are')
    return store
  })
})

t.test('sessionConformance on the Redis store', { skip: NO_REDIS }, async (t) => {
  sessionConformance(t, {
    register: (app, options) => app.register(sessionkit, {
      ...options,
      transports: [headerTransport()]
    }),
    ...headerCarriage,
    async store (t) {
      const store = new RedisStore({ connection: REDIS_URL, prefix: prefix() })
      t.teardown(() => store.close())
      await store.ready()
      return store
    }
  })
})
