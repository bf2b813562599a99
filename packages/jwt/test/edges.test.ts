import t, { type Test } from 'tap'
import { createHmac } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { MemoryStore as FastifySessionMemoryStore } from '@fastify/session'
import { callbackStore, MemoryStore, type CallbackStore, type SessionSummary, type StoredSession } from '@sessionkit/core'
import { ManualClock, sessionConformance } from '@sessionkit/core/testing'
import { bearerTransport } from '@sessionkit/jwt'
import { buildJwtApp, bearer, InterleavingStore } from './fixtures/app.js'
import { bearerHarness, claimsAt, forge, SECRET, tokenOf } from './fixtures/keys.js'

async function login (app: import('fastify').FastifyInstance, user = 'alice'): Promise<{ access: string, refresh: string }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { user } })
  return { access: tokenOf(response) as string, refresh: String(response.headers['x-refresh-token']) }
}

/** A token signed without fast-jwt's checks, for claims its signer refuses to write. */
function signedByHand (header: object, claims: object): string {
  const body = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}

t.test('claims that are not what sessionkit issues: 401', async (t) => {
  const { app, clock } = await buildJwtApp(t)
  const now = clock.now()
  const user = { sub: 'alice', gen: 0, sk: { userId: 'alice' } }
  const cases: Record<string, string> = {
    'a kid that is not a string': forge(claimsAt(now, user), { header: { typ: 'at+jwt', kid: 7 } }),
    'a short jti': forge(claimsAt(now, { ...user, jti: 'abc' })),
    'an iat that is text': forge(claimsAt(now, { ...user, iat: 'now' })),
    'data that is not an object': forge(claimsAt(now, { ...user, sk: [1] })),
    'a sub without a generation': forge(claimsAt(now, { sub: 'alice', sk: {} })),
    'a sub that is not text': forge(claimsAt(now, { sub: 7, gen: 0, sk: {} })),
    'a malformed family': forge(claimsAt(now, { ...user, fam: 'x' })),
    'a malformed lineage': forge(claimsAt(now, { ...user, lin: 'x' })),
    'a lineage that is not text': forge(claimsAt(now, { ...user, lin: 7 })),
    'a remembered flag that is not true': forge(claimsAt(now, { ...user, rem: 'yes' })),
    'an nbf that is text': signedByHand({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' }, claimsAt(now, { ...user, nbf: 'soon' })),
    'a token over the size budget': forge(claimsAt(now, { ...user, sk: { pad: 'x'.repeat(9_000) } }))
  }
  for (const [name, token] of Object.entries(cases)) {
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).statusCode, 401, name)
  }
})

t.test('a new session: no expiry, nothing issued for data set and removed; touch() does nothing; save() issues now', async (t) => {
  const { app } = await buildJwtApp(t, {}, (app) => {
    app.post('/nothing', async (request) => {
      request.session.set('a', 1)
      request.session.delete('a')
      request.session.touch()
      return { expiresAt: request.session.expiresAt, isNew: request.session.isNew }
    })
    app.post('/save', async (request) => {
      request.session.set('a', 1)
      await request.session.save()
      return { expiresAt: request.session.expiresAt, id: request.session.id }
    })
    app.post('/save-unchanged', async (request) => {
      await request.session.save()
      return { isNew: request.session.isNew }
    })
  })
  const unchanged = await app.inject({ method: 'POST', url: '/save-unchanged' })
  t.same(unchanged.json(), { isNew: true }, 'save() with nothing changed issues nothing')
  t.equal(tokenOf(unchanged), undefined)
  const nothing = await app.inject({ method: 'POST', url: '/nothing' })
  t.same(nothing.json(), { expiresAt: null, isNew: true })
  t.equal(tokenOf(nothing), undefined)
  const saved = await app.inject({ method: 'POST', url: '/save' })
  t.equal(saved.json().expiresAt, Date.UTC(2030, 0, 1) + 15 * 60_000)
  t.match(saved.json().id, /^[A-Za-z0-9_-]{43}$/)
  t.type(tokenOf(saved), 'string')
})

t.test('a route that hijacks its reply reads the session; a change there is lost, destroy() there revokes at once', async (t) => {
  const { app } = await buildJwtApp(t, {}, (app) => {
    app.get<{ Querystring: { end?: string } }>('/stream', async (request, reply) => {
      const user = request.session.get('userId')
      request.session.set('streamed', true)
      if (request.query.end !== undefined) await request.session.destroy()
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'text/plain' })
      reply.raw.end(`user=${String(user)}`)
    })
  })
  const { access } = await login(app)
  const streamed = await app.inject({ method: 'GET', url: '/stream', headers: bearer(access) })
  t.equal(streamed.body, 'user=alice')
  t.equal(tokenOf(streamed), undefined, 'no token in the hijacked response')
  t.same((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).json().data, { userId: 'alice' }, 'the change made there is not in any token')
  const ended = await app.inject({ method: 'GET', url: '/stream?end', headers: bearer(access) })
  t.equal(ended.body, 'user=alice')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).statusCode, 401, 'destroy() there revoked the token')
})

