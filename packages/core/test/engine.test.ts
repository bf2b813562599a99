import t from 'tap'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import { sessionkit, callbackStore, credentialWillChange, sessionCredential, MemoryStore, KeyRing, type CallbackStore, type SessionStore, type StoredSession } from '@sessionkit/core'
import { MemoryStore as FastifySessionMemoryStore } from '@fastify/session'
import { ManualClock } from '@sessionkit/core/testing'
import { buildApp } from './fixtures/app.js'
import { testTransport, credentialOf, SECRET, OLD_SECRET } from './fixtures/transport.js'

function routes (app: import('fastify').FastifyInstance): void {
  app.get('/read', async (request) => ({ data: request.session.data(), isNew: request.session.isNew }))
  app.post<{ Body: Record<string, unknown> }>('/set', async (request) => {
    for (const [key, value] of Object.entries(request.body ?? { n: 1 })) request.session.set(key, value)
    return { ok: true }
  })
}

t.test('a session that holds nothing is never stored', async (t) => {
  const { app, store } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post('/set-and-delete', async (request) => {
      request.session.set('x', 1)
      request.session.delete('x')
      return { ok: true }
    })
  })
  for (let i = 0; i < 5; i++) await app.inject({ method: 'GET', url: '/read' })
  const response = await app.inject({ method: 'POST', url: '/set-and-delete' })
  t.equal(credentialOf(response), undefined)
  t.equal(store.size, 0)
  // an enumerable key on Object.prototype (prototype pollution elsewhere in an app) is not session data
  // eslint-disable-next-line no-extend-native -- the pollution is the case under test, undone below
  Object.defineProperty(Object.prototype, 'polluted', { value: 1, enumerable: true, configurable: true, writable: true })
  let polluted
  try {
    polluted = await app.inject({ method: 'POST', url: '/set-and-delete' })
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted
  }
  t.equal(polluted.statusCode, 200)
  t.equal(credentialOf(polluted), undefined, 'with a polluted prototype, still nothing issued')
  t.equal(store.size, 0, 'and nothing stored')
})

t.test('50 parallel first requests give 50 distinct sessions', async (t) => {
  const { app, store } = await buildApp(t, {}, routes)
  const responses = await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })))
  const credentials = new Set(responses.map((response) => credentialOf(response)))
  t.equal(credentials.size, 50)
  t.equal(store.size, 50)
})

t.test('a route with config.session false runs no session hook', async (t) => {
  let gets = 0
  const { app } = await buildApp(t, {}, (app) => {
    routes(app)
    app.get('/health', { config: { session: false } }, async (request) => ({ session: request.session }))
  })
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set' })) as string
  const store = app.sessionkit.store as MemoryStore
  const get = store.get.bind(store)
  store.get = async (id) => { gets++; return get(id) }
  const response = await app.inject({ method: 'GET', url: '/health', headers: { 'x-test-session': credential } })
  t.same(response.json(), { session: null })
  t.equal(gets, 0)
  t.equal(credentialOf(response), undefined)
})

t.test('a route declared before the plugin was loaded: a coded error at request.session, not a TypeError', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const app = Fastify()
  t.teardown(() => app.close())
  let early: unknown = 'not run'
  // an app hook ahead of the session's: it runs before the session is loaded
  app.addHook('onRequest', async (request) => {
    try { early = request.session } catch (err) { early = (err as { code: string }).code }
  })
  // registered without await: the routes below are declared before the plugin has run
  app.register(sessionkit, { secret: SECRET, store, transports: [testTransport()] })
  app.post('/too-early', async (request) => {
    request.session.set('n', 1)
    return { ok: true }
  })
  app.get('/opted-out', { config: { session: false } }, async (request) => ({ session: request.session }))
  app.setNotFoundHandler(async (request, reply) => reply.code(404).send({ session: request.session }))
  app.setErrorHandler(async (err: { statusCode?: number, code?: string }, request, reply) => {
    // an error handler that looks at the session of a request whose session failed to load
    return reply.code(err.statusCode ?? 500).send({ code: err.code, session: request.session === null ? null : 'some' })
  })
  await app.register(async (child) => {
    child.get('/late', async (request) => ({ isNew: request.session.isNew }))
  })
  await app.ready()

  const tooEarly = await app.inject({ method: 'POST', url: '/too-early' })
  t.equal(tooEarly.statusCode, 500)
  t.equal(tooEarly.json().code, 'FST_SESSIONKIT_ROUTE_WITHOUT_SESSION')
  t.match(tooEarly.json(), { code: 'FST_SESSIONKIT_ROUTE_WITHOUT_SESSION', session: null })
  t.equal(early, 'FST_SESSIONKIT_ROUTE_WITHOUT_SESSION', 'the same error for any code that reads it there')
  t.same((await app.inject({ method: 'GET', url: '/opted-out' })).json(), { session: null }, 'a route that opted out reads null')
  t.same((await app.inject({ method: 'GET', url: '/no-such-route' })).json(), { session: null }, 'the not-found handler reads null')

  early = 'not run'
  t.same((await app.inject({ method: 'GET', url: '/late' })).json(), { isNew: true }, 'a route declared after it has its session')
  t.equal(early, null, 'ahead of the session hooks, null: not loaded yet')
  const refused = await app.inject({ method: 'GET', url: '/late', headers: { 'x-test-session': 'x'.repeat(87) } })
  t.equal(refused.statusCode, 401, 'a session that failed to load keeps its status through an error handler that reads request.session')
  t.same(refused.json(), { code: 'FST_SESSIONKIT_INVALID_CREDENTIAL', session: null })
})

t.test('request.session is read-only: the hooks alone set it', async (t) => {
  const { app } = await buildApp(t, {}, (app) => {
    app.get('/assign', async (request) => {
      try {
        (request as unknown as { session: null }).session = null
        return { assigned: true }
      } catch (err) {
        return { assigned: false, name: (err as Error).name, isNew: request.session.isNew }
      }
    })
  })
  t.same((await app.inject({ method: 'GET', url: '/assign' })).json(), { assigned: false, name: 'TypeError', isNew: true })
})

t.test('a request with no credential costs no store call', async (t) => {
  let calls = 0
  const { app } = await buildApp(t, {}, routes)
  const store = app.sessionkit.store as MemoryStore
  for (const method of ['get', 'set', 'touch', 'destroy'] as const) {
    const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store)
    ;(store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => { calls++; return original(...args) }
  }
  await app.inject({ method: 'GET', url: '/read' })
  t.equal(calls, 0)
})

t.test('key rotation: older secrets verify and are re-issued; retired ones fail', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  async function app (secret: string | string[]): Promise<import('fastify').FastifyInstance> {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionkit, { secret, store, now: clock.now, transports: [testTransport()] })
    routes(app)
    return app
  }
  const before = await app(OLD_SECRET)
  const old = credentialOf(await before.inject({ method: 'POST', url: '/set', payload: { kept: 'yes' } })) as string
  const rotated = await app([SECRET, OLD_SECRET])
  const response = await rotated.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': old } })
  t.same(response.json(), { data: { kept: 'yes' }, isNew: false })
  const reissued = credentialOf(response) as string
  t.type(reissued, 'string')
  t.not(reissued, old)
  t.equal(reissued.slice(0, 43), old.slice(0, 43), 'same session, new signature')
  t.same(new KeyRing(SECRET).verify(reissued)?.stale, false)
  const again = await rotated.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': reissued } })
  t.equal(credentialOf(again), undefined, 'a current credential is not re-issued')
  const retired = await app(SECRET)
  const refused = await retired.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': old } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL')
})

