import t from 'tap'
import { MemoryStore, type StoredSession } from '@sessionkit/core'
import { ManualClock } from '@sessionkit/core/testing'
import { slotOf } from '../src/memory-store.js'
import { sessionIdOf } from '../src/credential.js'

const record = (userId: string | null = null): StoredSession => ({ version: 1, createdAt: 0, lastSeenAt: 0, userId, data: { a: 1 } })
const id = (n: number): string => String(n).padStart(43, '0')

t.test('the entry cap evicts the least recently active session', async (t) => {
  const store = new MemoryStore({ maxEntries: 3 })
  t.teardown(() => store.close())
  for (const n of [1, 2, 3]) await store.set(id(n), record('u'), 0, 60_000)
  await store.touch(id(1), 5, 60_000)
  await store.set(id(4), record('u'), 0, 60_000)
  t.equal(store.size, 3)
  t.equal(await store.get(id(2)), null, 'the least recently active went')
  t.not(await store.get(id(1)), null, 'touched, kept')
  t.same((await store.listUserSessions('u')).map((s) => s.id).sort(), [id(1), id(3), id(4)])
})

t.test('destroyUserSessions counts the live sessions it ends, and drops the expired ones too', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  await store.set(id(1), record('w'), 0, 1_000)
  await store.set(id(2), record('w'), 0, 5_000)
  await store.set(id(3), record('w'), 0, 5_000)
  await store.set(id(4), record('x'), 0, 5_000)
  clock.advance(2_000)
  t.equal(store.size, 4, 'the expired session is still held, not swept yet')
  t.equal(await store.destroyUserSessions('w', id(3)), 1, 'the expired one is not counted, the excepted one is kept')
  t.equal(store.size, 2, 'the expired one went with the live one')
  t.same((await store.listUserSessions('w')).map((s) => s.id), [id(3)])
  t.not(await store.get(id(4)), null, 'another user keeps theirs')
})

t.test('expired entries are swept on a timer', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now, sweepInterval: 10 })
  t.teardown(() => store.close())
  await store.set(id(1), record('v'), 0, 1_000)
  await store.set(id(2), record(), 0, 5_000)
  await store.revokeToken('j1', 1_000)
  clock.advance(2_000)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(store.size, 1, 'swept on the timer')
  t.same(await store.listUserSessions('v'), [])
  store.close()
  store.close()
})

t.test('an expired denylist entry is dropped when read', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  await store.revokeToken('j2', 1_000)
  clock.advance(1_000)
  t.equal(await store.isTokenRevoked('j2'), false)
})

t.test('the denylist is bounded: past maxRevocations a revocation fails, and none made is dropped', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now, maxRevocations: 3 })
  t.teardown(() => store.close())
  await store.revokeToken('j1', 500)
  await store.revokeToken('j2', 60_000)
  await store.revokeToken('j3', 60_000)
  await t.rejects(store.revokeToken('j4', 60_000), { code: 'FST_SESSIONKIT_STORE_FULL', statusCode: 503, message: 'Session store denylist is full (3 live revocations)' })
  await store.revokeToken('j2', 120_000)
  t.same(await Promise.all(['j1', 'j2', 'j3', 'j4'].map((jti) => store.isTokenRevoked(jti))), [true, true, true, false], 'the three stay revoked; the fourth was never added')
  clock.advance(600)
  // j1 has expired, but the full list was walked less than a second ago: one walk a second at most
  await t.rejects(store.revokeToken('j4', 60_000), { code: 'FST_SESSIONKIT_STORE_FULL' })
  clock.advance(400)
  await store.revokeToken('j4', 60_000)
  t.same(await Promise.all(['j2', 'j3', 'j4'].map((jti) => store.isTokenRevoked(jti))), [true, true, true], 'the expired entry made room')
  for (const maxRevocations of [0, 1.5, -1]) {
    t.throws(() => new MemoryStore({ maxRevocations }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "maxRevocations": must be a positive integer' })
  }
})

function frozenThrough (value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true
  return Object.isFrozen(value) && Object.values(value).every(frozenThrough)
}

