import type { Test } from 'tap'
import type { SessionStore, StoredSession } from '../contract.js'

/** How the store suite reaches a store under test. */
export interface StoreHarness {
  /** A fresh, empty store (a new prefix, a new database...). Close it with `t.teardown`. */
  create (t: Test): Promise<SessionStore> | SessionStore
  /**
   * Moves the store's clock, when it has an injectable one: the expiry cases run then. A store whose
   * expiry is the server's own (Redis) leaves this out and gives `ttlOf` instead.
   */
  advance?: ((ms: number) => void) | undefined
  /** The TTL (milliseconds) the store holds for a session id, or `null` when the key has none. */
  ttlOf?: ((store: SessionStore, id: string) => Promise<number | null>) | undefined
}

let counter = 0
/** A distinct well-formed session id (43 base64url characters). */
function sid (): string {
  counter++
  return ('s' + counter.toString(36) + 'x'.repeat(43)).slice(0, 43)
}

function record (version: number, data: Record<string, unknown>, userId: string | null = null, remembered = false): StoredSession {
  return { version, createdAt: 1_000, lastSeenAt: 2_000, userId, remembered, data }
}

/** A record as read, `remembered` absent taken as `false` (what the contract says absent means). */
function normal (read: StoredSession | null): StoredSession {
  return { ...read as StoredSession, remembered: read?.remembered === true }
}

const HOUR = 3_600_000

/**
 * The store contract as tests: every sessionkit store runs it against itself. It covers conditional
 * writes, isolation from callers, touch, destroy, the per-user index, the denylist, user generations,
 * TTLs, and not-found resolving `null` rather than failing.
 */