t.test('ordered transports: agreeing credentials pass, disagreeing ones are 400', async (t) => {
  const transports = [testTransport(), testTransport({ header: 'x-other' })]
  const { app } = await buildApp(t, { transports }, routes)
  const first = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { who: 'first' } })) as string
  const second = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { who: 'second' } })) as string
  const agree = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': first, 'x-other': first } })
  t.same(agree.json(), { data: { who: 'first' }, isNew: false })
  const viaSecond = await app.inject({ method: 'GET', url: '/read', headers: { 'x-other': second } })
  t.same(viaSecond.json(), { data: { who: 'second' }, isNew: false })
  const disagree = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': first, 'x-other': second } })
  t.equal(disagree.statusCode, 400)
  t.equal(disagree.json().code, 'FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL')
  const claimed = await app.inject({ method: 'POST', url: '/set', headers: { 'x-other': '' } })
  t.type(credentialOf(claimed, 'x-other'), 'string', 'issued through the transport that claims the request')
  t.equal(credentialOf(claimed), undefined)
})

t.test('a handler that throws after changing the session: 500, nothing written', async (t) => {
  const { app, store } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post('/throw', async (request) => {
      request.session.set('half', 'written')
      throw new Error('boom')
    })
    app.post('/reply-500', async (request, reply) => {
      request.session.set('half', 'written')
      return reply.code(500).send({ error: 'handled' })
    })
  })
  const thrown = await app.inject({ method: 'POST', url: '/throw' })
  t.equal(thrown.statusCode, 500)
  t.equal(credentialOf(thrown), undefined)
  t.equal(store.size, 0)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  await app.inject({ method: 'POST', url: '/throw', headers: { 'x-test-session': credential } })
  await app.inject({ method: 'POST', url: '/reply-500', headers: { 'x-test-session': credential } })
  const read = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.same(read.json().data, { a: 1 })
})

class FailingStore extends MemoryStore {
  failing = false
  hanging = false
  garbage: unknown = undefined
  override async get (id: string): Promise<StoredSession | null> {
    if (this.garbage !== undefined) return this.garbage as StoredSession
    await this.#gate()
    return super.get(id)
  }

  override async set (id: string, record: StoredSession, expected: number, ttl: number): Promise<boolean> {
    await this.#gate()
    return super.set(id, record, expected, ttl)
  }

  async #gate (): Promise<void> {
    if (this.hanging) await new Promise(() => {})
    if (this.failing) throw new Error('ECONNREFUSED 10.0.0.7:6379 password=hunter2')
  }
}

t.test('a failing store is a coded 503 that leaks nothing and overwrites no credential', async (t) => {
  const clock = new ManualClock()
  const store = new FailingStore({ now: clock.now })
  t.teardown(() => store.close())
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  await app.register(sessionkit, { secret: SECRET, store, now: clock.now, transports: [testTransport({ onInvalid: 'anonymous' })] })
  routes(app)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  store.failing = true
  for (const request of [{ method: 'GET' as const, url: '/read', headers: { 'x-test-session': credential } }, { method: 'POST' as const, url: '/set', payload: { b: 2 } }]) {
    const response = await app.inject(request)
    t.equal(response.statusCode, 503)
    t.same(response.json(), { statusCode: 503, code: 'FST_SESSIONKIT_STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'Session store is unavailable' })
    t.equal(credentialOf(response), undefined, 'the client keeps its credential')
    t.notMatch(response.body, /ECONNREFUSED|hunter2|10\.0\.0\.7/)
  }
  t.notMatch(logs.join(''), new RegExp(credential.replace(/[.-]/g, '\\$&')), 'the credential is in no log line')
  store.failing = false
  const recovered = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.same(recovered.json(), { data: { a: 1 }, isNew: false }, 'recovers without a restart')
})

t.test('a store that hangs gives 503 after storeTimeout, unless it bounds its own latency', async (t) => {
  class UnboundedStore extends FailingStore {
    override readonly boundedLatency = false
  }
  const store = new UnboundedStore()
  t.teardown(() => store.close())
  const { app } = await buildApp(t, { store, storeTimeout: 50 }, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  store.hanging = true
  const response = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
})

t.test('a store that answers garbage is a coded 503', async (t) => {
  const store = new FailingStore()
  t.teardown(() => store.close())
  const { app } = await buildApp(t, { store }, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  for (const garbage of ['{', 42, { version: 0 }, { version: 1, createdAt: 1, lastSeenAt: 1, userId: 7, data: {} }, { version: 1, createdAt: 1, lastSeenAt: 1, userId: null, data: [] }, { version: 1, createdAt: 1, lastSeenAt: 1, userId: null, remembered: 'yes', data: {} }]) {
    store.garbage = garbage
    const response = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
    t.equal(response.statusCode, 503, JSON.stringify(garbage))
    t.equal(response.json().code, 'FST_SESSIONKIT_CORRUPT_RECORD')
  }
})

t.test('a write that keeps conflicting gives up with a coded 409', async (t) => {
  // a store without merge(): the engine falls back to conditional writes and their retries
  class ContendedStore extends MemoryStore {
    contended = false
    constructor (options: ConstructorParameters<typeof MemoryStore>[0]) {
      super(options)
      Object.defineProperty(this, 'merge', { value: undefined })
    }

    override async set (id: string, record: StoredSession, expected: number, ttl: number): Promise<boolean> {
      if (!this.contended) return super.set(id, record, expected, ttl)
      // another writer always got there first
      const current = await super.get(id) as StoredSession
      await super.set(id, { ...current, version: current.version + 1 }, current.version, ttl)
      return false
    }
  }
  const clock = new ManualClock()
  const store = new ContendedStore({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildApp(t, { store, now: clock.now }, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  store.contended = true
  const response = await app.inject({ method: 'POST', url: '/set', payload: { b: 2 }, headers: { 'x-test-session': credential } })
  t.equal(response.statusCode, 409)
  t.same(response.json(), { statusCode: 409, code: 'FST_SESSIONKIT_WRITE_CONFLICT', error: 'Conflict', message: 'Session could not be saved after 5 attempts because of concurrent changes' })
  // a new session whose id is taken, through the async writes and through the synchronous ones
  class TakenStore extends MemoryStore {
    override async set (): Promise<boolean> { return false }
  }
  const syncTaken = new MemoryStore()
  const reads = syncTaken.sync as NonNullable<MemoryStore['sync']>
  Object.defineProperty(syncTaken, 'sync', { value: { ...reads, set: () => false } })
  for (const taken of [new TakenStore(), syncTaken]) {
    t.teardown(() => taken.close())
    const { app: second } = await buildApp(t, { store: taken }, routes)
    const first = await second.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
    t.equal(first.statusCode, 409)
    t.equal(first.json().message, 'Session could not be saved after 1 attempts because of concurrent changes')
  }
})

t.test('touch is throttled, follows rolling, and never rewrites data', async (t) => {
  for (const rolling of [true, false]) {
    const { app, clock, store } = await buildApp(t, { rolling, idleTimeout: 100_000, touchInterval: 10_000 }, (app) => {
      routes(app)
      app.post('/touch', async (request) => {
        request.session.touch()
        return { expiresAt: request.session.expiresAt }
      })
    })
    const touches: number[] = []
    const touch = store.touch.bind(store)
    store.touch = async (id, lastSeenAt, ttl) => { touches.push(lastSeenAt); return touch(id, lastSeenAt, ttl) }
    // the memory store's synchronous write is the one the engine calls: observed the same way
    const sync = store.sync as Required<NonNullable<MemoryStore['sync']>>
    const touchNow = sync.touch
    sync.touch = (id, lastSeenAt, ttl) => { touches.push(lastSeenAt); return touchNow(id, lastSeenAt, ttl) }
    const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
    const headers = { 'x-test-session': credential }
    const start = clock.now()
    clock.advance(5_000)
    await app.inject({ method: 'GET', url: '/read', headers })
    t.same(touches, [], 'inside the interval: no touch')
    clock.advance(6_000)
    await app.inject({ method: 'GET', url: '/read', headers })
    t.same(touches, rolling ? [start + 11_000] : [], `a read past the interval touches only when rolling (${rolling})`)
    clock.advance(11_000)
    const touched = await app.inject({ method: 'POST', url: '/touch', headers })
    t.equal(touches.at(-1), start + 22_000, 'touch() touches')
    t.equal(touched.json().expiresAt, (rolling ? start + 11_000 : start) + 100_000, 'expiresAt reflects the record as loaded')
    t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { a: 1 })
  }
})

t.test('save() writes mid-request; the session closes once the response is sent', async (t) => {
  let late: unknown
  let lateReload: unknown
  const { app, store } = await buildApp(t, {}, (app) => {
    app.post('/save', async (request) => {
      request.session.set('step', 1)
      await request.session.save()
      const size = store.size
      request.session.set('step', 2)
      return { size, id: request.session.id }
    })
    app.addHook('onResponse', async (request) => {
      if (request.url !== '/save') return
      try { request.session.set('late', true) } catch (err) { late = err }
      lateReload = await request.session.reload().catch((err: unknown) => err)
    })
    routes(app)
  })
  const response = await app.inject({ method: 'POST', url: '/save' })
  t.equal(response.json().size, 1)
  t.match(response.json().id, /^[A-Za-z0-9_-]{43}$/)
  const read = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credentialOf(response) as string } })
  t.same(read.json().data, { step: 2 })
  t.match(late, { code: 'FST_SESSIONKIT_SESSION_CLOSED', message: 'Session can no longer be changed: set() after the response was sent' })
  t.match(lateReload, { code: 'FST_SESSIONKIT_SESSION_CLOSED', message: 'Session can no longer be changed: reload() after the response was sent' })
})

t.test('a route that hijacks its reply: the session is read as usual; save() before the hijack keeps changes', async (t) => {
  const { app } = await buildApp(t, {}, (app) => {
    routes(app)
    app.get<{ Querystring: { save?: string } }>('/stream', async (request, reply) => {
      const before = request.session.get('n')
      request.session.set('streamed', request.query.save === undefined ? 'unsaved' : 'saved')
      if (request.query.save !== undefined) await request.session.save()
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'text/plain' })
      reply.raw.end(`n=${String(before)}`)
    })
  })
  const headers = { 'x-test-session': credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 7 } })) as string }
  const unsaved = await app.inject({ method: 'GET', url: '/stream', headers })
  t.equal(unsaved.body, 'n=7', 'the session was loaded before the handler')
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { n: 7 }, 'no end-of-request save once the route owns the reply')
  const saved = await app.inject({ method: 'GET', url: '/stream?save', headers })
  t.equal(saved.body, 'n=7')
  t.equal(credentialOf(saved), undefined, 'nothing in the hijacked response')
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { n: 7, streamed: 'saved' }, 'save() before the hijack persisted it')
})

