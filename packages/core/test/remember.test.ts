import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryStore, type StoredSession } from '@sessionkit/core'
import { buildApp } from './fixtures/app.js'
import { credentialOf, SECRET, testTransport } from './fixtures/transport.js'

const MINUTE = 60_000
const DAY = 86_400_000
const KEEP = 'x-test-session-keep-for'

function routes (app: FastifyInstance): void {
  app.post<{ Body: { remember?: boolean } }>('/login', async (request) => {
    request.session.set('userId', 'alice')
    if (request.body?.remember === true) request.session.remember()
    return { remembered: request.session.remembered }
  })
  app.get('/state', async (request) => ({ remembered: request.session.remembered, expiresAt: request.session.expiresAt, user: request.session.get('userId') ?? null }))
  app.post<{ Body: { on: unknown } }>('/remember', async (request) => {
    request.session.remember(request.body.on as boolean)
    return { remembered: request.session.remembered }
  })
  app.post('/regenerate', async (request) => {
    await request.session.regenerate(['userId'])
    return { remembered: request.session.remembered }
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    request.session.set('visitor', true)
    return { remembered: request.session.remembered }
  })
}

const headers = (credential: string): Record<string, string> => ({ 'x-test-session': credential })

t.test('a remembered session lives by the remember timeouts, and its client is told to keep it until its absolute end', async (t) => {
  const { app, clock, store } = await buildApp(t, {}, routes)
  const remembered = await app.inject({ method: 'POST', url: '/login', payload: { remember: true } })
  t.same(remembered.json(), { remembered: true })
  t.equal(remembered.headers[KEEP], String(30 * DAY), 'kept for the 30 days of remember.absoluteTimeout')
  const ordinary = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.same(ordinary.json(), { remembered: false })
  t.equal(ordinary.headers[KEEP], undefined, 'an ordinary session: the transport\'s default')
  const [kept, plain] = [credentialOf(remembered) as string, credentialOf(ordinary) as string]

  const state = await app.inject({ method: 'GET', url: '/state', headers: headers(kept) })
  t.same(state.json(), { remembered: true, expiresAt: clock.now() + 14 * DAY, user: 'alice' }, 'expires after the remember idle timeout')
  const id = (await app.sessionkit.listUserSessions('alice')).map((s) => s.id)
  t.same((await Promise.all(id.map((one) => store.get(one)))).map((record) => (record as StoredSession).remembered).sort(), [false, true], 'stored as remembered, and not')

  clock.advance(31 * MINUTE)
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(plain) })).statusCode, 401, 'the ordinary one is dead after 30 idle minutes')
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(kept) })).json().user, 'alice', 'the remembered one is not')
  // seen on days 13 and 26 (never 14 days idle), it still ends 30 days after login
  clock.advance(13 * DAY - 31 * MINUTE)
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(kept) })).statusCode, 200, 'alive on day 13')
  clock.advance(13 * DAY)
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(kept) })).statusCode, 200, 'alive on day 26')
  clock.advance(4 * DAY)
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(kept) })).statusCode, 401, 'dead at its absolute end')
})

t.test('an idle remembered session dies after remember.idleTimeout', async (t) => {
  const { app, clock } = await buildApp(t, { remember: { idleTimeout: 2 * DAY, absoluteTimeout: 10 * DAY } }, routes)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { remember: true } })
  t.equal(login.headers[KEEP], String(10 * DAY))
  clock.advance(2 * DAY - 1)
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(credentialOf(login) as string) })).statusCode, 200)
  clock.advance(2 * DAY)
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(credentialOf(login) as string) })).statusCode, 401)
})

