import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore as FastifySessionMemoryStore } from '@fastify/session'
import { callbackStore, type CallbackStore } from '@sessionkit/core'
import { buildApp } from './fixtures/app.js'
import { credentialOf } from './fixtures/transport.js'

t.test('callbackStore validates what it wraps', async (t) => {
  t.throws(() => callbackStore({ get () {} } as unknown as CallbackStore), {
    code: 'FST_SESSIONKIT_INVALID_OPTION',
    message: 'Invalid option "store": must have get(sid, cb), set(sid, session, cb) and destroy(sid, cb)'
  })
  t.throws(() => callbackStore(null as unknown as CallbackStore), { code: 'FST_SESSIONKIT_INVALID_OPTION' })
  t.throws(() => callbackStore(new FastifySessionMemoryStore() as unknown as CallbackStore, { generationTtl: 0 }), {
    code: 'FST_SESSIONKIT_INVALID_OPTION',
    message: 'Invalid option "generationTtl": must be a positive integer (milliseconds)'
  })
})

t.test('a store that also answers with a promise: its rejection becomes a 503, never unhandled', async (t) => {
  // the shape of connect-redis 7+: async methods that take an optional callback
  const failing = {
    async get (_sid: string, callback?: (err?: unknown) => void) {
      const err = new Error('Connection is closed.')
      callback?.(err)
      throw err
    },
    async set () { throw new Error('Connection is closed.') },
    async destroy () { throw new Error('Connection is closed.') }
  }
  const { app } = await buildApp(t, { store: callbackStore(failing as unknown as CallbackStore), storeTimeout: 200 }, (app) => {
    app.get('/read', async (request) => ({ data: request.session.data() }))
    app.post('/set', async (request) => {
      request.session.set('a', 1)
      return { ok: true }
    })
  })
  const unhandled: unknown[] = []
  const listener = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', listener)
  t.teardown(() => process.off('unhandledRejection', listener))
  const credential = 'A'.repeat(43) + '.' + 'B'.repeat(43)
  const forged = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.equal(forged.statusCode, 401, 'a credential with a bad signature never reaches the store')
  const created = await app.inject({ method: 'POST', url: '/set' })
  t.equal(created.statusCode, 503)
  t.equal(created.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})

t.test('a foreign value under a session key is a coded 503', async (t) => {
  const sessions = new Map<string, unknown>()
  const store = callbackStore(new FastifySessionMemoryStore(sessions as Map<string, never>) as unknown as CallbackStore)
  const { app } = await buildApp(t, { store }, (app) => {
    app.get('/read', async (request) => ({ data: request.session.data() }))
    app.post('/set', async (request) => {
      request.session.set('a', 1)
      return { ok: true }
    })
  })
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set' })) as string
  const [id] = [...sessions.keys()]
  for (const garbage of ['{', { cookie: null }, { cookie: { expires: '2999-01-01T00:00:00.000Z' }, sessionkit: 'x' }]) {
    sessions.set(id as string, garbage)
    const response = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'FST_SESSIONKIT_CORRUPT_RECORD')
  }
})

t.test('a user\'s index drops the ids of sessions that are gone, and keeps every live one', async (t) => {
  const { ManualClock } = await import('@sessionkit/core/testing')
  const clock = new ManualClock()
  const sessions = new Map<string, unknown>()
  const store = callbackStore(new FastifySessionMemoryStore(sessions as Map<string, never>) as unknown as CallbackStore, { now: clock.now })
  const record = { version: 1, createdAt: 0, lastSeenAt: 0, userId: 'una', data: {} }
  const indexSize = (): number => (sessions.get('sessionkit-user:una') as { index: string[] }).index.length
  // a hundred logins, each session expired before the next
  for (let i = 0; i < 100; i++) {
    t.equal(await store.set(`old-${i}`, record, 0, 1_000), true)
    clock.advance(2_000)
  }
  t.ok(indexSize() <= 16, `the index holds ${indexSize()} ids, not 100`)
  t.same(await store.listUserSessions('una'), [])
  // forty live at once: none is dropped
  for (let i = 0; i < 40; i++) await store.set(`live-${i}`, record, 0, 3_600_000)
  sessions.set('garbage-id', '{')
  t.same((await store.listUserSessions('una')).map((s) => s.id).sort(), Array.from({ length: 40 }, (_, i) => `live-${i}`).sort())
  t.equal(indexSize(), 40)
  t.equal(await store.destroyUserSessions('una'), 40)
})