t.test('a hijacked, long-lived route notices a logout landing after its load with reload()', async (t) => {
  let arrived!: () => void
  let release!: () => void
  const inside = new Promise<void>((resolve) => { arrived = resolve })
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post('/logout', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.get('/events', async (request, reply) => {
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
      reply.raw.write(`data: ${String(request.session.get('n'))}\n\n`)
      arrived()
      await gate
      await request.session.reload()
      reply.raw.end(`data: ${request.session.isNew ? 'logged out' : String(request.session.get('n'))}\n\n`)
    })
  })
  const headers = { 'x-test-session': credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 7 } })) as string }
  const stream = app.inject({ method: 'GET', url: '/events', headers })
  await inside
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers })).statusCode, 200)
  release()
  t.equal((await stream).body, 'data: 7\n\ndata: logged out\n\n')
})

t.test('a change of user without regenerate(): a new credential, the old deleted, never a session brought back', async (t) => {
  /** Requests held after their change, until released: what lands meanwhile is the race under test. */
  const held: Array<{ arrived: Promise<void>, release: () => void }> = []
  function hold (): { arrived: () => void, wait: Promise<void> } {
    let arrived!: () => void
    let release!: () => void
    const wait = new Promise<void>((resolve) => { release = resolve })
    held.push({ arrived: new Promise<void>((resolve) => { arrived = resolve }), release })
    return { arrived: () => arrived(), wait }
  }
  const gates: Array<ReturnType<typeof hold>> = []
  const { app, store } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post<{ Body: { userId?: string } }>('/slow-set', async (request) => {
      request.session.set('userId', request.body.userId)
      const gate = gates.shift() as ReturnType<typeof hold>
      gate.arrived()
      await gate.wait
      return { ok: true }
    })
    app.post('/logout', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.get('/id', async (request) => ({ id: request.session.id }))
    app.post('/forget-user', async (request) => {
      request.session.delete('userId')
      return { ok: true }
    })
  })
  const slow = (credential: string, userId?: string): { response: Promise<LightMyRequestResponse>, arrived: Promise<void>, release: () => void } => {
    gates.push(hold())
    const response = app.inject({ method: 'POST', url: '/slow-set', payload: userId === undefined ? {} : { userId }, headers: { 'x-test-session': credential } })
    const { arrived, release } = held[held.length - 1] as { arrived: Promise<void>, release: () => void }
    return { response, arrived, release }
  }
  const read = async (credential: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })

  const anonymous = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 1 } })) as string
  const login = await app.inject({ method: 'POST', url: '/set', payload: { userId: 'ann' }, headers: { 'x-test-session': anonymous } })
  const moved = credentialOf(login) as string
  t.not(moved, anonymous)
  t.equal((await read(anonymous)).statusCode, 401, 'the old credential is dead')
  t.same((await read(moved)).json().data, { cart: 1, userId: 'ann' }, 'every key moved')
  const id = (await app.inject({ method: 'GET', url: '/id', headers: { 'x-test-session': moved } })).json().id
  t.same((await store.listUserSessions('ann')).map((row) => row.id), [id], 'indexed under the user')
  t.equal(store.size, 1)

  // a logout that lands while a switch of user is in flight: the old session is not brought back;
  // what the switch set starts a session of its own, as regenerate() and set() would
  const switching = slow(moved, 'bob')
  await switching.arrived
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: { 'x-test-session': moved } })).statusCode, 200)
  switching.release()
  const switched = await switching.response
  t.equal(switched.statusCode, 200)
  const own = credentialOf(switched) as string
  t.match(own, /^[A-Za-z0-9_-]{43}\./, 'a credential of its own')
  t.same((await read(own)).json().data, { userId: 'bob' }, 'holding what the switch set, nothing of the session logged out')
  t.equal((await read(moved)).statusCode, 401)
  t.same(await store.listUserSessions('ann'), [])

  // the same login sent twice (a double click): the second finds the session moved by the first,
  // and both answers carry a working credential
  const visitor = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 2 } })) as string
  const first = slow(visitor, 'cy')
  const second = slow(visitor, 'cy')
  await Promise.all([first.arrived, second.arrived])
  first.release()
  const one = await first.response
  second.release()
  const two = await second.response
  t.same((await read(credentialOf(one) as string)).json().data, { cart: 2, userId: 'cy' })
  t.same((await read(credentialOf(two) as string)).json().data, { userId: 'cy' }, 'the later answer, the one a browser keeps, is logged in too')
  t.equal((await read(visitor)).statusCode, 401)

  // a logout by deleting the user key of a session that held nothing else: it ends, on the server too
  const eve = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: 'eve' } })) as string
  const forgotten = await app.inject({ method: 'POST', url: '/forget-user', headers: { 'x-test-session': eve } })
  t.equal(credentialOf(forgotten), null, 'the client is told to forget its credential')
  t.equal((await read(eve)).statusCode, 401, 'and the server forgot it: the old credential is dead')
  t.same(await store.listUserSessions('eve'), [])

  // the same, while the session is destroyed: nothing left to store
  const dana = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: 'dana' } })) as string
  const leaving = slow(dana)
  await leaving.arrived
  await app.inject({ method: 'POST', url: '/logout', headers: { 'x-test-session': dana } })
  leaving.release()
  t.equal(credentialOf(await leaving.response), null, 'the client is told to forget its credential')
  t.same(await store.listUserSessions('dana'), [])
})