t.test('a session that changes user without regenerate() leaves its old family behind', async (t) => {
  const { app, store } = await buildJwtApp(t)
  const { access } = await login(app, 'alice')
  const switched = await app.inject({ method: 'POST', url: '/set', headers: bearer(access), payload: { userId: 'bob' } })
  t.equal(switched.statusCode, 200)
  t.same(await store.listUserSessions('alice'), [], 'alice\'s family ended')
  t.equal((await store.listUserSessions('bob')).length, 1, 'bob has one')
  t.type(switched.headers['x-refresh-token'], 'string')
})

t.test('a family ended elsewhere (a shared store, another scope) ends the token session on its next change', async (t) => {
  const { app, store } = await buildJwtApp(t)
  const { access } = await login(app)
  const [family] = await store.listUserSessions('alice') as [SessionSummary]
  await store.destroy(family.id)
  const read = await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })
  t.equal(read.statusCode, 200, 'a read is stateless')
  const change = await app.inject({ method: 'POST', url: '/set', headers: bearer(access), payload: { x: 1 } })
  t.equal(change.statusCode, 200)
  // nothing said: the client may hold a newer token already (a login's), which a late "forget" would take away
  t.equal(tokenOf(change), undefined, 'no new token, and nothing said of the old')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL', 'which is dead')
})

t.test('a generation bumped by itself (password change) ends refresh too', async (t) => {
  const { app, store } = await buildJwtApp(t)
  const { refresh } = await login(app)
  await store.bumpUserGeneration('alice')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': refresh } })).statusCode, 401)
  t.same(await store.listUserSessions('alice'), [], 'the family is gone')
})

t.test('a corrupt family record is a coded 503; a sealed answer that does not open ends the family', async (t) => {
  const { app, store } = await buildJwtApp(t)
  const first = await login(app)
  const [family] = await store.listUserSessions('alice') as [SessionSummary]
  const record = await store.get(family.id) as StoredSession
  await store.set(family.id, { ...record, version: record.version + 1, data: { ...record.data, cur: 7 } }, record.version, 60_000)
  const corrupt = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': first.refresh } })
  t.equal(corrupt.statusCode, 503)
  t.equal(corrupt.json().code, 'FST_SESSIONKIT_CORRUPT_RECORD')
  const second = await login(app, 'bob')
  const rotated = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': second.refresh } })
  t.equal(rotated.statusCode, 200)
  const [bobs] = await store.listUserSessions('bob') as [SessionSummary]
  const bobRecord = await store.get(bobs.id) as StoredSession
  await store.set(bobs.id, { ...bobRecord, version: bobRecord.version + 1, data: { ...bobRecord.data, box: 'AAAA' } }, bobRecord.version, 60_000)
  const retry = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': second.refresh } })
  t.equal(retry.statusCode, 401)
  t.same(await store.listUserSessions('bob'), [])
})

t.test('a store whose synchronous denylist read fails is a coded 503, not a session', async (t) => {
  let failing = false
  class FailingReads extends MemoryStore {
    readonly #reads = (this as MemoryStore).sync as NonNullable<MemoryStore['sync']>
    override readonly sync = {
      ...this.#reads,
      isTokenRevoked: (jti: string): boolean => {
        if (failing) throw new Error('ECONNREFUSED 10.0.0.7')
        return this.#reads.isTokenRevoked(jti)
      }
    }
  }
  const clock = new ManualClock()
  const store = new FailingReads({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildJwtApp(t, { store, now: clock.now })
  const { access } = await login(app)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).statusCode, 200)
  failing = true
  const failed = await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })
  t.equal(failed.statusCode, 503)
  t.equal(failed.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  t.notMatch(failed.body, /ECONNREFUSED/)
})

