import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sessionkit } from '@sessionkit/core'
import { headerCarriage, headerTransport } from './fixtures/transport.js'
import { sessionConformance, storeConformance } from '@sessionkit/core/testing'
import { RedisStore } from '@sessionkit/redis'
import { NO_REDIS, REDIS_URL } from './fixtures/redis-server.js'

const prefix = (): string => `sk-test-${randomBytes(6).toString('hex')}:`

t.test('storeConformance: one Redis', { skip: NO_REDIS }, async (t) => {
  const prefixes = new WeakMap<RedisStore, string>()
  storeConformance(t, {
    async create (t) {
      const chosen = prefix()
      const store = new RedisStore({ connection: REDIS_URL, prefix: chosen })
      prefixes.set(store, chosen)
      t.teardown(() => store.close())
      await store.ready()
      return store
    },
    ttlOf: async (store, id) => {
      // the key named directly (see the README's key layout): no KEYS on a shared Redis
      const ttl = await (store as RedisStore).client.pttl(`${prefixes.get(store as RedisStore) as string}s:{${id}}`)
      return ttl < 0 ? null : ttl
    }
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