class AsyncStore extends MemoryStore {
  // an override: no synchronous access, so the engine awaits every call (merge() kept)
  override async get (id: string): Promise<StoredSession | null> { return await super.get(id) }
}

/** The three ways the engine talks to a store: at once, awaited with merge(), awaited with conditional writes only. */
const STORE_KINDS: Array<[string, () => SessionStore]> = [
  ['memory store (synchronous)', () => new MemoryStore()],
  ['a store the engine awaits, with merge()', () => new AsyncStore()],
  ['a callback store (no merge(): conditional writes)', () => callbackStore(new FastifySessionMemoryStore() as unknown as CallbackStore)]
]

t.test('a request in flight when its session ends or moves says nothing of the credential', async (t) => {
  for (const [name, make] of STORE_KINDS) {
    const store = make()
    t.teardown(() => (store as { close?: () => void }).close?.())
    let release!: () => void
    let arrived!: () => void
    const { app } = await buildApp(t, { store: store as MemoryStore }, (app) => {
      routes(app)
      app.post('/slow', async (request) => {
        request.session.set('late', true)
        arrived()
        await new Promise<void>((resolve) => { release = resolve })
        return { ok: true }
      })
      app.post('/regenerate', async (request) => {
        await request.session.regenerate(['n'])
        return { ok: true }
      })
      app.post('/logout', async (request) => {
        await request.session.destroy()
        return { ok: true }
      })
      // a login that forgets regenerate(): the engine moves the session itself
      app.post('/become', async (request) => {
        request.session.set('userId', 'ann')
        return { ok: true }
      })
    })
    for (const ending of ['/regenerate', '/become', '/logout']) {
      const headers = { 'x-test-session': credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string }
      const arrival = new Promise<void>((resolve) => { arrived = resolve })
      const slow = app.inject({ method: 'POST', url: '/slow', headers })
      await arrival
      const ended = await app.inject({ method: 'POST', url: ending, headers })
      t.equal(ended.statusCode, 200)
      release()
      const late = await slow
      t.equal(late.statusCode, 200)
      t.equal(credentialOf(late), undefined, `${name}, ${ending} meanwhile: nothing said (the client may hold a newer credential)`)
      t.equal((await app.inject({ method: 'GET', url: '/read', headers })).statusCode, 401, `${name}: the old session is not brought back`)
      if (ending !== '/logout') {
        const moved = credentialOf(ended) as string
        t.same((await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': moved } })).json().data, ending === '/become' ? { n: 1, userId: 'ann' } : { n: 1 }, `${name}: the new session without the late change`)
      }
    }
  }
})

t.test('credentialWillChange: true between a change of user and the save that moves the session', async (t) => {
  const { app } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post<{ Body: { userId?: string, note?: string } }>('/probe', async (request) => {
      const steps = [credentialWillChange(request.session)]
      if (request.body.note !== undefined) request.session.set('note', request.body.note)
      if (request.body.userId !== undefined) request.session.set('userId', request.body.userId)
      steps.push(credentialWillChange(request.session))
      await request.session.save()
      steps.push(credentialWillChange(request.session))
      return { steps, credential: sessionCredential(request.session) }
    })
  })
  const fresh = await app.inject({ method: 'POST', url: '/probe', payload: { userId: 'ann' } })
  t.same(fresh.json().steps, [false, false, false], 'a new session: its first credential comes with its first save')
  const headers = { 'x-test-session': credentialOf(fresh) as string }
  const kept = await app.inject({ method: 'POST', url: '/probe', payload: { note: 'book' }, headers })
  t.same(kept.json().steps, [false, false, false], 'a change that keeps the user')
  const switched = await app.inject({ method: 'POST', url: '/probe', payload: { userId: 'bob' }, headers })
  t.same(switched.json().steps, [false, true, false], 'a change of user, then saved')
  t.equal(switched.json().credential, credentialOf(switched), 'after the save, the credential handed out')
  t.equal(credentialWillChange(null), false, 'no session')
})

t.test('a change of user whose new record cannot be written keeps the old session as it was', async (t) => {
  class TakenStore extends MemoryStore {
    override async set (id: string, record: StoredSession, expected: number, ttl: number): Promise<boolean> {
      // every new id already taken (a broken random source)
      if (expected === 0 && record.userId !== null) return false
      return super.set(id, record, expected, ttl)
    }
  }
  const store = new TakenStore()
  t.teardown(() => store.close())
  const { app } = await buildApp(t, { store }, routes)
  const headers = { 'x-test-session': credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 1 } })) as string }
  const login = await app.inject({ method: 'POST', url: '/set', payload: { userId: 'ann' }, headers })
  t.equal(login.statusCode, 409)
  t.equal(login.json().code, 'FST_SESSIONKIT_WRITE_CONFLICT')
  t.equal(credentialOf(login), undefined)
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { cart: 1 }, 'the old session, unchanged')
})