t.test('a family write that keeps losing gives up with a coded 409', async (t) => {
  class ContendedStore extends MemoryStore {
    contended = false
    override async set (id: string, record: StoredSession, expected: number, ttl: number): Promise<boolean> {
      if (!this.contended) return super.set(id, record, expected, ttl)
      const current = await super.get(id) as StoredSession
      await super.set(id, { ...current, version: current.version + 1 }, current.version, ttl)
      return false
    }
  }
  const clock = new ManualClock()
  const store = new ContendedStore({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildJwtApp(t, { store, now: clock.now })
  const { access, refresh } = await login(app)
  store.contended = true
  const change = await app.inject({ method: 'POST', url: '/set', headers: bearer(access), payload: { x: 1 } })
  t.equal(change.statusCode, 409)
  t.equal(change.json().code, 'FST_SESSIONKIT_WRITE_CONFLICT')
  const rotate = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': refresh } })
  t.equal(rotate.statusCode, 401, 'a refresh that never gets its write through fails closed')
})

t.test('the admin API tolerates a session that ends while it works', async (t) => {
  class StaleListStore extends MemoryStore {
    stale: SessionSummary[] = []
    override async listUserSessions (userId: string): Promise<SessionSummary[]> {
      return this.stale.length > 0 ? this.stale : super.listUserSessions(userId)
    }
  }
  const clock = new ManualClock()
  const store = new StaleListStore({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildJwtApp(t, { store, now: clock.now })
  await login(app)
  store.stale = await store.listUserSessions('alice')
  await store.destroy((store.stale[0] as SessionSummary).id)
  t.equal(await app.sessionkit.revokeUserSession('alice', (store.stale[0] as SessionSummary).id), true)
})

t.test('a userId function, and a callback-style store (latency bounded by storeTimeout)', async (t) => {
  sessionConformance(t, {
    ...bearerHarness({ userId: (data) => data.userId as string | undefined }),
    store: (_t, now) => callbackStore(new FastifySessionMemoryStore() as unknown as CallbackStore, { now })
  })
})

t.test('bearerTransport validates its response header', async (t) => {
  for (const responseHeader of ['bad header', 'set-cookie', 'Content-Type', 'cache-control', 'authorization']) {
    t.throws(() => bearerTransport({ responseHeader }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "responseHeader": must be a header name of letters, digits and "-", none of cookie, set-cookie, authorization, host, content-length, content-type, content-encoding, transfer-encoding, connection, cache-control, location, referrer-policy, access-control-expose-headers' }, responseHeader)
  }
  t.equal(bearerTransport({ responseHeader: 'X-Token' }).name, 'bearer')
})

t.test('an anonymous token destroyed while another request with it is in flight is not brought back', async (t) => {
  let arrived!: () => void
  let release!: () => void
  const inside = new Promise<void>((resolve) => { arrived = resolve })
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app } = await buildJwtApp(t, {}, (app) => {
    app.post('/gated', async (request) => {
      arrived()
      await gate
      request.session.set('late', true)
      return { ok: true }
    })
  })
  const anonymous = tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: ['book'] } })) as string
  const late = app.inject({ method: 'POST', url: '/gated', headers: bearer(anonymous) })
  await inside
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(anonymous) })).statusCode, 204)
  release()
  const response = await late
  t.equal(response.statusCode, 200)
  t.equal(tokenOf(response), undefined, 'no new token, and nothing said of the old (the logout\'s answer said it)')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(anonymous) })).json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL', 'which stays dead')
})

