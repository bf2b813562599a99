import t from 'tap'
import Fastify from 'fastify'
import { sessionkit, MemoryStore, type SessionkitOptions } from '@sessionkit/core'
import { testTransport, SECRET } from './fixtures/transport.js'

async function registrationError (options: unknown): Promise<{ code: string, message: string }> {
  const app = Fastify()
  try {
    await app.register(sessionkit, options as SessionkitOptions)
    await app.ready()
  } catch (err) {
    return err as { code: string, message: string }
  } finally {
    await app.close()
  }
  throw new Error('registration succeeded')
}

const base = { secret: SECRET, transports: [testTransport()] }

const cases: Array<[string, unknown, string]> = [
  ['no transports', { secret: SECRET }, 'Invalid option "transports": must list at least one transport'],
  ['empty transports', { ...base, transports: [] }, 'Invalid option "transports": must list at least one transport'],
  ['a transport without read', { ...base, transports: [{ name: 'x', onInvalid: 'reject', write () {}, clear () {} }] }, 'Invalid option "transports": each transport must have read, write, clear and onInvalid'],
  ['a null transport', { ...base, transports: [null] }, 'Invalid option "transports": each transport must have read, write, clear and onInvalid'],
  ['an unknown onInvalid', { ...base, transports: [{ ...testTransport(), onInvalid: 'ignore' }] }, 'Invalid option "transports": each transport must have read, write, clear and onInvalid'],
  ['a transport twice', { ...base, transports: [testTransport(), testTransport()] }, 'Invalid option "transports": each transport may be listed once'],
  ['no secret', { transports: [testTransport()] }, 'Invalid option "secret": is required: one or more secrets of at least 32 random bytes'],
  ['a 31-byte secret', { ...base, secret: 'x'.repeat(31) }, 'Invalid option "secret": secret #0 has 31 bytes; at least 32 are required'],
  ['an empty ring', { ...base, secret: [] }, 'Invalid option "secret": at least one secret of 32 bytes or more is required'],
  ['a numeric secret', { ...base, secret: [SECRET, 42] }, 'Invalid option "secret": secret #1 must be a string or a Buffer'],
  ['a repeated secret', { ...base, secret: [SECRET, Buffer.from(SECRET)] }, 'Invalid option "secret": secrets must be distinct'],
  ['a store missing methods', { ...base, store: { get () {} } }, 'Invalid option "store": must implement set(); wrap a callback-style store with callbackStore()'],
  ['a zero idle timeout', { ...base, idleTimeout: 0 }, 'Invalid option "idleTimeout": must be a positive integer (milliseconds)'],
  ['a fractional absolute timeout', { ...base, absoluteTimeout: 1.5 }, 'Invalid option "absoluteTimeout": must be a positive integer (milliseconds)'],
  ['absolute shorter than idle', { ...base, idleTimeout: 10_000, absoluteTimeout: 5_000 }, 'Invalid option "absoluteTimeout": must not be shorter than idleTimeout'],
  ['touch interval not below idle', { ...base, idleTimeout: 10_000, touchInterval: 10_000 }, 'Invalid option "touchInterval": must be shorter than idleTimeout'],
  ['a string store timeout', { ...base, storeTimeout: '1s' }, 'Invalid option "storeTimeout": must be a positive integer (milliseconds)'],
  ['a string rolling', { ...base, rolling: 'yes' }, 'Invalid option "rolling": must be a boolean'],
  ['a clock that is not a function', { ...base, now: 5 }, 'Invalid option "now": must be a function returning epoch milliseconds'],
  ['an empty userId key', { ...base, userId: '' }, 'Invalid option "userId": must be a session key or a function returning the user id']
]

for (const [name, options, message] of cases) {
  t.test(`registration fails on ${name}`, async (t) => {
    const err = await registrationError(options)
    t.equal(err.code, 'FST_SESSIONKIT_INVALID_OPTION')
    t.equal(err.message, message)
  })
}

t.test('the caller\'s options object is not changed', async (t) => {
  const options = { ...base, idleTimeout: 60_000 }
  const copy = { ...options, transports: [...options.transports] }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, options)
  await app.ready()
  t.same(options, copy)
})

t.test('registering twice in one context fails with a coded error', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, base)
  app.register(sessionkit, base)
  const err = await (async () => { try { await app.ready() } catch (err) { return err } })() as { code: string, message: string }
  t.equal(err.code, 'FST_SESSIONKIT_ALREADY_REGISTERED')
  t.match(err.message, /compose mechanisms through the "transports" option/)
})

t.test('sibling contexts each have their own engine', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const stores = [new MemoryStore(), new MemoryStore()]
  for (const [index, prefix] of ['/a', '/b'].entries()) {
    await app.register(async (scope) => {
      await scope.register(sessionkit, { ...base, store: stores[index] })
      scope.post('/set', async (request) => {
        request.session.set('scope', prefix)
        return { ok: true }
      })
    }, { prefix })
  }
  t.teardown(() => stores.forEach((store) => store.close()))
  await app.ready()
  await app.inject({ method: 'POST', url: '/a/set' })
  await app.inject({ method: 'POST', url: '/b/set' })
  t.same([stores[0]?.size, stores[1]?.size], [1, 1])
})

t.test('a userId function picks the user id from the data', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, { ...base, store, userId: (data) => (data.passport as { user?: string } | undefined)?.user })
  app.post('/login', async (request) => {
    request.session.set('passport', { user: 'pat' })
    return { ok: true }
  })
  app.post('/anon', async (request) => {
    request.session.set('passport', {})
    return { ok: true }
  })
  await app.inject({ method: 'POST', url: '/login' })
  await app.inject({ method: 'POST', url: '/anon' })
  t.equal((await store.listUserSessions('pat')).length, 1)
  t.equal(store.size, 2)
})

t.test('the memory store validates its options', async (t) => {
  t.throws(() => new MemoryStore({ maxEntries: 0 }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "maxEntries": must be a positive integer' })
  t.throws(() => new MemoryStore({ sweepInterval: -1 }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "sweepInterval": must be a positive integer (milliseconds)' })
  t.throws(() => new MemoryStore({ now: 'soon' as unknown as () => number }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "now": must be a function returning epoch milliseconds' })
})