/** Runs `between` after each read of a record, before the reader goes on, once `skip` reads have passed. */
class InterleavingStore extends MemoryStore {
  between: ((id: string) => Promise<void>) | undefined
  skip = 0
  override async get (id: string): Promise<StoredSession | null> {
    const record = await super.get(id)
    const between = this.between
    if (between !== undefined && record !== null && this.skip-- <= 0) await between(id)
    return record
  }
}

t.test('a change of user claims the record it moves: a logout or a change landing after the read is seen', async (t) => {
  const store = new InterleavingStore()
  t.teardown(() => store.close())
  const { app, clock } = await buildApp(t, { store }, routes)
  const read = async (credential: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  const login = async (credential: string): Promise<LightMyRequestResponse> => app.inject({ method: 'POST', url: '/set', payload: { userId: 'ann' }, headers: { 'x-test-session': credential } })

  // a logout lands between the read of the session and its move
  const logout = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 1 } })) as string
  // each time, the read that loads the login's session is let through: the one that moves it is the race
  store.skip = 1
  store.between = async (id) => {
    store.between = undefined
    await store.destroy(id)
  }
  const own = await login(logout)
  t.equal(own.statusCode, 200)
  t.same((await read(credentialOf(own) as string)).json().data, { userId: 'ann' }, 'what the login set starts a session of its own, nothing of the session logged out')
  t.equal((await read(logout)).statusCode, 401)

  // another request's change lands there: kept, as one landing before the read is
  const changed = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 2 } })) as string
  store.skip = 1
  store.between = async (id) => {
    store.between = undefined
    t.not(await store.merge(id, new Map([['note', 'n']]), { lastSeenAt: clock.now() }, 60_000), null)
  }
  const moved = await login(changed)
  t.same((await read(credentialOf(moved) as string)).json().data, { cart: 2, note: 'n', userId: 'ann' }, 'every key moved, the one merged meanwhile too')
  t.equal((await read(changed)).statusCode, 401)

  // a session that changes at every read: a coded 409, and the old session as it was
  const busy = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 3 } })) as string
  store.skip = 1
  store.between = async (id) => {
    await store.merge(id, new Map([['note', 'busy']]), { lastSeenAt: clock.now() }, 60_000)
  }
  const contended = await login(busy)
  store.between = undefined
  t.equal(contended.statusCode, 409)
  t.equal(contended.json().code, 'FST_SESSIONKIT_WRITE_CONFLICT')
  t.equal(credentialOf(contended), undefined)
  t.same((await read(busy)).json().data, { cart: 3, note: 'busy' }, 'still there, not moved')
})

t.test('regenerate(keep) carries over only from a session still live: never from one a logout ended meanwhile', async (t) => {
  const store = new InterleavingStore()
  t.teardown(() => store.close())
  /** A logout landing in the handler, before regenerate() reads the session. */
  let early: ((id: string) => Promise<void>) | undefined
  const { app } = await buildApp(t, { store }, (app) => {
    routes(app)
    app.post('/elevate', async (request) => {
      await early?.(request.session.id as string)
      await request.session.regenerate(['userId'])
      request.session.set('elevated', true)
      return { ok: true }
    })
    app.post('/rotate', async (request) => {
      await early?.(request.session.id as string)
      await request.session.regenerate(['userId'])
      return { ok: true }
    })
    app.post<{ Body: { keep: string[], then?: Record<string, unknown>, twice?: boolean } }>('/carry', async (request) => {
      const user = request.session.get('userId') as string
      await request.session.regenerate(request.body.keep)
      if (request.body.twice === true) await request.session.regenerate(request.body.keep)
      // what lands while the handler goes on: "sign out everywhere"
      await late?.(user)
      for (const [key, value] of Object.entries(request.body.then ?? {})) request.session.set(key, value)
      return { ok: true }
    })
  })
  /** A revocation landing in the handler after regenerate(). */
  let late: ((user: string) => Promise<void>) | undefined
  const read = async (credential: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  const signedIn = async (userId: string): Promise<string> => credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId, cart: 1 } })) as string
  const logout = async (id: string): Promise<void> => { await store.destroy(id) }

  const ann = await signedIn('ann')
  const elevated = await app.inject({ method: 'POST', url: '/elevate', headers: { 'x-test-session': ann } })
  t.same((await read(credentialOf(elevated) as string)).json().data, { userId: 'ann', elevated: true }, 'live: the kept key carried over, nothing else')
  t.equal((await read(ann)).statusCode, 401)

  // a logout lands before regenerate(), or between the read that claims the session and the claim
  for (const when of ['before', 'after the read'] as const) {
    for (const [route, expected] of [['/elevate', { elevated: true }], ['/rotate', null]] as const) {
      const name = `${route}, a logout ${when}`
      const user = `${route}-${when}`
      const credential = await signedIn(user)
      if (when === 'before') {
        early = async (id) => {
          early = undefined
          await logout(id)
        }
      } else {
        store.skip = 1
        store.between = async (id) => {
          store.between = undefined
          await logout(id)
        }
      }
      const late = await app.inject({ method: 'POST', url: route, headers: { 'x-test-session': credential } })
      t.ok(early === undefined && store.between === undefined, `${name}: landed in the request`)
      early = undefined
      store.between = undefined
      t.equal(late.statusCode, 200)
      const issued = credentialOf(late)
      if (expected === null) {
        t.equal(issued, undefined, `${name}: nothing to store, and the client told nothing of its credential`)
      } else {
        t.same((await read(issued as string)).json().data, expected, `${name}: what was set after starts a session of its own, without the user`)
      }
      t.same(await store.listUserSessions(user), [], `${name}: the logout holds`)
      t.equal((await read(credential)).statusCode, 401)
    }
  }

  // "sign out everywhere" landing after regenerate(keep), before the new session is saved
  const carry = async (user: string, keep: string[], then: Record<string, unknown>, revoke: boolean, twice = false): Promise<LightMyRequestResponse> => {
    const credential = await signedIn(user)
    late = revoke ? async (who) => { await app.sessionkit.revokeUserSessions(who) } : undefined
    const response = await app.inject({ method: 'POST', url: '/carry', payload: { keep, then, twice }, headers: { 'x-test-session': credential } })
    late = undefined
    t.equal((await read(credential)).statusCode, 401)
    return response
  }
  const revoked = await carry('dee', ['userId'], { elevated: true }, true)
  t.equal(revoked.statusCode, 200)
  t.equal(credentialOf(revoked), undefined, 'the carried login revoked meanwhile: nothing issued, nothing said')
  t.same(await store.listUserSessions('dee'), [], 'no session of the user outlives the revocation')
  const twice = await carry('ida', ['userId'], { elevated: true }, true, true)
  t.equal(credentialOf(twice), undefined, 'regenerate(keep) twice: the login is still the one carried over, and is not saved')
  t.same(await store.listUserSessions('ida'), [])
  const kept = await carry('eve', ['userId'], { elevated: true }, false)
  t.same((await read(credentialOf(kept) as string)).json().data, { userId: 'eve', elevated: true }, 'not revoked: saved as usual')
  const cart = await carry('flo', ['cart'], { note: 1 }, true)
  t.same((await read(credentialOf(cart) as string)).json().data, { cart: 1, note: 1 }, 'no user carried over: the anonymous session is saved, the revocation ended the user\'s')
  const other = await carry('gil', ['userId'], { userId: 'hal' }, true)
  t.same((await read(credentialOf(other) as string)).json().data, { userId: 'hal' }, 'a login of another user after it is not undone by the first user\'s revocation')
  t.same(await store.listUserSessions('gil'), [])
})

