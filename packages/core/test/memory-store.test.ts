import t from 'tap'
import { MemoryStore, type StoredSession } from '@sessionkit/core'
import { ManualClock } from '@sessionkit/core/testing'

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

t.test('expired entries are swept without being read', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now, sweepInterval: 10 })
  t.teardown(() => store.close())
  await store.set(id(1), record('v'), 0, 1_000)
  await store.set(id(2), record(), 0, 5_000)
  await store.revokeToken('j1', 1_000)
  clock.advance(2_000)
  const parse = JSON.parse
  let parsed = 0
  JSON.parse = (...args: Parameters<typeof JSON.parse>) => { parsed++; return parse(...args) }
  t.teardown(() => { JSON.parse = parse })
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(store.size, 1, 'swept on the timer')
  t.equal(parsed, 0, 'without parsing any record')
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