t.test('what is stored is a frozen deep copy: read without a copy by the engines, copied for everyone else', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const sync = store.sync as NonNullable<MemoryStore['sync']>
  const data = { cart: { items: [{ sku: 'a', qty: 1 }] }, name: 'x', flag: true, none: null }
  await store.set(id(1), { version: 1, createdAt: 0, lastSeenAt: 0, userId: null, data }, 0, 60_000)
  data.cart.items[0]!.qty = 9
  data.name = 'changed'
  const shared = sync.get(id(1)) as StoredSession
  t.same(shared.data, { cart: { items: [{ sku: 'a', qty: 1 }] }, name: 'x', flag: true, none: null }, 'the caller changing its object changes nothing stored')
  t.ok(frozenThrough(shared.data), 'frozen all through')
  t.equal((sync.get(id(1)) as StoredSession).data, shared.data, 'the engines read it without a copy')
  const own = await store.get(id(1)) as StoredSession
  t.not(own.data, shared.data)
  ;(own.data.cart as { items: unknown[] }).items.push('more')
  t.notOk(Object.isFrozen(own.data), 'get() hands out a copy to change at will')
  t.same((sync.get(id(1)) as StoredSession).data.cart, { items: [{ sku: 'a', qty: 1 }] })

  const change = { items: ['b'] }
  t.equal(sync.merge?.(id(1), new Map<string, unknown>([['cart', change], ['name', undefined]]), { lastSeenAt: 1 }, 60_000), 2)
  change.items.push('c')
  const merged = sync.get(id(1)) as StoredSession
  t.same(merged.data, { cart: { items: ['b'] }, flag: true, none: null }, 'merged values are copied too')
  t.ok(frozenThrough(merged.data))
})

t.test('it stores exactly what JSON would: dates, undefined, NaN, holes, instances, "__proto__", depth', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  class Point { x = 1 }
  let deep: Record<string, unknown> = { end: true }
  for (let i = 0; i < 100; i++) deep = { deep }
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a date', { at: new Date(0) }],
    ['undefined', { gone: undefined, kept: 1 }],
    ['NaN and Infinity', { n: NaN, i: -Infinity }],
    ['an array hole', { list: [1, , 3] }], // eslint-disable-line no-sparse-arrays
    ['an instance', { p: new Point() }],
    ['a "__proto__" key', JSON.parse('{"o":{"__proto__":{"polluted":true}}}')],
    ['a toJSON', { v: { toJSON: () => 'as json' } }],
    ['100 levels', deep]
  ]
  let n = 10
  for (const [what, data] of cases) {
    await store.set(id(++n), { version: 1, createdAt: 0, lastSeenAt: 0, userId: null, data }, 0, 60_000)
    const stored = (store.sync?.get(id(n)) as StoredSession).data
    t.same(stored, JSON.parse(JSON.stringify(data)), what)
    t.ok(frozenThrough(stored), `${what}: frozen`)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype polluted')
  const cycle: Record<string, unknown> = {}
  cycle.self = cycle
  await t.rejects(store.set(id(99), { version: 1, createdAt: 0, lastSeenAt: 0, userId: null, data: cycle }, 0, 60_000), TypeError, 'a cycle is refused, as JSON refuses it')
  t.equal(await store.get(id(99)), null)
})

t.test('a store at its cap keeps evicting the least recently active session, insert after insert', async (t) => {
  const cap = 200
  const store = new MemoryStore({ maxEntries: cap })
  t.teardown(() => store.close())
  // the reference: ids from least to most recently active
  let order: string[] = []
  let n = 0
  let lost = 0
  for (let round = 0; round < 5_000; round++) {
    if (round % 4 === 0 && order.length > 0) {
      const touched = order[(round * 7919) % order.length] as string
      if (!await store.touch(touched, round, 60_000)) lost++
      order = order.filter((key) => key !== touched)
      order.push(touched)
    }
    const created = id(n++)
    await store.set(created, record(), 0, 60_000)
    order.push(created)
    if (order.length > cap) order.shift()
  }
  t.equal(lost, 0, 'no session among the most recently active was evicted')
  t.equal(store.size, cap)
  const live: string[] = []
  for (let i = 0; i < n; i++) if (await store.get(id(i)) !== null) live.push(id(i))
  t.same(live.sort(), [...order].sort(), 'the sessions kept are the most recently active ones')
})