t.test('"sign out everywhere" leaves no gap for a regenerate(keep) running through it', async (t) => {
  /** Runs a hook once after the next generation bump, or after the next deletion of a user's sessions. */
  class RevocationStore extends MemoryStore {
    afterBump: (() => Promise<void>) | undefined
    afterDestroy: (() => Promise<void>) | undefined
    override async bumpUserGeneration (userId: string): Promise<number> {
      const generation = await super.bumpUserGeneration(userId)
      const hook = this.afterBump
      this.afterBump = undefined
      await hook?.()
      return generation
    }

    override async destroyUserSessions (userId: string, exceptId?: string): Promise<number> {
      const count = await super.destroyUserSessions(userId, exceptId)
      const hook = this.afterDestroy
      this.afterDestroy = undefined
      await hook?.()
      return count
    }
  }
  const store = new RevocationStore()
  t.teardown(() => store.close())
  /** Holds the next /elevate request right after its regenerate(). */
  let hold: { arrived: () => void, wait: Promise<void> } | undefined
  const { app } = await buildApp(t, { store }, (app) => {
    routes(app)
    app.post('/elevate', async (request) => {
      await request.session.regenerate(['userId'])
      const held = hold
      hold = undefined
      if (held !== undefined) {
        held.arrived()
        await held.wait
      }
      request.session.set('elevated', true)
      return { ok: true }
    })
  })
  const read = async (credential: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  /** An /elevate request for `credential`, held after its regenerate() until released (unless refused before). */
  const held = async (credential: string): Promise<{ release: () => void, response: Promise<LightMyRequestResponse> }> => {
    let arrived!: () => void
    let release!: () => void
    const inside = new Promise<void>((resolve) => { arrived = resolve })
    hold = { arrived: () => arrived(), wait: new Promise<void>((resolve) => { release = resolve }) }
    const response = app.inject({ method: 'POST', url: '/elevate', headers: { 'x-test-session': credential } })
    await Promise.race([inside, response])
    hold = undefined
    return { release, response }
  }

  // the request loads and regenerates between the bump and the deletion of the user's sessions
  const ann = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: 'ann' } })) as string
  let request: { release: () => void, response: Promise<LightMyRequestResponse> } | undefined
  store.afterBump = async () => { request = await held(ann) }
  await app.sessionkit.revokeUserSessions('ann')
  t.ok(request, 'the request ran inside the revocation')
  request?.release()
  const through = await request?.response as LightMyRequestResponse
  t.same(await store.listUserSessions('ann'), [], 'no session of the user outlives the revocation')
  t.equal(through.statusCode, 401, 'the request came with a session deleted before the bump')

  // the request regenerated before the revocation, and writes its new session between the first deletion and the bump
  const bob = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: 'bob' } })) as string
  const early = await held(bob)
  let written: LightMyRequestResponse | undefined
  store.afterDestroy = async () => {
    early.release()
    written = await early.response
  }
  t.equal(await app.sessionkit.revokeUserSessions('bob'), 1, 'the session written meanwhile, counted')
  t.ok(written, 'the request finished inside the revocation')
  t.same(await store.listUserSessions('bob'), [], 'and deleted by it')
  t.equal((await read(credentialOf(written as LightMyRequestResponse) as string)).statusCode, 401)
})

t.test('a password change: regenerate(keep), then revokeUserSessions keeps the saved current session only', async (t) => {
  const { app, store } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post<{ Body: { save: boolean } }>('/password', async (request) => {
      const user = request.session.get('userId') as string
      await request.session.regenerate(['userId'])
      if (request.body.save) await request.session.save()
      await app.sessionkit.revokeUserSessions(user, { except: request.session.id })
      return { ok: true }
    })
  })
  const read = async (credential: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  for (const save of [true, false]) {
    const user = save ? 'saved' : 'unsaved'
    const here = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: user } })) as string
    const elsewhere = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: user } })) as string
    const changed = await app.inject({ method: 'POST', url: '/password', payload: { save }, headers: { 'x-test-session': here } })
    t.equal(changed.statusCode, 200)
    t.equal((await read(elsewhere)).statusCode, 401, `${user}: the other session ended`)
    t.equal((await read(here)).statusCode, 401, `${user}: the old credential of this one too`)
    if (save) {
      t.same((await read(credentialOf(changed) as string)).json().data, { userId: user }, 'saved first and excepted: the current session lives')
      t.equal((await store.listUserSessions(user)).length, 1)
    } else {
      t.equal(credentialOf(changed), undefined, 'not saved, so no id to except: the current login is one of those ended')
      t.same(await store.listUserSessions(user), [])
    }
  }
})

t.test('the user-wide API lists, revokes one, and revokes all but one', async (t) => {
  const { app, store } = await buildApp(t, {}, (app) => {
    app.post<{ Body: { user: string } }>('/login', async (request) => {
      await request.session.regenerate()
      request.session.set('userId', request.body.user)
      return { ok: true }
    })
    app.get('/id', async (request) => ({ id: request.session.id }))
  })
  const login = async (user: string): Promise<string> => credentialOf(await app.inject({ method: 'POST', url: '/login', payload: { user } })) as string
  const ann = [await login('ann'), await login('ann'), await login('ann')]
  const ids = await Promise.all(ann.map(async (credential) => (await app.inject({ method: 'GET', url: '/id', headers: { 'x-test-session': credential } })).json().id))
  const list = await app.sessionkit.listUserSessions('ann')
  t.same(list.map((s) => s.id).sort(), [...ids].sort())
  t.equal(await app.sessionkit.revokeUserSession('bob', ids[0]), false, 'not bob\'s')
  t.equal(await app.sessionkit.revokeUserSession('ann', 'not an id'), false)
  t.equal(await app.sessionkit.revokeUserSession('ann', ids[0]), true)
  t.equal(await app.sessionkit.revokeUserSessions('ann', { except: ids[2] }), 1)
  t.same((await app.sessionkit.listUserSessions('ann')).map((s) => s.id), [ids[2]])
  t.equal(await store.userGeneration('ann'), 1, 'the generation moved, for token sessions')
  t.equal(await app.sessionkit.revokeUserSessions('ann'), 1)
  t.same(await app.sessionkit.listUserSessions('ann'), [])
})