t.test('a session without a user is one lineage: a logout of any of its tokens, even one landing while a change is issued, ends them all', async (t) => {
  const clock = new ManualClock()
  const store = new InterleavingStore({ now: clock.now })
  t.teardown(() => store.close())
  /** What lands right after the next read of the denylist, once the handler runs: the change's own read before it issues. */
  let meanwhile: (() => Promise<void>) | undefined
  const { app } = await buildJwtApp(t, { store, now: clock.now }, (app) => {
    app.post<{ Body: Record<string, unknown> }>('/change', async (request) => {
      store.afterDenylist = meanwhile
      for (const [key, value] of Object.entries(request.body)) request.session.set(key, value)
      return { ok: true }
    })
  })
  const set = async (payload: Record<string, unknown>, token?: string) => await app.inject({ method: 'POST', url: '/set', payload, ...(token === undefined ? {} : { headers: bearer(token) }) })
  const status = async (token: string): Promise<number> => (await set({}, token)).statusCode
  const logout = async (token: string): Promise<number> => (await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode

  const first = tokenOf(await set({ cart: ['book'] })) as string
  let landed = 0
  meanwhile = async () => { landed = await logout(first) }
  const changed = await app.inject({ method: 'POST', url: '/change', payload: { cart: ['book', 'pen'] }, headers: bearer(first) })
  t.equal(landed, 204, 'the logout landed inside the change, after its read of the denylist, and succeeded')
  const late = tokenOf(changed)
  t.type(late, 'string', 'the change had read its session live: it issued')
  t.equal(await status(late as string), 401, 'the token it issued is dead: the logout ended the lineage')
  t.equal(await status(first), 401)

  // the new token's expiry is counted from before that read: however long the request takes after
  // it, the lineage stays denied until the token it issues has expired
  const slow = tokenOf(await set({ cart: ['lamp'] })) as string
  meanwhile = async () => {
    t.equal(await logout(slow), 204)
    clock.advance(5 * 60_000)
  }
  const slowChange = tokenOf(await app.inject({ method: 'POST', url: '/change', payload: { more: 1 }, headers: bearer(slow) })) as string
  clock.advance(10 * 60_000 + 1)
  t.equal(await status(slowChange), 401, 'the lineage outlives the token issued after the logout landed')

  // a logout sent with an older token of the session (another tab) ends the newer ones
  const older = tokenOf(await set({ step: 1 })) as string
  const middle = tokenOf(await set({ step: 2 }, older)) as string
  const newest = tokenOf(await set({ step: 3 }, middle)) as string
  t.same((await set({}, newest)).json().data, { step: 3 })
  t.equal(await logout(older), 204)
  t.same([await status(older), await status(middle), await status(newest)], [401, 401, 401], 'every token of the session ends')
  const other = tokenOf(await set({ step: 1 })) as string
  const otherNewer = tokenOf(await set({ step: 2 }, other)) as string
  t.equal(await logout(otherNewer), 204)
  t.same([await status(other), await status(otherNewer)], [401, 401], 'a logout with the newest ends the first too')

  // the lineage stays denylisted as long as a token of it can live (15 minutes here), however soon
  // the token the logout came with would have expired
  const root = tokenOf(await set({ n: 1 })) as string
  clock.advance(10 * 60_000)
  const child = tokenOf(await set({ n: 2 }, root)) as string
  clock.advance(4 * 60_000)
  t.equal(await logout(root), 204, 'a logout with the first token, a minute before it expires')
  clock.advance(10 * 60_000)
  t.equal(await status(child), 401, 'the first token has expired; the lineage is still denied, and with it the token issued from it')
  clock.advance(5 * 60_000 + 1)

  // a session that gains a user leaves its lineage for a family, and ends the lineage
  const guest = tokenOf(await set({ cart: 'mug' })) as string
  const member = tokenOf(await set({ userId: 'gus' }, guest)) as string
  t.equal(await status(guest), 401, 'the login ended the guest token')
  t.equal(await logout(guest), 401)
  t.equal(await status(member), 200, 'a login is a new start: the guest token ending leaves it')
})

/**
 * A store whose denylist steps a test can interleave with another request's, on a clock of its own;
 * without `revokeTokenOnce` unless `atomic` (the denylist is then read, and written after).
 */
function interleaving (t: Test, atomic: boolean): { clock: ManualClock, store: InterleavingStore } {
  const clock = new ManualClock()
  const store = new InterleavingStore({ now: clock.now })
  t.teardown(() => store.close())
  if (!atomic) Object.defineProperty(store, 'revokeTokenOnce', { value: undefined })
  return { clock, store }
}

t.test('a session without a user that a user logs in to without regenerate() ends there: none of its tokens outlives the login, and a logout landing first wins', async (t) => {
  for (const atomic of [true, false]) {
    const { clock, store } = interleaving(t, atomic)
    /** What lands once the login's handler runs (after its load), and right after its claim (or read) of the lineage. */
    let first: (() => Promise<void>) | undefined
    let meanwhile: (() => Promise<void>) | undefined
    const { app } = await buildJwtApp(t, { store, now: clock.now }, (app) => {
      app.post<{ Body: { userId: string } }>('/login-forgetting', async (request) => {
        await first?.()
        store.afterDenylist = meanwhile
        request.session.set('userId', request.body.userId)
        return { ok: true }
      })
    })
    const set = async (payload: Record<string, unknown>, token?: string) => await app.inject({ method: 'POST', url: '/set', payload, ...(token === undefined ? {} : { headers: bearer(token) }) })
    const dataOf = async (token: string): Promise<{ status: number, data: unknown }> => {
      const response = await set({}, token)
      return { status: response.statusCode, data: response.json().data }
    }
    const logout = async (token: string): Promise<number> => (await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode
    const login = async (token: string): Promise<string | null | undefined> => {
      const response = await app.inject({ method: 'POST', url: '/login-forgetting', payload: { userId: 'gus' }, headers: bearer(token) })
      t.equal(response.statusCode, 200)
      return tokenOf(response)
    }
    const name = atomic ? 'revokeTokenOnce' : 'a denylist read'
    for (const [label, payloads] of [['a first token', [{ cart: 'mug' }]], ['a re-issued one', [{ cart: 'mug' }, { more: 1 }]]] as const) {
      const guest = async (): Promise<string[]> => {
        const tokens: string[] = []
        for (const payload of payloads) tokens.push(tokenOf(await set(payload, tokens.at(-1))) as string)
        return tokens
      }

      const plain = await guest()
      const member = await login(plain.at(-1) as string) as string
      t.match(await dataOf(member), { status: 200, data: { cart: 'mug', userId: 'gus' } }, `${name}, ${label}: the login carries the guest's data`)
      for (const token of plain) t.equal((await dataOf(token)).status, 401, `${name}, ${label}: every token of the guest session is dead`)

      const ended = await guest()
      let landed = 0
      first = async () => { landed = await logout(ended[0] as string) }
      t.equal(await login(ended.at(-1) as string), undefined, `${name}, ${label}: a logout landing after the login's load ends it: no token, and nothing said of the old`)
      first = undefined
      t.equal(landed, 204)
      t.equal((await dataOf(ended.at(-1) as string)).status, 401)

      const racing = await guest()
      meanwhile = async () => { landed = await logout(racing[0] as string) }
      const raced = await login(racing.at(-1) as string) as string
      meanwhile = undefined
      t.equal((await dataOf(raced)).status, 200, `${name}, ${label}: the login lives`)
      // the window a store without revokeTokenOnce leaves (packages/jwt/README.md): the logout lands between the read and the revocation
      t.equal(landed, atomic ? 401 : 204, `${name}, ${label}: the logout landing right after the login's claim ${atomic ? 'finds the guest ended' : 'succeeds'}`)
      for (const token of racing) t.equal((await dataOf(token)).status, 401)
    }
  }
})

t.test('a session with a user keeps concurrent changes of different keys, in its family and in the tokens issued after them', async (t) => {
  const gates = new Map<string, () => void>()
  const { app } = await buildJwtApp(t, { remember: { refreshTokenTtl: '30d' } }, (app) => {
    app.post<{ Body: { gate: string, key: string, value?: unknown, remember?: boolean } }>('/gated', async (request) => {
      await new Promise<void>((resolve) => gates.set(request.body.gate, resolve))
      const { key, value } = request.body
      if (value === undefined) request.session.delete(key)
      else request.session.set(key, value)
      if (request.body.remember !== undefined) request.session.remember(request.body.remember)
      return { ok: true }
    })
  })
  const arrived = async (gate: string): Promise<void> => { while (!gates.has(gate)) await new Promise((resolve) => setImmediate(resolve)) }
  const me = async (token: string): Promise<unknown> => (await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json().data
  const refreshed = async (token: string): Promise<{ access: string, refresh: string }> => {
    const response = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': token } })
    t.equal(response.statusCode, 200)
    return { access: tokenOf(response) as string, refresh: String(response.headers['x-refresh-token']) }
  }

  const { access, refresh } = await login(app, 'ann')
  const token = tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { base: 1, doomed: true }, headers: bearer(access) })) as string
  const changes = [{ gate: 'a', key: 'left', value: 'L' }, { gate: 'b', key: 'right', value: 'R' }, { gate: 'd', key: 'doomed' }]
  const pending = changes.map((payload) => app.inject({ method: 'POST', url: '/gated', payload, headers: bearer(token) }))
  for (const { gate } of changes) await arrived(gate)
  // opened one after another: each change lands after the one before it has been written
  const answers: LightMyRequestResponse[] = []
  for (const [i, { gate }] of changes.entries()) {
    gates.get(gate)?.()
    answers.push(await (pending[i] as Promise<LightMyRequestResponse>))
  }
  t.same(answers.map((answer) => answer.statusCode), [200, 200, 200])
  const [first, , last] = answers.map((answer) => tokenOf(answer) as string)
  t.same(await me(first as string), { userId: 'ann', base: 1, doomed: true, left: 'L' }, 'the first change, as it was then')
  t.same(await me(last as string), { userId: 'ann', base: 1, left: 'L', right: 'R' }, 'the last token carries every change')
  const [family] = await app.sessionkit.listUserSessions('ann')
  const next = await refreshed(refresh)
  t.same(await me(next.access), { userId: 'ann', base: 1, left: 'L', right: 'R' }, 'and so does the family: a refresh gives them all')

  // remember() starts the family again: from its newest data, a change another request made meanwhile included
  gates.clear()
  const remembering = app.inject({ method: 'POST', url: '/gated', payload: { gate: 'r', key: 'theme', value: 'dark', remember: true }, headers: bearer(next.access) })
  await arrived('r')
  t.equal((await app.inject({ method: 'POST', url: '/set', payload: { cart: ['book'] }, headers: bearer(next.access) })).statusCode, 200)
  gates.get('r')?.()
  const remembered = await remembering
  t.same(await me(tokenOf(remembered) as string), { userId: 'ann', base: 1, left: 'L', right: 'R', cart: ['book'], theme: 'dark' })
  const sessions = await app.sessionkit.listUserSessions('ann')
  t.equal(sessions.length, 1, 'one family')
  t.not(sessions[0]?.id, family?.id, 'a new one')
  const again = await refreshed(String(remembered.headers['x-refresh-token']))
  t.same(await me(again.access), { userId: 'ann', base: 1, left: 'L', right: 'R', cart: ['book'], theme: 'dark' })

  // two changes that each fit the size budget, but not together: the later one is refused, unwritten
  gates.clear()
  const big = 'x'.repeat(3_000)
  const held = app.inject({ method: 'POST', url: '/gated', payload: { gate: 'big', key: 'second', value: big }, headers: bearer(again.access) })
  await arrived('big')
  const fits = await app.inject({ method: 'POST', url: '/set', payload: { first: big }, headers: bearer(again.access) })
  t.equal(fits.statusCode, 200, 'the first fits')
  gates.get('big')?.()
  const refused = await held
  t.equal(refused.statusCode, 500)
  t.equal(refused.json().code, 'FST_SESSIONKIT_TOKEN_TOO_LARGE', 'the second does not, with the first')
  t.equal(tokenOf(refused), undefined, 'and issues nothing')
  const after = await refreshed(again.refresh)
  t.match(await me(after.access), { first: big, theme: 'dark' }, 'the family keeps the first')
  t.notOk(Object.hasOwn(await me(after.access) as object, 'second'))
  // the same for remember(), which starts the family again: refused before the old family ends
  gates.clear()
  const restarting = app.inject({ method: 'POST', url: '/gated', payload: { gate: 'again', key: 'third', value: big, remember: false }, headers: bearer(again.access) })
  await arrived('again')
  gates.get('again')?.()
  const overBudget = await restarting
  t.equal(overBudget.json().code, 'FST_SESSIONKIT_TOKEN_TOO_LARGE', 'remember(false) with what the family holds now is over the budget')
  t.match(await me((await refreshed(after.refresh)).access), { first: big }, 'the family lives on, unchanged')
})