t.test('every time comes back exactly as written, and expiry is exact across the unit times are split at', async (t) => {
  const SPLIT = 2 ** 30
  const times = [0, 1, SPLIT - 1, SPLIT, SPLIT + 1, Date.UTC(2030, 0, 1) + 123, Number.MAX_SAFE_INTEGER, -1, -SPLIT - 5,
    Number.MIN_SAFE_INTEGER, 1.5, Date.UTC(2030, 0, 1) + 0.25, Number.MAX_SAFE_INTEGER + 2, -0.5]
  const store = new MemoryStore()
  t.teardown(() => store.close())
  for (const [n, time] of times.entries()) {
    await store.set(id(n), { version: 1, createdAt: time, lastSeenAt: times[times.length - 1 - n] as number, userId: `u${n}`, data: {} }, 0, 60_000)
  }
  for (const [n, time] of times.entries()) {
    const other = times[times.length - 1 - n] as number
    t.match(await store.get(id(n)), { createdAt: time, lastSeenAt: other }, `set: ${time} and ${other}`)
    t.same(await store.listUserSessions(`u${n}`), [{ id: id(n), createdAt: time, lastSeenAt: other }])
    t.ok(await store.touch(id(n), time, 60_000))
    t.match(await store.get(id(n)), { createdAt: time, lastSeenAt: time }, `touch: ${time}`)
    t.equal(await store.merge(id(n), new Map([['k', 1]]), { lastSeenAt: other }, 60_000), 2)
    t.match(await store.get(id(n)), { createdAt: time, lastSeenAt: other, data: { k: 1 } }, `merge: ${other}`)
  }

  // a store whose clock stands just before a multiple of the unit: its expiries cross it
  const clock = new ManualClock(1_700 * SPLIT - 10)
  const crossing = new MemoryStore({ now: clock.now })
  t.teardown(() => crossing.close())
  await crossing.set(id(1), record(), 0, 20)
  await crossing.set(id(2), record(), 0, 5)
  clock.advance(5)
  t.equal(await crossing.get(id(2)), null, 'gone at its expiry, before the boundary')
  clock.advance(14)
  t.not(await crossing.get(id(1)), null, 'live a millisecond before its expiry, past the boundary')
  t.ok(await crossing.touch(id(1), clock.now(), 3))
  clock.advance(2)
  t.not(await crossing.get(id(1)), null, 'touched: live until its new expiry')
  clock.advance(1)
  t.equal(await crossing.get(id(1)), null, 'and gone at it')
})

/** 43-character ids alike at both ends: one slot for all (see `slotOf`). */
const shared = (n: number): string => 'AAAAA' + String(n).padStart(33, 'x') + 'AAAAA'

t.test('sessions whose ids share a slot are kept apart: read, written, merged, touched, destroyed', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  const [a, b, c, stranger] = [shared(1), shared(2), shared(3), shared(99)]
  t.equal(slotOf(a), slotOf(b))
  t.equal(slotOf(a), slotOf(c))
  for (const [n, key] of [a, b, c].entries()) t.equal(await store.set(key, { ...record(`u${n}`), data: { n } }, 0, 60_000), true)
  t.equal(store.size, 3)
  t.same([a, b, c, stranger].map((key) => store.sync?.get(key)?.data ?? null), [{ n: 0 }, { n: 1 }, { n: 2 }, null])
  t.equal(await store.set(a, record(), 0, 60_000), false, 'a taken id in the chain is found')

  t.equal(await store.merge(b, new Map([['m', true]]), { lastSeenAt: 1 }, 60_000), 2, 'a merge into the middle of the chain')
  t.equal(await store.set(c, { ...record('u2'), version: 2, data: { n: 20 } }, 1, 60_000), true, 'a rewrite of the head')
  t.equal(await store.set(a, { ...record('u0'), version: 2, data: { n: 10 } }, 1, 60_000), true, 'a rewrite of the tail')
  t.same([a, b, c].map((key) => store.sync?.get(key)?.data), [{ n: 10 }, { n: 1, m: true }, { n: 20 }])
  t.same([a, b, c].map((key) => store.sync?.get(key)?.version), [2, 2, 2])
  t.equal(store.size, 3, 'rewrites count no new session')

  clock.advance(10)
  t.equal(await store.touch(b, clock.now(), 60_000), true)
  t.equal(await store.touch(stranger, clock.now(), 60_000), false, 'an id not in the chain is no session')
  t.equal(store.sync?.get(b)?.lastSeenAt, clock.now())
  t.equal(store.sync?.get(a)?.lastSeenAt, 0, 'the others in the slot are not touched')

  await store.destroy(stranger)
  t.equal(store.size, 3, 'destroying an id not in the chain removes nothing')
  await store.destroy(b)
  t.equal(await store.get(b), null)
  t.same([a, c].map((key) => store.sync?.get(key)?.data), [{ n: 10 }, { n: 20 }], 'the rest of the chain is kept')
  t.same(await store.listUserSessions('u1'), [], 'the user index follows')
  t.equal(await store.destroyUserSessions('u2'), 1)
  t.equal(await store.get(c), null)
  t.equal(store.size, 1)
  await store.destroy(a)
  t.equal(store.size, 0)
  t.equal(await store.set(a, record(), 0, 60_000), true, 'an emptied slot takes a new session')
})