t.test('a record the store kept past its time is refused and deleted by the engine', async (t) => {
  class LaggyStore extends MemoryStore {
    // expiry that lags, as with clock skew between app and store
    override async set (id: string, record: StoredSession, expected: number, ttl: number): Promise<boolean> {
      return super.set(id, record, expected, ttl * 10)
    }
  }
  const clock = new ManualClock()
  const store = new LaggyStore({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildApp(t, { store, now: clock.now, idleTimeout: 60_000 }, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  clock.advance(61_000)
  t.equal(store.size, 1)
  const response = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.equal(response.statusCode, 401)
  t.equal(store.size, 0, 'the entry is deleted')
})

t.test('an unbounded store that fails is a 503 too', async (t) => {
  class BrokenStore extends MemoryStore {
    override readonly boundedLatency = false
    override async get (): Promise<StoredSession | null> { throw new Error('socket hang up') }
  }
  const store = new BrokenStore()
  t.teardown(() => store.close())
  const { app } = await buildApp(t, { store }, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  const response = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.equal(response.statusCode, 503)
})

t.test('a store whose synchronous reads fail is a coded 503 too, and one that answers garbage as well', async (t) => {
  let answer: () => StoredSession | null = () => { throw new Error('ECONNREFUSED 10.0.0.7') }
  class FailingReads extends MemoryStore {
    override readonly sync = { ...(this as MemoryStore).sync as NonNullable<MemoryStore['sync']>, get: () => answer() }
  }
  const store = new FailingReads()
  t.teardown(() => store.close())
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  await app.register(sessionkit, { secret: SECRET, store, transports: [testTransport({ onInvalid: 'anonymous' })] })
  routes(app)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  const failed = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.equal(failed.statusCode, 503)
  t.equal(failed.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  t.notMatch(failed.body, /ECONNREFUSED/)
  t.match(logs.join(''), /ECONNREFUSED/, 'the cause is logged')
  answer = () => ({ version: 0 }) as StoredSession
  const garbage = await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })
  t.equal(garbage.statusCode, 503)
  t.equal(garbage.json().code, 'FST_SESSIONKIT_CORRUPT_RECORD')
  answer = () => null
  t.equal((await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })).json().isNew, true, 'a miss is a new session')
})

t.test('save() mid-request writes the change at once, through the async merge; the end of the request writes nothing more', async (t) => {
  const { app, store } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post('/save-now', async (request) => {
      request.session.set('b', 2)
      await request.session.save()
      return { isModified: request.session.isModified }
    })
  })
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  const merges: number[] = []
  const merge = store.merge.bind(store)
  store.merge = async (...args) => { merges.push(args[2].lastSeenAt); return merge(...args) }
  const response = await app.inject({ method: 'POST', url: '/save-now', headers: { 'x-test-session': credential } })
  t.same(response.json(), { isModified: false })
  t.equal(merges.length, 1, 'one merge, by save()')
  t.same((await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })).json().data, { a: 1, b: 2 })
})

t.test('a store whose synchronous writes fail is a coded 503 that leaks nothing', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const access = store.sync as Required<NonNullable<MemoryStore['sync']>>
  let failing = false
  const fail = (): never => { throw new Error('ENOSPC hunter2') }
  Object.defineProperty(store, 'sync', {
    value: {
      ...access,
      set: (...args: Parameters<typeof access.set>) => failing ? fail() : access.set(...args),
      merge: (...args: Parameters<typeof access.merge>) => failing ? fail() : access.merge(...args)
    }
  })
  const { app } = await buildApp(t, { store }, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })) as string
  failing = true
  for (const request of [{ method: 'POST' as const, url: '/set', payload: { b: 2 } }, { method: 'POST' as const, url: '/set', payload: { b: 2 }, headers: { 'x-test-session': credential } }]) {
    const response = await app.inject(request)
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
    t.notMatch(response.body, /ENOSPC|hunter2/)
  }
  failing = false
  t.same((await app.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': credential } })).json().data, { a: 1 }, 'nothing half-written')
})

t.test('save() of a new session with no data writes nothing and issues nothing', async (t) => {
  const { app, store } = await buildApp(t, {}, (app) => {
    app.post('/empty', async (request) => {
      await request.session.save()
      return { isNew: request.session.isNew }
    })
  })
  const response = await app.inject({ method: 'POST', url: '/empty' })
  t.same(response.json(), { isNew: true })
  t.equal(credentialOf(response), undefined)
  t.equal(store.size, 0)
})

t.test('a MemoryStore subclass that overrides a read has no synchronous reads, so its override is what runs', async (t) => {
  class Plain extends MemoryStore {}
  class OwnGet extends MemoryStore {
    override async get (id: string): Promise<StoredSession | null> { return super.get(id) }
  }
  class OwnDenylist extends MemoryStore {
    override async isTokenRevoked (jti: string): Promise<boolean> { return super.isTokenRevoked(jti) }
  }
  class OwnGeneration extends MemoryStore {
    override async userGeneration (userId: string): Promise<number> { return super.userGeneration(userId) }
  }
  const stores = [new MemoryStore(), new Plain(), new OwnGet(), new OwnDenylist(), new OwnGeneration()]
  for (const store of stores) t.teardown(() => store.close())
  t.same(stores.map((store) => store.sync !== undefined), [true, true, false, false, false])
})

t.test('route hooks of the user are kept, and see the session already loaded', async (t) => {
  const seen: string[] = []
  const { app } = await buildApp(t, {}, (app) => {
    app.get('/one', { onRequest: async (request) => { seen.push(`one:${request.session === null}`) } }, async (request) => ({ isNew: request.session.isNew }))
    app.get('/many', { onRequest: [async (request) => { seen.push(`many:${request.session === null}`) }] }, async (request) => ({ isNew: request.session.isNew }))
  })
  t.same((await app.inject('/one')).json(), { isNew: true })
  const many = await app.inject('/many')
  t.same(many.json(), { isNew: true })
  t.equal(many.headers['access-control-expose-headers'], 'x-test-session', 'the transport\'s setup ran')
  t.same(seen, ['one:false', 'many:false'])
})

t.test('sessionCredential hands transports the signed credential of a saved session', async (t) => {
  const { app } = await buildApp(t, {}, (app) => {
    app.post('/credential', async (request) => {
      const before = sessionCredential(request.session)
      request.session.set('a', 1)
      await request.session.save()
      return { before, after: sessionCredential(request.session), none: sessionCredential(null) }
    })
  })
  const response = await app.inject({ method: 'POST', url: '/credential' })
  t.same(response.json(), { before: null, after: credentialOf(response), none: null })
})

t.test('the credential cache is bounded, can be off, and never stands in for the store', async (t) => {
  for (const credentialCache of [0, 2]) {
    const { app, store } = await buildApp(t, { credentialCache }, (app) => {
      routes(app)
      app.get('/id', async (request) => ({ id: request.session.id, data: request.session.data() }))
    })
    const credentials: string[] = []
    for (let i = 0; i < 4; i++) credentials.push(credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { i } })) as string)
    const ids: string[] = []
    for (let round = 0; round < 2; round++) {
      for (const [i, credential] of credentials.entries()) {
        const response = (await app.inject({ method: 'GET', url: '/id', headers: { 'x-test-session': credential } })).json()
        t.same(response.data, { i }, `cache ${credentialCache}, round ${round}: session ${i}`)
        ids[i] = response.id
      }
    }
    await store.destroy(ids[3] as string)
    const gone = await app.inject({ method: 'GET', url: '/id', headers: { 'x-test-session': credentials[3] as string } })
    t.equal(gone.statusCode, 401, 'a remembered credential whose session ended is refused')
  }
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(sessionkit, { secret: SECRET, transports: [testTransport()], credentialCache: -1 })
  t.match(await app.ready().then(() => null, (err: unknown) => err), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "credentialCache": must be a non-negative integer (entries)' })
})