t.test('reload(): a token without a user keeps its own data; a family gone from the store reloads as new', async (t) => {
  const { app, store } = await buildJwtApp(t, {}, (app) => {
    app.post<{ Body: { drop?: boolean } }>('/reload', async (request) => {
      request.session.set('unsaved', true)
      if (request.body.drop === true) await store.destroy(request.session.id as string)
      await request.session.reload()
      return { isNew: request.session.isNew, data: request.session.data() }
    })
    app.post('/save-reload', async (request) => {
      request.session.set('saved', 1)
      await request.session.save()
      request.session.set('unsaved', true)
      await request.session.reload()
      return { data: request.session.data() }
    })
  })
  const guest = tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 'mug' } })) as string
  const reloaded = await app.inject({ method: 'POST', url: '/reload', payload: {}, headers: bearer(guest) })
  t.same(reloaded.json(), { isNew: false, data: { cart: 'mug' } }, 'the token\'s own data, the change dropped')
  t.equal(tokenOf(reloaded), undefined)
  const { access } = await login(app, 'ann')
  const saved = await app.inject({ method: 'POST', url: '/save-reload', payload: {}, headers: bearer(access) })
  t.same(saved.json().data, { userId: 'ann', saved: 1 }, 'after save(): what was saved')
  t.type(tokenOf(saved), 'string', 'and the saved token is handed out')
  const dropped = await app.inject({ method: 'POST', url: '/reload', payload: { drop: true }, headers: bearer(tokenOf(saved) as string) })
  t.same(dropped.json(), { isNew: true, data: {} }, 'its family deleted meanwhile (no denylist entry): a new, empty session')
  t.equal(tokenOf(dropped), undefined, 'nothing issued, nothing said')
})

