import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sessionkit, MemoryStore, KeyRing, callbackStore, type CallbackStore, type SessionStore } from '@sessionkit/core'
import { ecosystemConformance, sessionConformance, storeConformance, ManualClock } from '@sessionkit/core/testing'
import { MemoryStore as FastifySessionMemoryStore } from '@fastify/session'
import { testTransport, credentialOf } from './fixtures/transport.js'

for (const onInvalid of ['reject', 'anonymous'] as const) {
  t.test(`sessionConformance, minimal transport (${onInvalid})`, async (t) => {
    sessionConformance(t, {
      register: (app, options) => app.register(sessionkit, { ...options, transports: [testTransport({ onInvalid })] }),
      attach: (request, credential) => ({ ...request, headers: { ...request.headers, 'x-test-session': credential } }),
      credentialOf: (response) => credentialOf(response)
    })
  })
}

t.test('sessionConformance, fixed expiry (rolling: false) run as a stateless mechanism', async (t) => {
  sessionConformance(t, {
    register: (app, options) => app.register(sessionkit, { ...options, rolling: false, transports: [testTransport()] }),
    attach: (request, credential) => ({ ...request, headers: { ...request.headers, 'x-test-session': credential } }),
    credentialOf: (response) => credentialOf(response),
    stateless: true
  })
})

t.test('sessionConformance over callbackStore(@fastify/session MemoryStore)', async (t) => {
  sessionConformance(t, {
    register: (app, options) => app.register(sessionkit, { ...options, transports: [testTransport()] }),
    attach: (request, credential) => ({ ...request, headers: { ...request.headers, 'x-test-session': credential } }),
    credentialOf: (response) => credentialOf(response),
    forge: (options) => new KeyRing(options.secret).sign(randomBytes(32).toString('base64url')),
    store: (_t, now) => callbackStore(new FastifySessionMemoryStore() as unknown as CallbackStore, { now })
  })
})

t.test('storeConformance: MemoryStore', async (t) => {
  const clock = new ManualClock()
  storeConformance(t, {
    create (t) {
      const store = new MemoryStore({ now: clock.now })
      t.teardown(() => store.close())
      return store
    },
    advance: (ms) => clock.advance(ms)
  })
})

t.test('storeConformance: a store with none of the optional methods', async (t) => {
  const clock = new ManualClock()
  storeConformance(t, {
    create (t) {
      const inner = new MemoryStore({ now: clock.now })
      t.teardown(() => inner.close())
      // what every store must have, and nothing more: no merge, revokeTokenOnce or sync
      const store: SessionStore = {
        get: async (id) => await inner.get(id),
        set: async (id, record, expected, ttl) => await inner.set(id, record, expected, ttl),
        touch: async (id, lastSeenAt, ttl) => await inner.touch(id, lastSeenAt, ttl),
        destroy: async (id) => { await inner.destroy(id) },
        listUserSessions: async (userId) => await inner.listUserSessions(userId),
        destroyUserSessions: async (userId, exceptId) => await inner.destroyUserSessions(userId, exceptId),
        revokeToken: async (jti, ttl) => { await inner.revokeToken(jti, ttl) },
        isTokenRevoked: async (jti) => await inner.isTokenRevoked(jti),
        userGeneration: async (userId) => await inner.userGeneration(userId),
        bumpUserGeneration: async (userId) => await inner.bumpUserGeneration(userId)
      }
      return store
    },
    advance: (ms) => clock.advance(ms)
  })
})

t.test('storeConformance: callbackStore over @fastify/session MemoryStore', async (t) => {
  const clock = new ManualClock()
  const backing = new WeakMap<SessionStore, Map<string, { cookie: { expires: string } }>>()
  storeConformance(t, {
    create () {
      const sessions = new Map()
      const store = callbackStore(new FastifySessionMemoryStore(sessions) as unknown as CallbackStore, { now: clock.now })
      backing.set(store, sessions)
      return store
    },
    advance: (ms) => clock.advance(ms),
    // the TTL the adapter hands the callback store, where connect-redis reads it from
    ttlOf: async (store, id) => {
      const entry = backing.get(store)?.get(id)
      return entry === undefined ? null : Date.parse(entry.cookie.expires) - clock.now()
    }
  })
})

t.test('ecosystemConformance: @fastify/passport, @fastify/flash, @fastify/csrf-protection on the minimal transport', async (t) => {
  ecosystemConformance(t, {
    register: (app, options) => app.register(sessionkit, { ...options, transports: [testTransport()] }),
    attach: (request, credential) => ({ ...request, headers: { ...request.headers, 'x-test-session': credential } }),
    credentialOf: (response) => credentialOf(response)
  })
})