export function storeConformance (t: Test, harness: StoreHarness): void {
  t.test('a missing session resolves null, not an error', async (t) => {
    const store = await harness.create(t)
    t.equal(await store.get(sid()), null)
    t.equal(await store.touch(sid(), 5, HOUR), false)
    await t.resolves(store.destroy(sid()))
  })

  t.test('writes are conditional on the version', async (t) => {
    const store = await harness.create(t)
    const id = sid()
    t.equal(await store.set(id, record(1, { a: 1 }), 0, HOUR), true, 'create when absent')
    t.equal(await store.set(id, record(1, { a: 2 }), 0, HOUR), false, 'a second create loses')
    t.equal(await store.set(id, record(3, { a: 3 }), 2, HOUR), false, 'a wrong version loses')
    t.equal(await store.set(id, record(2, { a: 4 }), 1, HOUR), true, 'the right version wins')
    t.equal(await store.set(id, record(2, { a: 5 }), 1, HOUR), false, 'a stale version loses')
    t.same(normal(await store.get(id)), record(2, { a: 4 }))
  })

  t.test('values come back exactly and are isolated from callers', async (t) => {
    const store = await harness.create(t)
    const id = sid()
    const data = { zero: 0, empty: '', no: false, nothing: null, nested: { list: [1, 'two', { three: 3 }] }, text: 'é\u2028😀' }
    const written = record(1, data)
    await store.set(id, written, 0, HOUR)
    data.nested.list.push(4)
    written.userId = 'mallory'
    const read = await store.get(id) as StoredSession
    t.same(normal(read), record(1, { zero: 0, empty: '', no: false, nothing: null, nested: { list: [1, 'two', { three: 3 }] }, text: 'é\u2028😀' }))
    ;(read.data.nested as { list: unknown[] }).list.push(5)
    t.same(((await store.get(id) as StoredSession).data.nested as { list: unknown[] }).list, [1, 'two', { three: 3 }])
  })

  t.test('touch moves lastSeenAt only', async (t) => {
    const store = await harness.create(t)
    const id = sid()
    await store.set(id, record(1, { a: 1 }, 'u1'), 0, HOUR)
    t.equal(await store.touch(id, 9_000, HOUR), true)
    t.same(normal(await store.get(id)), { ...record(1, { a: 1 }, 'u1'), lastSeenAt: 9_000 })
    t.same(await store.listUserSessions('u1'), [{ id, createdAt: 1_000, lastSeenAt: 9_000 }])
  })

  t.test('a remembered session stays remembered through touch and merge, until a write says otherwise', async (t) => {
    const store = await harness.create(t)
    const id = sid()
    await store.set(id, record(1, { a: 1 }, 'rae', true), 0, HOUR)
    t.same(await store.get(id), record(1, { a: 1 }, 'rae', true), 'written remembered, read remembered')
    t.equal(await store.touch(id, 3_000, HOUR), true)
    t.equal((await store.get(id))?.remembered, true, 'a touch keeps it')
    if (store.merge !== undefined) {
      t.equal(await store.merge(id, new Map([['a', 2]]), { lastSeenAt: 4_000 }, HOUR), 2)
      t.same(await store.get(id), { ...record(2, { a: 2 }, 'rae', true), lastSeenAt: 4_000 }, 'a merge keeps it')
    } else {
      t.equal(await store.set(id, { ...record(2, { a: 2 }, 'rae', true), lastSeenAt: 4_000 }, 1, HOUR), true)
    }
    t.equal(await store.set(id, record(3, { a: 3 }, 'rae', false), 2, HOUR), true)
    t.same(normal(await store.get(id)), record(3, { a: 3 }, 'rae', false), 'rewritten not remembered')
    if (store.sync?.set !== undefined && store.sync.merge !== undefined) {
      t.equal(store.sync.set(id, record(4, { a: 4 }, 'rae', true), 3, HOUR), true)
      t.equal(store.sync.merge(id, new Map([['a', 5]]), { lastSeenAt: 5_000 }, HOUR), 5)
      t.equal(store.sync.get(id)?.remembered, true, 'the same through the synchronous writes')
    }
  })

  t.test('destroy deletes the session and its index entry', async (t) => {
    const store = await harness.create(t)
    const id = sid()
    await store.set(id, record(1, { a: 1 }, 'u-destroy'), 0, HOUR)
    await store.destroy(id)
    t.equal(await store.get(id), null)
    t.same(await store.listUserSessions('u-destroy'), [])
    t.equal(await store.set(id, record(2, { a: 1 }), 1, HOUR), false, 'a write after destroy does not resurrect')
  })

  t.test('the per-user index follows writes', async (t) => {
    const store = await harness.create(t)
    const [a, b, c] = [sid(), sid(), sid()]
    await store.set(a, record(1, {}, 'alice'), 0, HOUR)
    await store.set(b, record(1, {}, 'alice'), 0, HOUR)
    await store.set(c, record(1, {}, 'bob'), 0, HOUR)
    const ids = (await store.listUserSessions('alice')).map((s) => s.id).sort()
    t.same(ids, [a, b].sort())
    await store.set(b, record(2, {}, 'bob'), 1, HOUR)
    t.same((await store.listUserSessions('alice')).map((s) => s.id), [a], 'moved off alice')
    t.same((await store.listUserSessions('bob')).map((s) => s.id).sort(), [b, c].sort(), 'onto bob')
    await store.set(c, record(2, {}, null), 1, HOUR)
    t.same((await store.listUserSessions('bob')).map((s) => s.id), [b], 'anonymous again')
    t.same(await store.listUserSessions('nobody'), [])
  })

  t.test('revoking a user spares the excepted session and other users', async (t) => {
    const store = await harness.create(t)
    const [a, b, c, d] = [sid(), sid(), sid(), sid()]
    for (const id of [a, b, c]) await store.set(id, record(1, {}, 'carol'), 0, HOUR)
    await store.set(d, record(1, {}, 'dave'), 0, HOUR)
    t.equal(await store.destroyUserSessions('carol', b), 2)
    t.equal(await store.get(a), null)
    t.not(await store.get(b), null)
    t.equal(await store.get(c), null)
    t.not(await store.get(d), null)
    t.equal(await store.destroyUserSessions('carol'), 1)
    t.same(await store.listUserSessions('carol'), [])
    t.equal(await store.destroyUserSessions('nobody'), 0)
  })

  t.test('the token denylist and user generations', async (t) => {
    const store = await harness.create(t)
    t.equal(await store.isTokenRevoked('jti-1'), false)
    await store.revokeToken('jti-1', HOUR)
    t.equal(await store.isTokenRevoked('jti-1'), true)
    t.equal(await store.isTokenRevoked('jti-2'), false)
    t.equal(await store.userGeneration('erin'), 0)
    t.equal(await store.bumpUserGeneration('erin'), 1)
    t.equal(await store.bumpUserGeneration('erin'), 2)
    t.equal(await store.userGeneration('erin'), 2)
    t.equal(await store.userGeneration('frank'), 0)
  })

  t.test('revokeTokenOnce, where a store has it, revokes only what is not revoked yet, atomically', async (t) => {
    const store = await harness.create(t)
    if (store.revokeTokenOnce === undefined) return t.pass('the store has no revokeTokenOnce: the engines read the denylist instead')
    t.equal(await store.revokeTokenOnce('jti-once', HOUR), true, 'the first call revokes')
    t.equal(await store.isTokenRevoked('jti-once'), true)
    t.equal(await store.revokeTokenOnce('jti-once', HOUR), false, 'the second finds it revoked')
    await store.revokeToken('jti-before', HOUR)
    t.equal(await store.revokeTokenOnce('jti-before', HOUR), false, 'one revoked by revokeToken too')
    const racing = await Promise.all(Array.from({ length: 20 }, () => (store.revokeTokenOnce as NonNullable<typeof store.revokeTokenOnce>)('jti-race', HOUR)))
    t.equal(racing.filter(Boolean).length, 1, 'of twenty at once, exactly one revokes')
    t.equal(await store.isTokenRevoked('jti-other-once'), false)
  })

  t.test('synchronous writes, where a store has them, write as the async ones', async (t) => {
    const store = await harness.create(t)
    const { sync } = store
    if (sync?.set === undefined || sync.merge === undefined || sync.touch === undefined) {
      t.pass('this store has no synchronous writes: the engines await every write')
      return
    }
    const [id, missing] = [sid(), sid()]
    t.equal(sync.set(id, record(1, { a: 1 }, 'kim'), 0, HOUR), true, 'create when absent')
    t.equal(sync.set(id, record(1, { a: 2 }), 0, HOUR), false, 'a second create loses')
    t.equal(sync.set(id, record(2, { a: 3 }, 'kim'), 1, HOUR), true, 'the right version wins')
    t.equal(sync.merge(id, new Map<string, unknown>([['b', [1]], ['a', undefined]]), { lastSeenAt: 3_000, userId: 'lee' }, HOUR), 3)
    t.equal(sync.merge(missing, new Map([['a', 1]]), { lastSeenAt: 3_000 }, HOUR), null, 'nothing to merge into')
    t.equal(sync.touch(id, 4_000, HOUR), true)
    t.equal(sync.touch(missing, 4_000, HOUR), false)
    t.same(normal(await store.get(id)), { version: 3, createdAt: 1_000, lastSeenAt: 4_000, userId: 'lee', remembered: false, data: { b: [1] } })
    t.same((await store.listUserSessions('lee')).map((s) => s.id), [id], 'the index follows')
    t.same(await store.listUserSessions('kim'), [])
    t.equal(await store.get(missing), null)
  })

  t.test('synchronous reads, where a store has them, answer as the async ones', async (t) => {
    const store = await harness.create(t)
    const { sync } = store
    if (sync === undefined) {
      t.pass('this store has no synchronous reads: the engines await every read')
      return
    }
    const [id, missing] = [sid(), sid()]
    await store.set(id, record(1, { a: { b: [1] } }, 'hal'), 0, HOUR)
    const read = sync.get(id) as StoredSession
    t.same(normal(read), normal(await store.get(id)))
    // the store's own data may come back frozen (and then a change throws), or a copy: either way
    // nothing stored changes
    const attempt = (change: () => void): void => {
      try {
        change()
      } catch {}
    }
    attempt(() => { (read.data.a as { b: unknown[] }).b.push(2) })
    attempt(() => { read.data.c = 3 })
    t.same(normal(sync.get(id)), record(1, { a: { b: [1] } }, 'hal'), 'nothing stored changed')
    t.same(normal(await store.get(id)), record(1, { a: { b: [1] } }, 'hal'))
    t.equal(sync.get(missing), null)
    await store.revokeToken('jti-sync', HOUR)
    t.equal(sync.isTokenRevoked('jti-sync'), true)
    t.equal(sync.isTokenRevoked('jti-other'), false)
    await store.bumpUserGeneration('hal')
    t.equal(sync.userGeneration('hal'), 1)
    t.equal(sync.userGeneration('ida'), 0)
  })

  t.test('merge, where a store has it: key-level, atomic, never recreating', async (t) => {
    const store = await harness.create(t)
    if (store.merge === undefined) {
      t.pass('this store has no merge(): the engine uses conditional writes')
      return
    }
    const merge = store.merge.bind(store)
    const id = sid()
    t.equal(await merge(id, new Map([['a', 1]]), { lastSeenAt: 5 }, HOUR), null, 'nothing to merge into')
    t.equal(await store.get(id), null, 'and nothing created')
    await store.set(id, record(1, { keep: 'me', change: 1, drop: true }, 'ivy'), 0, HOUR)
    t.equal(await merge(id, new Map<string, unknown>([['change', { to: [2, '', false, null] }], ['drop', undefined], ['add', 0]]), { lastSeenAt: 7_000 }, HOUR), 2)
    t.same(normal(await store.get(id)), { version: 2, createdAt: 1_000, lastSeenAt: 7_000, userId: 'ivy', remembered: false, data: { keep: 'me', change: { to: [2, '', false, null] }, add: 0 } })
    const parallel = await Promise.all(['x', 'y', 'z'].map((key) => merge(id, new Map([[key, key]]), { lastSeenAt: 8_000 }, HOUR)))
    t.same([...parallel].sort(), [3, 4, 5], 'each merge its own version')
    t.match((await store.get(id))?.data, { x: 'x', y: 'y', z: 'z', keep: 'me' }, 'all three landed')
    t.equal(await merge(id, new Map(), { lastSeenAt: 9_000, userId: 'jay' }, HOUR), 6)
    t.same((await store.listUserSessions('jay')).map((s) => s.id), [id], 'moved to the new user')
    t.same(await store.listUserSessions('ivy'), [])
    t.equal(await merge(id, new Map(), { lastSeenAt: 9_500, userId: null }, HOUR), 7)
    t.same(await store.listUserSessions('jay'), [], 'anonymous again')
  })

  const { advance, ttlOf } = harness
  if (advance !== undefined) {
    t.test('entries expire after their TTL', async (t) => {
      const store = await harness.create(t)
      const [a, b] = [sid(), sid()]
      await store.set(a, record(1, {}, 'gina'), 0, 1_000)
      await store.set(b, record(1, {}, 'gina'), 0, 1_000)
      await store.revokeToken('jti-exp', 1_000)
      const once = store.revokeTokenOnce?.bind(store)
      t.equal(await once?.('jti-once-exp', 1_000), once === undefined ? undefined : true)
      advance(500)
      t.equal(await store.touch(b, 1_500, 1_000), true, 'touch moves the TTL')
      advance(500)
      t.equal(await store.get(a), null, 'expired')
      t.not(await store.get(b), null, 'touched, still live')
      t.same((await store.listUserSessions('gina')).map((s) => s.id), [b])
      t.equal(await store.isTokenRevoked('jti-exp'), false, 'a denylist entry ends with its TTL')
      t.equal(await once?.('jti-once-exp', 1_000), once === undefined ? undefined : true, 'revokeTokenOnce revokes one whose entry expired')
      t.equal(await store.set(a, record(1, {}), 0, 1_000), true, 'an expired id counts as absent')
    })
  }
  if (ttlOf !== undefined) {
    t.test('every session key carries a TTL', async (t) => {
      const store = await harness.create(t)
      const id = sid()
      await store.set(id, record(1, {}, 'hana'), 0, 5_000)
      const first = await ttlOf(store, id)
      t.ok(first !== null && first > 0 && first <= 5_000, `TTL after set: ${first}`)
      await store.touch(id, 3_000, 9_000)
      const second = await ttlOf(store, id)
      t.ok(second !== null && second > 5_000 && second <= 9_000, `TTL after touch: ${second}`)
    })
  }
}