t.test('the id of a session without a user stays the same across changes; regenerate() gives a new one', async (t) => {
  const { app } = await buildJwtApp(t, {}, (app) => {
    app.post<{ Body: Record<string, unknown> }>('/id', async (request) => {
      for (const [key, value] of Object.entries(request.body)) request.session.set(key, value)
      await request.session.save()
      return { id: request.session.id }
    })
    app.post('/regenerated', async (request) => {
      await request.session.regenerate(['n'])
      await request.session.save()
      return { id: request.session.id }
    })
  })
  const call = async (url: string, payload: Record<string, unknown>, token?: string) => {
    const response = await app.inject({ method: 'POST', url, payload, ...(token === undefined ? {} : { headers: bearer(token) }) })
    return { id: response.json().id as string, token: tokenOf(response) as string }
  }
  const first = await call('/id', { n: 1 })
  t.match(first.id, /^[A-Za-z0-9_-]{43}$/)
  const second = await call('/id', { n: 2 }, first.token)
  const third = await call('/id', { n: 3 }, second.token)
  t.not(second.token, first.token, 'a new token each change')
  t.same([second.id, third.id], [first.id, first.id], 'one id')
  const regenerated = await call('/regenerated', {}, third.token)
  t.not(regenerated.id, first.id, 'regenerate() starts another')
  t.equal((await call('/id', { n: 4 }, regenerated.token)).id, regenerated.id)
})

