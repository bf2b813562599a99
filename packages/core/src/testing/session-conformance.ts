import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import type { Test } from 'tap'
import type { SessionStore } from '../contract.js'
import { generateToken, KeyRing } from '../credential.js'
import { MemoryStore } from '../memory-store.js'
import { ManualClock } from './clock.js'

/** The engine options the suite registers a mechanism with. */
export interface HarnessEngineOptions {
  secret: string
  store: SessionStore
  now: () => number
  idleTimeout: number
  absoluteTimeout: number
  /** Which user a session belongs to, when a suite says (the ecosystem suite reads passport's key). */
  userId?: ((data: Readonly<Record<string, unknown>>) => string | null | undefined) | undefined
}

/** How the session suite drives one mechanism. */
export interface SessionHarness {
  /** Registers the mechanism on `app` with these options (and anything else it needs). */
  register (app: FastifyInstance, options: HarnessEngineOptions): PromiseLike<unknown> | void
  /** The request, carrying `credential` in the mechanism's channel. */
  attach (request: InjectOptions, credential: string): InjectOptions
  /** The credential a response hands out: a string, `null` when it tells the client to forget, `undefined` when silent. */
  credentialOf (response: LightMyRequestResponse): string | null | undefined
  /** A credential of the right form and signature that names no session. @default a signed random token */
  forge?: ((options: HarnessEngineOptions) => string) | undefined
  /**
   * Stateless mechanisms (tokens): expiry is fixed at issue (`idleTimeout` is the token lifetime, and
   * reading does not extend it), and concurrent changes cannot be merged into one credential, so that
   * case is skipped with a reason.
   * @default false
   */
  stateless?: boolean | undefined
  /** The store the mechanism runs on. @default a MemoryStore on the suite's clock */
  store?: ((t: Test, now: () => number) => Promise<SessionStore> | SessionStore) | undefined
}

const IDLE = 10 * 60_000
const ABSOLUTE = 60 * 60_000
const SECRET = 'conformance-secret-0123456789abcdef-0123456789'

interface Setup {
  app: FastifyInstance
  clock: ManualClock
  options: HarnessEngineOptions
  gates: Map<string, { arrived: () => void, release: Promise<void>, open: () => void, ready: Promise<void> }>
}

/**
 * The `request.session` contract as tests: every sessionkit mechanism runs it against itself. A
 * mechanism that passes serves the same sessions as every other.
 */