t.test('pruning the index: garbage under an old id is dropped, a failing store fails the write', async (t) => {
  const sessions = new Map<string, unknown>()
  let failing = false
  const inner = new FastifySessionMemoryStore(sessions as Map<string, never>)
  const flaky = {
    get (sid: string, callback: (err?: unknown, value?: unknown) => void) {
      if (failing && sid.startsWith('s-')) callback(new Error('down'))
      else inner.get(sid, callback as never)
    },
    set: inner.set.bind(inner),
    destroy: inner.destroy.bind(inner)
  }
  const store = callbackStore(flaky as unknown as CallbackStore)
  const record = { version: 1, createdAt: 0, lastSeenAt: 0, userId: 'vic', data: {} }
  for (let i = 0; i < 15; i++) await store.set(`s-${i}`, record, 0, 3_600_000)
  sessions.set('s-3', '{')
  await store.set('s-15', record, 0, 3_600_000)
  t.equal((sessions.get('sessionkit-user:vic') as { index: string[] }).index.length, 16)
  await store.set('t-16', record, 0, 3_600_000)
  const ids = (sessions.get('sessionkit-user:vic') as { index: string[] }).index
  t.equal(ids.length, 16, 'pruned at 16: the garbage went, the new id came')
  t.notOk(ids.includes('s-3'))
  for (let i = 17; i < 33; i++) await store.set(`t-${i}`, record, 0, 3_600_000)
  failing = true
  await t.rejects(store.set('t-33', record, 0, 3_600_000), { message: 'down' }, 'a store that cannot answer fails the write that would prune')
})

/**
 * @fastify/session's MemoryStore whose `get` answers are held back while `hold` is on, as a store
 * whose server stalls (a paused Redis) holds them; `release()` lets them through, in order.
 */
function stallingStore (): { store: CallbackStore, sessions: Map<string, unknown>, writes: () => number, hold: (on: boolean) => void, release: () => void, held: () => number } {
  const sessions = new Map<string, unknown>()
  const real = new FastifySessionMemoryStore(sessions as Map<string, never>)
  let holding = false
  let writes = 0
  const queue: Array<() => void> = []
  const store: CallbackStore = {
    get (sid, callback) {
      if (holding) queue.push(() => real.get(sid, callback as never))
      else real.get(sid, callback as never)
    },
    set (sid, session, callback) {
      writes++
      real.set(sid, session as never, callback as never)
    },
    destroy (sid, callback) {
      writes++
      real.destroy(sid, callback as never)
    }
  }
  return {
    store,
    sessions,
    writes: () => writes,
    hold: (on) => { holding = on },
    release: () => { for (const answer of queue.splice(0)) answer() },
    held: () => queue.length
  }
}

/**
 * An app on `stallingStore()` (`storeTimeout` 100 ms) with `GET /read`, `POST /logout` and
 * `POST /set/:value`, which, sent with `x-stall: 1`, stalls the store once its session is loaded,
 * as a server paused mid-request.
 */