t.test('regenerate(keep) of a session without a user claims it: a logout landing at the same time and its carried keys never both hold', async (t) => {
  for (const atomic of [true, false]) {
    const { clock, store } = interleaving(t, atomic)
    /** What lands right after regenerate()'s claim (or read) of the denylist. */
    let meanwhile: (() => Promise<void>) | undefined
    const { app } = await buildJwtApp(t, { store, now: clock.now }, (app) => {
      app.post('/elevate', async (request) => {
        store.afterDenylist = meanwhile
        await request.session.regenerate(['cart'])
        request.session.set('elevated', true)
        return { ok: true }
      })
    })
    const dataOf = async (token: string): Promise<{ status: number, data: unknown }> => {
      const response = await app.inject({ method: 'POST', url: '/set', payload: {}, headers: bearer(token) })
      return { status: response.statusCode, data: response.json().data }
    }
    const logout = async (token: string): Promise<number> => (await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode
    const name = atomic ? 'revokeTokenOnce' : 'a denylist read'
    for (const [label, payloads] of [['a first token', [{ cart: 'book' }]], ['a re-issued one', [{ cart: 'book' }, { more: 1 }]]] as const) {
      let token = ''
      for (const payload of payloads) token = tokenOf(await app.inject({ method: 'POST', url: '/set', payload, ...(token === '' ? {} : { headers: bearer(token) }) })) as string
      let landed = 0
      meanwhile = async () => { landed = await logout(token) }
      const elevated = await app.inject({ method: 'POST', url: '/elevate', headers: bearer(token) })
      meanwhile = undefined
      t.equal(elevated.statusCode, 200)
      const carried = await dataOf(tokenOf(elevated) as string)
      t.equal(carried.status, 200, `${name}, ${label}: the new session lives`)
      if (atomic) {
        t.equal(landed, 401, `${name}, ${label}: the logout, landing after the claim, finds the old token ended`)
        t.match(carried.data, { cart: 'book', elevated: true }, `${name}, ${label}: and the claim carried the cart`)
      } else {
        // the window this store leaves (packages/jwt/README.md): the logout succeeds, and the cart carried over still lives
        t.equal(landed, 204, `${name}, ${label}: the logout lands between the read and the new token`)
        t.match(carried.data, { cart: 'book', elevated: true })
      }
      t.equal((await dataOf(token)).status, 401, `${name}, ${label}: the old token is dead`)
    }
  }
})

t.test('regenerate(keep) carries over only from a session still live: never from one a logout ended meanwhile', async (t) => {
  const clock = new ManualClock()
  const store = new InterleavingStore({ now: clock.now })
  t.teardown(() => store.close())
  /** A logout landing in the handler, before regenerate() reads the session. */
  let early: ((token: string) => Promise<void>) | undefined
  const { app } = await buildJwtApp(t, { store, now: clock.now }, (app) => {
    const handler = (elevate: boolean) => async (request: import('fastify').FastifyRequest) => {
      await early?.(String(request.headers.authorization).slice(7))
      await request.session.regenerate(['userId', 'cart'])
      if (elevate) request.session.set('elevated', true)
      return { ok: true }
    }
    app.post('/elevate', handler(true))
    app.post('/rotate', handler(false))
    app.post('/fresh', async (request) => {
      request.session.set('cart', 'new')
      await request.session.regenerate(['cart'])
      return { ok: true }
    })
  })
  const me = async (token: string): Promise<Record<string, unknown>> => (await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json()
  /** The data of a token's session, with or without a user. */
  const dataOf = async (token: string): Promise<unknown> => (await app.inject({ method: 'POST', url: '/set', payload: {}, headers: bearer(token) })).json().data
  const logout = async (token: string): Promise<void> => {
    t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 204)
  }

  const { access } = await login(app, 'ann')
  const elevated = tokenOf(await app.inject({ method: 'POST', url: '/elevate', headers: bearer(access) })) as string
  t.same(await me(elevated), { user: 'ann', data: { userId: 'ann', elevated: true } }, 'live: the kept key carried over')
  t.equal((await app.sessionkit.listUserSessions('ann')).length, 1, 'in a new family, the old one ended')
  const fresh = tokenOf(await app.inject({ method: 'POST', url: '/fresh' })) as string
  t.same(await dataOf(fresh), { cart: 'new' }, 'a new session keeps what it set')
  const anonymous = tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 'book' } })) as string
  const carried = tokenOf(await app.inject({ method: 'POST', url: '/elevate', headers: bearer(anonymous) })) as string
  t.same(await dataOf(carried), { cart: 'book', elevated: true }, 'an anonymous session still live carries its keys too')

  // a logout lands before regenerate(), or (a session with a family) between the read that claims
  // the family and the claim; an anonymous session is checked against the denylist
  const cases = [
    ['before', 'bea'], ['after the read', 'cy'], ['before', null]
  ] as const
  for (const [when, user] of cases) {
    for (const route of ['/elevate', '/rotate']) {
      const name = `${route}, ${user ?? 'anonymous'}, a logout ${when}`
      const token = user === null
        ? tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 'book' } })) as string
        : (await login(app, user)).access
      if (when === 'before') {
        early = async (sent) => {
          early = undefined
          await logout(sent)
        }
      } else {
        store.between = async () => {
          store.between = undefined
          await logout(token)
        }
      }
      const late = await app.inject({ method: 'POST', url: route, headers: bearer(token) })
      t.ok(early === undefined && store.between === undefined, `${name}: landed in the request`)
      early = undefined
      store.between = undefined
      t.equal(late.statusCode, 200)
      const issued = tokenOf(late)
      if (route === '/rotate') {
        t.equal(issued, undefined, `${name}: nothing issued, and nothing said of the old token`)
        t.equal(late.headers['x-refresh-token'], undefined)
      } else {
        t.same(await dataOf(issued as string), { elevated: true }, `${name}: what was set after starts a session of its own, carrying nothing`)
      }
      if (user !== null) t.same(await app.sessionkit.listUserSessions(user), [], `${name}: the logout holds`)
      t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).statusCode, 401)
    }
  }
})