t.test('a sweep walks every chain, and expired sessions leave the rest of their slot', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  // head first: the later write goes to the front of the chain
  await store.set(shared(1), record('v'), 0, 5_000)
  await store.set(shared(2), record('v'), 0, 1_000)
  await store.set(shared(3), record('v'), 0, 5_000)
  await store.set(shared(4), record('v'), 0, 1_000)
  await store.set(id(5), record(), 0, 1_000)
  clock.advance(2_000)
  store.sweep()
  t.equal(store.size, 2)
  t.same((await store.listUserSessions('v')).map((s) => s.id).sort(), [shared(1), shared(3)])
  clock.advance(5_000)
  t.equal(await store.get(shared(1)), null, 'expired, and deleted when read')
  t.equal(store.size, 1)
})

t.test('at the cap a slot of two is evicted whole, as recent as the later of them', async (t) => {
  const store = new MemoryStore({ maxEntries: 3 })
  t.teardown(() => store.close())
  await store.set(shared(1), record('w'), 0, 60_000)
  await store.set(shared(2), record('w'), 0, 60_000)
  await store.set(id(3), record('w'), 0, 60_000)
  await store.set(id(4), record('w'), 0, 60_000)
  t.equal(store.size, 2, 'both sessions of the oldest slot went')
  t.same((await store.listUserSessions('w')).map((s) => s.id).sort(), [id(3), id(4)])

  await store.set(shared(1), record(), 0, 60_000)
  await store.touch(id(3), 1, 60_000)
  // a write of shared(2) makes the slot the most recently active: id(4) is now the oldest
  await store.set(shared(2), record(), 0, 60_000)
  t.equal(store.size, 3)
  t.equal(await store.get(id(4)), null)
  t.not(await store.get(shared(1)), null, 'kept with the later session of its slot')
})

t.test('the slots: a digest is read at both ends, any other id hashed whole', async (t) => {
  const slots = (ids: string[]): number => new Set(ids.map(slotOf)).size
  const digests = Array.from({ length: 10_000 }, (_, n) => sessionIdOf(`token-${n}`))
  t.equal(slots(digests), 10_000, '10,000 digests, 10,000 slots')
  t.equal(slots(Array.from({ length: 10_000 }, (_, n) => `seed-${n}`)), 10_000, 'short ids alike but for their end')
  t.equal(slots(Array.from({ length: 10_000 }, (_, n) => `s:${n}:` + 'x'.repeat(60))), 10_000, 'long ids alike but for their middle')
  t.equal(slots(Array.from({ length: 10_000 }, (_, n) => id(n))), 10_000, '43-character ids alike but for their end')
  for (const key of [...digests.slice(0, 100), 'seed-1', '', 'é'.repeat(43), 'x'.repeat(200)]) {
    const slot = slotOf(key)
    t.ok(Number.isInteger(slot) && slot >= 0 && slot < 2 ** 30, `${JSON.stringify(key.slice(0, 12))}: a small integer`)
  }
  const store = new MemoryStore()
  t.teardown(() => store.close())
  for (const key of ['seed-1', '', 'é'.repeat(43)]) {
    t.equal(await store.set(key, { ...record(), data: { key } }, 0, 60_000), true)
  }
  t.same(['seed-1', '', 'é'.repeat(43)].map((key) => store.sync?.get(key)?.data), [{ key: 'seed-1' }, { key: '' }, { key: 'é'.repeat(43) }])
})