async function stallingApp (t: Test): Promise<{ app: FastifyInstance, stalling: ReturnType<typeof stallingStore> }> {
  const stalling = stallingStore()
  const { app } = await buildApp(t, { store: callbackStore(stalling.store), storeTimeout: 100 }, (app) => {
    app.get('/read', async (request) => ({ data: request.session.data() }))
    app.post('/set/:value', async (request) => {
      if (request.headers['x-stall'] === '1') stalling.hold(true)
      request.session.set('a', (request.params as { value: string }).value)
      return { ok: true }
    })
    app.post('/logout', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
  })
  return { app, stalling }
}

t.test('a write answered with 503 never lands when the stalled store answers later, nor do the writes queued behind it', async (t) => {
  const { app, stalling } = await stallingApp(t)
  const created = await app.inject({ method: 'POST', url: '/set/1' })
  t.equal(created.statusCode, 200)
  const credential = credentialOf(created) as string
  const headers = { 'x-test-session': credential }
  const before = stalling.writes()
  const stalled = await app.inject({ method: 'POST', url: '/set/2', headers: { ...headers, 'x-stall': '1' } })
  t.equal(stalled.statusCode, 503)
  t.equal(stalled.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  t.equal(stalling.held(), 1, 'the save is waiting on its read')
  // more requests on the session while the store stalls: each loads (a read of its own) and is a 503
  const queued = await Promise.all([
    app.inject({ method: 'POST', url: '/set/3', headers }),
    app.inject({ method: 'POST', url: '/logout', headers })
  ])
  t.same(queued.map((response) => response.statusCode), [503, 503])
  t.equal(stalling.held(), 3)

  // the store answers again: the reads come back, nobody waits for them any more
  stalling.hold(false)
  stalling.release()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(stalling.writes(), before, 'no write was made after its 503')
  const read = await app.inject({ method: 'GET', url: '/read', headers })
  t.equal(read.statusCode, 200)
  t.same(read.json(), { data: { a: '1' } }, 'the session as it was before the stall')
  // and the session works as before
  t.equal((await app.inject({ method: 'POST', url: '/set/4', headers })).statusCode, 200)
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json(), { data: { a: '4' } })
})

t.test('storeCallDeadline: when the engine stops waiting, seen by the store method it calls', async (t) => {
  const { createStoreGuard, storeCallDeadline } = await import('@sessionkit/core')
  const log = { error () {} } as unknown as Parameters<typeof createStoreGuard>[1]
  t.equal(storeCallDeadline(), undefined, 'none outside a call')
  const seen: Array<number | undefined> = []
  const start = performance.now()
  await createStoreGuard(250, log)(async () => { seen.push(storeCallDeadline()) })
  await createStoreGuard(null, log)(async () => { seen.push(storeCallDeadline()) })
  t.equal(storeCallDeadline(), undefined, 'none once the call is made')
  t.ok((seen[0] as number) >= start + 250 && (seen[0] as number) <= performance.now() + 250, 'the guard\'s timeout from the call')
  t.equal(seen[1], undefined, 'none for a store that bounds its own latency')
  // read on entry: after the method's first await it is gone
  let later: number | undefined = 0
  await createStoreGuard(250, log)(async () => {
    await null
    later = storeCallDeadline()
  })
  t.equal(later, undefined)
  // a throwing operation leaves no deadline behind
  await t.rejects(createStoreGuard(250, log)(() => { throw new Error('sync') }), { code: 'FST_SESSIONKIT_STORE_UNAVAILABLE' })
  t.equal(storeCallDeadline(), undefined)
})

t.test('a store whose answer to a save never comes frees the session once the save is given up on, and the late answer writes nothing', async (t) => {
  const { app, stalling } = await stallingApp(t)
  const headers = { 'x-test-session': credentialOf(await app.inject({ method: 'POST', url: '/set/1' })) as string }
  const lost = app.inject({ method: 'POST', url: '/set/2', headers: { ...headers, 'x-stall': '1' } })
  while (stalling.held() === 0) await new Promise((resolve) => setImmediate(resolve))
  t.equal(stalling.held(), 1, 'the save\'s read has no answer, and may never get one')
  stalling.hold(false)
  // a change that comes while that save is still waited for queues behind it
  const queued = app.inject({ method: 'POST', url: '/set/queued', headers })
  t.equal((await lost).statusCode, 503)
  const next = await app.inject({ method: 'POST', url: '/set/3', headers })
  t.equal(next.statusCode, 200, 'the next change after the save was given up on does not wait for it')
  t.equal((await queued).statusCode, 503, 'the one queued behind it is given up on in its turn')
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json(), { data: { a: '3' } })
  const writes = stalling.writes()
  // the lost answer turns up after all: the save it belonged to was given up on and writes nothing,
  // nor does the one queued behind it
  stalling.release()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(stalling.writes(), writes)
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json(), { data: { a: '3' } })
})

t.test('a save whose write went out is waited for: the session is not freed under it', async (t) => {
  const sessions = new Map<string, unknown>()
  const real = new FastifySessionMemoryStore(sessions as Map<string, never>)
  let holdWrites = false
  const heldWrites: Array<() => void> = []
  const store: CallbackStore = {
    get: (sid, callback) => real.get(sid, callback as never),
    set (sid, session, callback) {
      // the write reaches the store, its answer is late (it may land before or after what follows)
      if (holdWrites) heldWrites.push(() => real.set(sid, session as never, callback as never))
      else real.set(sid, session as never, callback as never)
    },
    destroy: (sid, callback) => real.destroy(sid, callback as never)
  }
  const { app } = await buildApp(t, { store: callbackStore(store), storeTimeout: 100 }, (app) => {
    app.get('/read', async (request) => ({ data: request.session.data() }))
    app.post('/set/:value', async (request) => {
      if (request.headers['x-stall'] === '1') holdWrites = true
      request.session.set('a', (request.params as { value: string }).value)
      return { ok: true }
    })
  })
  const headers = { 'x-test-session': credentialOf(await app.inject({ method: 'POST', url: '/set/1' })) as string }
  t.equal((await app.inject({ method: 'POST', url: '/set/2', headers: { ...headers, 'x-stall': '1' } })).statusCode, 503)
  holdWrites = false
  const next = app.inject({ method: 'POST', url: '/set/3', headers })
  t.equal((await next).statusCode, 503, 'the next change waits for the write that went out, and is given up on in its turn')
  for (const write of heldWrites.splice(0)) write()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const after = await app.inject({ method: 'POST', url: '/set/4', headers })
  t.equal(after.statusCode, 200)
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json(), { data: { a: '4' } }, 'in order: nothing older lands over the newer change')
})