for (const kind of ['synchronous', 'asynchronous'] as const) {
  t.test(`${kind} store: remember() on a saved session rewrites its record and hands the same credential out again; remember(false) undoes it`, async (t) => {
    /** The memory store without its synchronous access (any override turns it off). */
    class AsyncStore extends MemoryStore {
      override async get (id: string): Promise<StoredSession | null> { return await super.get(id) }
    }
    const { app, clock } = await buildApp(t, kind === 'asynchronous' ? { store: new AsyncStore() } : {}, routes)
    const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
    const credential = credentialOf(login) as string
    clock.advance(10 * MINUTE)
    const remember = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: headers(credential) })
    t.same(remember.json(), { remembered: true })
    t.equal(credentialOf(remember), credential, 'the same credential, written again')
    t.equal(remember.headers[KEEP], String(30 * DAY - 10 * MINUTE), 'kept until 30 days after the session began')
    t.equal(remember.headers['cache-control'], 'no-store')
    const again = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: headers(credential) })
    t.equal(credentialOf(again), undefined, 'remembered already: nothing written, nothing sent')
    clock.advance(2 * 3_600_000)
    t.same((await app.inject({ method: 'GET', url: '/state', headers: headers(credential) })).json().remembered, true, 'alive past the ordinary idle timeout')

    const forget = await app.inject({ method: 'POST', url: '/remember', payload: { on: false }, headers: headers(credential) })
    t.same(forget.json(), { remembered: false })
    t.equal(credentialOf(forget), credential)
    t.equal(forget.headers[KEEP], undefined, 'the transport\'s default again')
    clock.advance(31 * MINUTE)
    t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(credential) })).statusCode, 401, 'an ordinary session again: dead after 30 idle minutes')
  })
}

t.test('regenerate() keeps the session remembered; destroy() ends that with the session', async (t) => {
  const { app } = await buildApp(t, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { remember: true } })
  const regenerated = await app.inject({ method: 'POST', url: '/regenerate', headers: headers(credentialOf(login) as string) })
  t.same(regenerated.json(), { remembered: true })
  t.not(credentialOf(regenerated), credentialOf(login), 'a new credential')
  t.equal(regenerated.headers[KEEP], String(30 * DAY), 'remembered from the new session\'s start')
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: headers(credentialOf(regenerated) as string) })
  t.same(logout.json(), { remembered: false })
  t.equal(logout.headers[KEEP], undefined, 'the new anonymous session is not remembered')
})

t.test('remember() with something other than a boolean is refused at the call, and a new empty session stores nothing', async (t) => {
  const { app, store } = await buildApp(t, {}, routes)
  const bad = await app.inject({ method: 'POST', url: '/remember', payload: { on: 'yes' } })
  t.equal(bad.statusCode, 500)
  t.equal(bad.json().code, 'FST_SESSIONKIT_INVALID_VALUE')
  const empty = await app.inject({ method: 'POST', url: '/remember', payload: { on: true } })
  t.same(empty.json(), { remembered: true })
  t.equal(credentialOf(empty), undefined, 'no data, no session: nothing to remember')
  t.equal(store.size, 0)
})

t.test('the remember option is checked at registration', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['long', 'Invalid option "remember": must be an object: { idleTimeout, absoluteTimeout }'],
    [{ idleTimeout: 1.5 }, 'Invalid option "remember.idleTimeout": must be a positive integer (milliseconds)'],
    [{ idleTimeout: 10 * MINUTE }, 'Invalid option "remember.idleTimeout": must not be shorter than idleTimeout'],
    [{ idleTimeout: 2 * DAY, absoluteTimeout: DAY }, 'Invalid option "remember.absoluteTimeout": must not be shorter than remember.idleTimeout or absoluteTimeout'],
    [{ idleTimeout: 40 * MINUTE, absoluteTimeout: 60 * MINUTE }, 'Invalid option "remember.absoluteTimeout": must not be shorter than remember.idleTimeout or absoluteTimeout']
  ]
  const { sessionkit } = await import('@sessionkit/core')
  const Fastify = (await import('fastify')).default
  for (const [remember, message] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(sessionkit, { secret: SECRET, transports: [testTransport()], remember: remember as never })
    t.match(await app.ready().then(() => null, (err: unknown) => err), { code: 'FST_SESSIONKIT_INVALID_OPTION', message }, JSON.stringify(remember))
  }
  // longer ordinary timeouts raise the defaults with them
  const { app, clock } = await buildApp(t, { idleTimeout: 20 * DAY, absoluteTimeout: 40 * DAY }, routes)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { remember: true } })
  t.equal(login.headers[KEEP], String(40 * DAY))
  t.equal((await app.inject({ method: 'GET', url: '/state', headers: headers(credentialOf(login) as string) })).json().expiresAt, clock.now() + 20 * DAY)
})