t.test('a login carried over keeps the generation it was granted under: a revocation landing while its request runs holds', async (t) => {
  class CountingStore extends InterleavingStore {
    generationReads = 0
    override async userGeneration (userId: string): Promise<number> {
      this.generationReads++
      return await super.userGeneration(userId)
    }
  }
  const clock = new ManualClock()
  const store = new CountingStore({ now: clock.now })
  t.teardown(() => store.close())
  /** What lands in the handler after its change: a revocation elsewhere. */
  let meanwhile: ((user: string) => Promise<void>) | undefined
  const { app } = await buildJwtApp(t, { store, now: clock.now, remember: { refreshTokenTtl: '30d' } }, (app) => {
    app.post<{ Body: { user: string, how: 'set' | 'keep' | 'remember' } }>('/carry', async (request) => {
      const { how, user } = request.body
      if (how === 'keep') await request.session.regenerate(['userId'])
      else if (how === 'remember') request.session.remember()
      else request.session.set('n', 1)
      await meanwhile?.(user)
      return { ok: true }
    })
  })
  const status = async (token: string | null | undefined): Promise<number> => (await app.inject({ method: 'GET', url: '/me', headers: bearer(token as string) })).statusCode

  // no revocation: a change reads no generation, and its token works
  const { access } = await login(app, 'ann')
  store.generationReads = 0
  t.equal(await status(access), 200)
  const byLoad = store.generationReads
  t.equal(byLoad, 1, 'a request reads the generation when it loads its token')
  store.generationReads = 0
  const changed = await app.inject({ method: 'POST', url: '/carry', payload: { user: 'ann', how: 'set' }, headers: bearer(access) })
  t.equal(store.generationReads, byLoad, 'a change carries the login\'s generation: no read beyond the load\'s')
  t.equal(await status(tokenOf(changed)), 200)

  // a generation bump (a password change) lands while the request runs
  for (const how of ['set', 'keep', 'remember'] as const) {
    const user = `bump-${how}`
    const token = (await login(app, user)).access
    meanwhile = async (who) => { await store.bumpUserGeneration(who) }
    const late = await app.inject({ method: 'POST', url: '/carry', payload: { user, how }, headers: bearer(token) })
    meanwhile = undefined
    t.equal(late.statusCode, 200)
    const issued = tokenOf(late)
    if (how === 'set') {
      t.equal(await status(issued), 401, `${how}: its new token carries the generation of before, and fails`)
    } else {
      t.equal(issued, undefined, `${how}: no new family starts for a login revoked meanwhile, nothing is issued`)
    }
    t.equal(await status(token), 401)
  }

  // "sign out everywhere" lands after regenerate(keep) ended the old family
  const token = (await login(app, 'cy')).access
  meanwhile = async (who) => { await app.sessionkit.revokeUserSessions(who) }
  const late = await app.inject({ method: 'POST', url: '/carry', payload: { user: 'cy', how: 'keep' }, headers: bearer(token) })
  meanwhile = undefined
  t.equal(tokenOf(late), undefined, 'nothing issued')
  t.same(await app.sessionkit.listUserSessions('cy'), [], 'no family outlives the revocation')
})

t.test('the verified-token cache is bounded: evicted tokens are simply verified again', async (t) => {
  const { app } = await buildJwtApp(t, { cache: 2 })
  const tokens: string[] = []
  for (const user of ['a1', 'a2', 'a3', 'a4']) tokens.push(tokenOf(await app.inject({ method: 'POST', url: '/login', payload: { user } })) as string)
  for (let round = 0; round < 2; round++) {
    for (const [i, token] of tokens.entries()) {
      t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json().user, `a${i + 1}`)
    }
  }
})

t.test('a memory store whose denylist is full: a logout is a 503, the token stays as it was, nothing grows', async (t) => {
  const store = new MemoryStore({ maxRevocations: 1 })
  t.teardown(() => store.close())
  const { app } = await buildJwtApp(t, { store })
  const first = tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: ['a'] } })) as string
  const second = tokenOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: ['b'] } })) as string
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(first) })).statusCode, 204)
  const refused = await app.inject({ method: 'POST', url: '/logout', headers: bearer(second) })
  t.equal(refused.statusCode, 503)
  t.equal(refused.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  t.equal(tokenOf(refused), undefined, 'nothing issued or cleared')
  t.equal((await app.inject({ method: 'POST', url: '/set', headers: bearer(first), payload: {} })).statusCode, 401, 'the first logout holds')
  const still = await app.inject({ method: 'POST', url: '/set', headers: bearer(second), payload: { more: 1 } })
  t.same(still.json().data, { cart: ['b'], more: 1 }, 'the second session, not logged out, as it was')
})