t.test('a session that gains a user without regenerate() joins the user index', async (t) => {
  const { app, store } = await buildApp(t, {}, routes)
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: [] } })) as string
  t.same(await store.listUserSessions('uma'), [])
  await app.inject({ method: 'POST', url: '/set', headers: { 'x-test-session': credential }, payload: { userId: 'uma' } })
  t.equal((await store.listUserSessions('uma')).length, 1)
  await app.inject({ method: 'POST', url: '/set', headers: { 'x-test-session': credential }, payload: { note: 'x' } })
  t.equal((await store.listUserSessions('uma')).length, 1, 'a change that leaves the user alone keeps it indexed')
})

t.test('objects read from a stored session are the request\'s own: changes inside them are saved, and reach the store only by a save', async (t) => {
  let seen: unknown
  const { app, store } = await buildApp(t, {}, (app) => {
    routes(app)
    app.post('/add', async (request) => {
      const cart = request.session.get('cart') as { items: string[] }
      cart.items.push('b')
      seen = store.sync?.get(request.session.id as string)?.data
      t.equal(request.session.get('cart'), cart, 'the same object on every get of the request')
      return { ok: true }
    })
    app.post('/save-then-change', async (request) => {
      const cart = request.session.get('cart') as { items: string[] }
      cart.items.push('c')
      await request.session.save()
      cart.items.push('after save')
      request.session.set('n', 2)
      const stored = store.sync?.get(request.session.id as string)?.data
      return { stored }
    })
    app.post('/change-twice', async (request) => {
      const cart = request.session.get('cart') as { items: string[] }
      cart.items.push('d')
      const modified = request.session.isModified
      cart.items.push('e')
      return { modified }
    })
    app.post('/throw-inside', async (request) => {
      const cart = request.session.get('cart') as { items: string[] }
      cart.items.push('lost')
      throw new Error('boom')
    })
  })
  const credential = credentialOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: { items: ['a'] }, n: 1 } })) as string
  const headers = { 'x-test-session': credential }
  t.equal((await app.inject({ method: 'POST', url: '/add', headers })).statusCode, 200)
  t.same(seen, { cart: { items: ['a'] }, n: 1 }, 'the stored record is untouched while the request runs')
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { cart: { items: ['a', 'b'] }, n: 1 }, 'the change inside was saved at the end')
  const response = await app.inject({ method: 'POST', url: '/save-then-change', headers })
  t.same(response.json().stored, { cart: { items: ['a', 'b', 'c'] }, n: 1 }, 'save() stored a copy: later changes are not in it')
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { cart: { items: ['a', 'b', 'c', 'after save'] }, n: 2 }, 'and the end of the request saved them')
  t.same((await app.inject({ method: 'POST', url: '/change-twice', headers })).json(), { modified: true })
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data.cart, { items: ['a', 'b', 'c', 'after save', 'd', 'e'] }, 'a change made after isModified saw the first is saved too')
  t.equal((await app.inject({ method: 'POST', url: '/throw-inside', headers })).statusCode, 500)
  t.same((await app.inject({ method: 'GET', url: '/read', headers })).json().data, { cart: { items: ['a', 'b', 'c', 'after save', 'd', 'e'] }, n: 2 }, 'a failed request changed nothing stored')
})

t.test('refreshOnActivity: the same credential again whenever the idle expiry moves, on every kind of store', async (t) => {
  for (const [name, make] of STORE_KINDS) {
    const store = make()
    const { app, clock } = await buildApp(t, { store, transports: [testTransport({ refreshOnActivity: true })] }, (app) => {
      app.get('/get', async (request) => ({ n: request.session.get('n') ?? null }))
      app.post('/set', async (request) => {
        request.session.set('n', 1)
        return { ok: true }
      })
      // the record ends elsewhere while this request reads it (a logout in another tab)
      app.get('/vanish', async (request) => {
        await store.destroy(request.session.id as string)
        return { n: request.session.get('n') ?? null }
      })
    })
    t.teardown(() => (store as { close?: () => void }).close?.())
    const nothing = await app.inject({ method: 'GET', url: '/get' })
    t.equal(credentialOf(nothing), undefined, `${name}: no session, nothing handed out`)
    const credential = credentialOf(await app.inject({ method: 'POST', url: '/set' })) as string
    const headers = { 'x-test-session': credential }
    const soon = await app.inject({ method: 'GET', url: '/get', headers })
    t.equal(credentialOf(soon), undefined, `${name}: a read within touchInterval moves nothing`)
    clock.advance(120_000)
    const later = await app.inject({ method: 'GET', url: '/get', headers })
    t.same(later.json(), { n: 1 })
    t.equal(credentialOf(later), credential, `${name}: a read that moves the idle expiry hands the credential out again`)
    t.equal(later.headers['cache-control'], 'no-store')
    clock.advance(120_000)
    const write = await app.inject({ method: 'POST', url: '/set', headers })
    t.equal(credentialOf(write), credential, `${name}: so does a write`)
    const failed = await app.inject({ method: 'GET', url: '/get', headers: { 'x-test-session': credential.slice(0, -1) + (credential.endsWith('A') ? 'B' : 'A') } })
    t.equal(failed.statusCode, 401, `${name}: a refused credential is not handed out again`)
    clock.advance(120_000)
    const vanished = await app.inject({ method: 'GET', url: '/vanish', headers })
    t.same(vanished.json(), { n: 1 })
    t.equal(credentialOf(vanished), undefined, `${name}: a touch that finds the record gone hands nothing out`)
  }
})

t.test('key rotation: a credential whose session ended while its request ran is not handed out again', async (t) => {
  for (const [name, make] of STORE_KINDS) {
    const clock = new ManualClock()
    const store = make()
    t.teardown(() => (store as { close?: () => void }).close?.())
    const before = Fastify()
    t.teardown(() => before.close())
    await before.register(sessionkit, { secret: OLD_SECRET, store, now: clock.now, transports: [testTransport()] })
    routes(before)
    const old = credentialOf(await before.inject({ method: 'POST', url: '/set', payload: { kept: 'yes' } })) as string
    const rotated = Fastify()
    t.teardown(() => rotated.close())
    await rotated.register(sessionkit, { secret: [SECRET, OLD_SECRET], store, now: clock.now, transports: [testTransport()] })
    routes(rotated)
    // the session ends (a login or a logout in another tab) while this request runs
    rotated.get('/read-while-moved', async (request) => {
      await store.destroy(request.session.id as string)
      return { data: request.session.data() }
    })
    clock.advance(120_000)
    const response = await rotated.inject({ method: 'GET', url: '/read-while-moved', headers: { 'x-test-session': old } })
    t.equal(response.statusCode, 200, name)
    t.equal(credentialOf(response), undefined, `${name}: the dead credential, signed anew, would replace the one the client holds now`)
    // still re-issued while the session lives
    const second = credentialOf(await before.inject({ method: 'POST', url: '/set', payload: { kept: 'yes' } })) as string
    clock.advance(120_000)
    const live = await rotated.inject({ method: 'GET', url: '/read', headers: { 'x-test-session': second } })
    t.equal(credentialOf(live)?.slice(0, 43), second.slice(0, 43), `${name}: a live one is signed anew`)
  }
})