export function sessionConformance (t: Test, harness: SessionHarness): void {
  async function setup (t: Test): Promise<Setup> {
    const clock = new ManualClock()
    const store = await harnessStore(t, harness, clock)
    const options: HarnessEngineOptions = { secret: SECRET, store, now: clock.now, idleTimeout: IDLE, absoluteTimeout: ABSOLUTE }
    const app = Fastify()
    t.teardown(() => app.close())
    await harness.register(app, options)
    const gates: Setup['gates'] = new Map()
    function gate (name: string): NonNullable<ReturnType<typeof gates.get>> {
      let entry = gates.get(name)
      if (entry === undefined) {
        let arrived!: () => void
        let open!: () => void
        const ready = new Promise<void>((resolve) => { arrived = resolve })
        const release = new Promise<void>((resolve) => { open = resolve })
        entry = { arrived, open, ready, release }
        gates.set(name, entry)
      }
      return entry
    }
    app.get('/session', async (request) => ({
      id: request.session.id,
      isNew: request.session.isNew,
      data: request.session.data()
    }))
    app.post<{ Body: Record<string, unknown> }>('/set', async (request) => {
      for (const [key, value] of Object.entries(request.body)) request.session.set(key, value)
      return { data: request.session.data(), isModified: request.session.isModified }
    })
    app.post<{ Body: { keep: string[] } }>('/regenerate', async (request) => {
      await request.session.regenerate(request.body.keep)
      request.session.set('regenerated', true)
      return { data: request.session.data() }
    })
    app.post<{ Body: { on: boolean } }>('/remember', async (request) => {
      request.session.remember(request.body.on)
      return { remembered: request.session.remembered }
    })
    app.get('/remembered', async (request) => ({ remembered: request.session.remembered }))
    app.post('/destroy', async (request) => {
      await request.session.destroy()
      return { destroyed: true }
    })
    app.post<{ Body: { userId: string } }>('/login', async (request) => {
      await request.session.regenerate()
      request.session.set('userId', request.body.userId)
      return { userId: request.body.userId }
    })
    app.post<{ Body: { userId: string } }>('/revoke-user', async (request) => {
      return { revoked: await app.sessionkit.revokeUserSessions(request.body.userId) }
    })
    app.post<{ Body: { gate: string, key: string, value?: unknown } }>('/gated-set', async (request) => {
      const entry = gate(request.body.gate)
      entry.arrived()
      await entry.release
      // no value: delete the key
      request.session.set(request.body.key, request.body.value)
      return { ok: true }
    })
    app.post<{ Body: { gate: string } }>('/gated-reload', async (request) => {
      const entry = gate(request.body.gate)
      entry.arrived()
      await entry.release
      // a change reload() drops
      request.session.set('unsaved', true)
      await request.session.reload()
      return { isNew: request.session.isNew, data: request.session.data() }
    })
    await app.ready()
    return { app, clock, options, gates }
  }

  async function issue (app: FastifyInstance, body: Record<string, unknown>): Promise<string> {
    const response = await app.inject({ method: 'POST', url: '/set', payload: body })
    const issued = harness.credentialOf(response)
    assert.equal(typeof issued, 'string', `a credential is issued (status ${response.statusCode})`)
    return issued as string
  }

  async function read (app: FastifyInstance, credential: string): Promise<LightMyRequestResponse> {
    return app.inject(harness.attach({ method: 'GET', url: '/session' }, credential))
  }

  async function isLive (app: FastifyInstance, credential: string): Promise<boolean> {
    const response = await read(app, credential)
    return response.statusCode === 200 && response.json().isNew === false
  }

  t.test('a new client gets an empty session and no credential until something is stored', async (t) => {
    const { app } = await setup(t)
    const response = await app.inject({ method: 'GET', url: '/session' })
    t.equal(response.statusCode, 200)
    t.same(response.json(), { id: null, isNew: true, data: {} })
    t.equal(harness.credentialOf(response), undefined)
  })

  t.test('values set come back exactly', async (t) => {
    const { app } = await setup(t)
    const values = { zero: 0, empty: '', no: false, nothing: null, nested: { list: [1, { deep: 'yes' }] }, text: 'é😀' }
    const credential = await issue(app, values)
    const response = await read(app, credential)
    t.equal(response.statusCode, 200)
    const body = response.json()
    t.equal(body.isNew, false)
    t.match(body.id, /^[A-Za-z0-9_-]{43}$/)
    t.not(credential.includes(body.id), true, 'the id is not the credential')
    t.same(body.data, values)
    t.equal(harness.credentialOf(response), undefined, 'a plain read issues nothing')
  })

  t.test('regenerate issues a new credential, keeps only the listed keys and kills the old one', async (t) => {
    const { app } = await setup(t)
    const before = await issue(app, { cart: ['book'], csrf: 'pre-login-secret' })
    const response = await app.inject(harness.attach({ method: 'POST', url: '/regenerate', payload: { keep: ['cart'] } }, before))
    t.equal(response.statusCode, 200)
    const after = harness.credentialOf(response)
    t.type(after, 'string')
    t.not(after, before)
    t.same(response.json().data, { cart: ['book'], regenerated: true })
    t.equal(await isLive(app, before), false, 'the old credential is dead')
    const now = await read(app, after as string)
    t.same(now.json().data, { cart: ['book'], regenerated: true })
  })

  t.test('a session that changes user without regenerate() moves to a new credential: the old one never carries the new user', async (t) => {
    const { app } = await setup(t)
    // fixation: a credential handed to the victim (a link, a planted cookie) before the victim logs in
    const planted = await issue(app, { cart: ['book'] })
    const login = await app.inject(harness.attach({ method: 'POST', url: '/set', payload: { userId: 'u-victim' } }, planted))
    t.equal(login.statusCode, 200)
    const own = harness.credentialOf(login)
    t.type(own, 'string', 'a new credential is handed out')
    t.not(own, planted)
    t.same((await read(app, own as string)).json().data, { cart: ['book'], userId: 'u-victim' }, 'with every key of the session')
    const old = await read(app, planted)
    t.not(old.statusCode === 200 && old.json().data.userId === 'u-victim', true, 'the planted credential is not logged in')
    // and from one user to another, the same
    const switched = await app.inject(harness.attach({ method: 'POST', url: '/set', payload: { userId: 'u-other' } }, own as string))
    const next = harness.credentialOf(switched)
    t.type(next, 'string')
    t.not(next, own)
    t.equal(await isLive(app, own as string), false, "the previous user's credential is dead")
    t.same((await read(app, next as string)).json().data, { cart: ['book'], userId: 'u-other' })
    // a change that keeps the user keeps the credential
    const same = await app.inject(harness.attach({ method: 'POST', url: '/set', payload: { userId: 'u-other', cart: [] } }, next as string))
    t.equal(same.statusCode, 200)
    if (harness.stateless !== true) t.equal(harness.credentialOf(same), undefined, 'a change that keeps the user issues nothing')
  })

  t.test('remember() is saved with the session, kept through regenerate, and undone by remember(false)', async (t) => {
    const { app } = await setup(t)
    let credential = await issue(app, { userId: 'u-remember' })
    const remembered = async (): Promise<boolean> => (await app.inject(harness.attach({ method: 'GET', url: '/remembered' }, credential))).json().remembered
    t.equal(await remembered(), false, 'not remembered unless asked')
    const asked = await app.inject(harness.attach({ method: 'POST', url: '/remember', payload: { on: true } }, credential))
    t.same(asked.json(), { remembered: true })
    // a token session is re-issued; a server-side one hands the same credential out again (a cookie
    // then outlives the browser session)
    t.type(harness.credentialOf(asked), 'string', 'the credential is handed out again')
    credential = harness.credentialOf(asked) as string
    t.equal(await remembered(), true, 'a later request sees it')
    const regenerated = await app.inject(harness.attach({ method: 'POST', url: '/regenerate', payload: { keep: ['userId'] } }, credential))
    t.not(harness.credentialOf(regenerated), credential)
    credential = harness.credentialOf(regenerated) as string
    t.equal(await remembered(), true, 'kept through regenerate')
    const undone = await app.inject(harness.attach({ method: 'POST', url: '/remember', payload: { on: false } }, credential))
    t.same(undone.json(), { remembered: false })
    t.type(harness.credentialOf(undone), 'string', 'and again')
    credential = harness.credentialOf(undone) as string
    t.equal(await remembered(), false, 'undone')
  })

  t.test('destroy clears the session and tells the client to forget it', async (t) => {
    const { app } = await setup(t)
    const credential = await issue(app, { userId: 'u-destroy' })
    const response = await app.inject(harness.attach({ method: 'POST', url: '/destroy' }, credential))
    t.equal(response.statusCode, 200)
    t.equal(harness.credentialOf(response), null)
    t.equal(await isLive(app, credential), false)
  })

  t.test('tampered, unknown, malformed, expired, revoked and replaced credentials get one same answer: refused and forgotten, or an anonymous session that leaves the credential alone', async (t) => {
    const { app, clock, options } = await setup(t)
    const live = await issue(app, { n: 1 })
    const tampered = live.slice(0, -10) + [...live.slice(-10)].reverse().join('')
    const unknown = (harness.forge ?? forgeSigned)(options)
    const malformed = 'not-a-credential'
    const revoked = await issue(app, { n: 2 })
    await app.inject(harness.attach({ method: 'POST', url: '/destroy' }, revoked))
    // a login replaced it; a request sent with it before the login's answer arrives after it
    const replaced = await issue(app, { n: 4 })
    const login = await app.inject(harness.attach({ method: 'POST', url: '/login', payload: { userId: 'u-replaced' } }, replaced))
    t.type(harness.credentialOf(login), 'string', 'the login hands out a new credential')
    const expired = await issue(app, { n: 3 })
    clock.advance(IDLE + 1_000)
    const answers = []
    for (const [name, credential] of Object.entries({ tampered, unknown, malformed, revoked, replaced, expired })) {
      const response = await read(app, credential)
      const headers = { ...response.headers }
      delete headers.date
      answers.push({ name, status: response.statusCode, body: response.body, headers, said: harness.credentialOf(response) })
    }
    const first = answers[0] as (typeof answers)[number]
    t.not(first.status, 500)
    if (first.status === 401 && (JSON.parse(first.body) as { code?: unknown }).code === 'FST_SESSIONKIT_INVALID_CREDENTIAL') {
      t.equal(first.said, null, 'refused: the client is told to forget the credential (a 401 is told so too, unlike the app\'s own 401s)')
    } else {
      t.same(JSON.parse(first.body), { id: null, isNew: true, data: {} }, 'not refused: an anonymous session')
      // a client that applies every answer (a browser its cookies) would lose the credential a login
      // has just given it to an answer about the one it replaced
      t.equal(first.said, undefined, 'the client\'s credential is left alone (a save replaces it)')
    }
    for (const answer of answers.slice(1)) {
      t.same({ ...answer, name: first.name }, first, `${answer.name} answers as ${first.name}`)
    }
  })

  if (harness.stateless === true) {
    t.test('a token lives until its fixed expiry; reading does not extend it', async (t) => {
      const { app, clock } = await setup(t)
      const credential = await issue(app, { n: 1 })
      clock.advance(IDLE / 2)
      t.equal(await isLive(app, credential), true, 'half-way')
      clock.advance(IDLE / 2 - 1_000)
      t.equal(await isLive(app, credential), true, 'one second before expiry')
      clock.advance(2_000)
      t.equal(await isLive(app, credential), false, 'one second after')
    })
  }

  t.test('idle and absolute timeouts are enforced from stored timestamps', { skip: harness.stateless === true && 'stateless: no server-side idle timeout' }, async (t) => {
    const { app, clock } = await setup(t)
    const idle = await issue(app, { n: 1 })
    clock.advance(IDLE - 1_000)
    t.equal(await isLive(app, idle), true, 'inside the idle timeout')
    clock.advance(IDLE - 1_000)
    t.equal(await isLive(app, idle), true, 'activity moved the idle expiry')
    clock.advance(IDLE + 1_000)
    t.equal(await isLive(app, idle), false, 'idle timeout + 1 s')
    const active = await issue(app, { n: 2 })
    for (let elapsed = 0; elapsed < ABSOLUTE - IDLE / 2; elapsed += IDLE / 2) {
      clock.advance(IDLE / 2)
      t.equal(await isLive(app, active), true)
    }
    clock.advance(IDLE / 2)
    t.equal(await isLive(app, active), false, 'activity every idle/2 still ends at the absolute timeout')
  })

  t.test('concurrent requests changing different keys both persist', { skip: harness.stateless === true && 'stateless: each request re-issues its own token' }, async (t) => {
    const { app, gates } = await setup(t)
    const credential = await issue(app, { base: 1, doomed: true })
    const changes = [{ gate: 'a', key: 'left', value: 'L' }, { gate: 'b', key: 'right', value: 'R' }, { gate: 'd', key: 'doomed' }]
    const pending = changes.map((payload) => app.inject(harness.attach({ method: 'POST', url: '/gated-set', payload }, credential)))
    for (const { gate } of changes) await waitFor(gates, gate)
    for (const { gate } of changes) gates.get(gate)?.open()
    const responses = await Promise.all(pending)
    t.same(responses.map((r) => r.statusCode), [200, 200, 200])
    t.same((await read(app, credential)).json().data, { base: 1, left: 'L', right: 'R' })
  })

  t.test('reload() reads what another request saved meanwhile and drops unsaved changes; a session ended meanwhile reloads as new', async (t) => {
    const { app, gates } = await setup(t)
    const reload = (gate: string, credential?: string): Promise<LightMyRequestResponse> => {
      const request: InjectOptions = { method: 'POST', url: '/gated-reload', payload: { gate } }
      return app.inject(credential === undefined ? request : harness.attach(request, credential))
    }
    const credential = await issue(app, { userId: 'u-reload', base: 1 })
    const changed = reload('changed', credential)
    await waitFor(gates, 'changed')
    t.equal((await app.inject(harness.attach({ method: 'POST', url: '/set', payload: { other: 'O' } }, credential))).statusCode, 200)
    gates.get('changed')?.open()
    const fresh = await changed
    t.equal(fresh.statusCode, 200)
    t.same(fresh.json(), { isNew: false, data: { userId: 'u-reload', base: 1, other: 'O' } }, 'the other request\'s change, not the unsaved one')
    t.equal(harness.credentialOf(fresh), undefined, 'nothing changed: nothing issued')

    const ended = reload('ended', credential)
    await waitFor(gates, 'ended')
    t.equal((await app.inject(harness.attach({ method: 'POST', url: '/destroy' }, credential))).statusCode, 200)
    gates.get('ended')?.open()
    const gone = await ended
    t.equal(gone.statusCode, 200)
    t.same(gone.json(), { isNew: true, data: {} }, 'a logout landing meanwhile: a new, empty session')
    t.equal(harness.credentialOf(gone), undefined, 'and the client is told nothing')
    t.equal(await isLive(app, credential), false, 'the session stays ended')

    const anonymous = reload('new')
    await waitFor(gates, 'new')
    gates.get('new')?.open()
    const unsaved = await anonymous
    t.same(unsaved.json(), { isNew: true, data: {} }, 'a session never saved: its changes go')
    t.equal(harness.credentialOf(unsaved), undefined)
  })

  t.test('a request in flight during destroy cannot bring the session back', async (t) => {
    const { app, gates } = await setup(t)
    const credential = await issue(app, { userId: 'u-flight' })
    const stale = app.inject(harness.attach({ method: 'POST', url: '/gated-set', payload: { gate: 'c', key: 'late', value: 1 } }, credential))
    await waitFor(gates, 'c')
    const destroyed = await app.inject(harness.attach({ method: 'POST', url: '/destroy' }, credential))
    t.equal(destroyed.statusCode, 200)
    gates.get('c')?.open()
    const late = await stale
    t.equal(late.statusCode, 200)
    t.not(typeof harness.credentialOf(late), 'string', 'no credential handed out for the dead session')
    t.equal(await isLive(app, credential), false, 'still dead')
  })

  t.test('user-wide revocation ends every session of that user only', async (t) => {
    const { app } = await setup(t)
    const login = async (userId: string): Promise<string> => {
      const response = await app.inject({ method: 'POST', url: '/login', payload: { userId } })
      return harness.credentialOf(response) as string
    }
    const [phone, laptop, other] = [await login('ann'), await login('ann'), await login('ben')]
    const response = await app.inject({ method: 'POST', url: '/revoke-user', payload: { userId: 'ann' } })
    t.same(response.json(), { revoked: 2 })
    t.equal(await isLive(app, phone), false)
    t.equal(await isLive(app, laptop), false)
    t.equal(await isLive(app, other), true)
  })
}

/** The store a harness asks for, or a memory store on the suite's clock, closed with the test. */
export async function harnessStore (t: Test, harness: SessionHarness, clock: ManualClock): Promise<SessionStore> {
  const store = harness.store === undefined ? new MemoryStore({ now: clock.now }) : await harness.store(t, clock.now)
  if (store instanceof MemoryStore) t.teardown(() => store.close())
  return store
}

function forgeSigned (options: HarnessEngineOptions): string {
  return new KeyRing(options.secret).sign(generateToken())
}

async function waitFor (gates: Setup['gates'], name: string): Promise<void> {
  while (gates.get(name) === undefined) await new Promise((resolve) => setImmediate(resolve))
  await gates.get(name)?.ready
}
