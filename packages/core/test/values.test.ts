import t from 'tap'
import { buildApp } from './fixtures/app.js'
import { credentialOf } from './fixtures/transport.js'

class Point { x = 1 }
const cycle: Record<string, unknown> = {}
cycle.self = cycle

const refused: Array<[string, () => unknown, string]> = [
  ['a function', () => () => 1, 'a function does not survive JSON'],
  ['a BigInt', () => 10n, 'a bigint does not survive JSON'],
  ['a symbol', () => Symbol('s'), 'a symbol does not survive JSON'],
  ['NaN', () => NaN, 'the number NaN does not survive JSON'],
  ['Infinity inside an array', () => [1, Infinity], 'the number Infinity does not survive JSON'],
  ['undefined inside an array', () => [1, undefined], 'a undefined does not survive JSON'],
  ['a Date', () => new Date(0), 'an instance of Date does not survive JSON'],
  ['a class instance', () => ({ point: new Point() }), 'an instance of Point does not survive JSON'],
  ['a cycle', () => cycle, 'it contains a cycle'],
  ['an object with a foreign prototype', () => Object.create(Object.create(null)), 'an instance of a class does not survive JSON'],
  ['a __proto__ key', () => JSON.parse('{"__proto__":{"admin":true}}'), 'it contains a "__proto__" key']
]

t.test('set refuses values JSON cannot carry exactly, at the call', async (t) => {
  const results: unknown[] = []
  const { app, store } = await buildApp(t, {}, (app) => {
    app.post('/set/:case', async (request) => {
      const [, make] = refused[Number((request.params as { case: string }).case)] as (typeof refused)[number]
      try {
        request.session.set('value', make())
      } catch (err) {
        results.push(err)
      }
      return { has: request.session.has('value') }
    })
  })
  for (const [index, [name, , reason]] of refused.entries()) {
    const response = await app.inject({ method: 'POST', url: `/set/${index}` })
    t.same(response.json(), { has: false }, name)
    t.match(results[index], { code: 'FST_SESSIONKIT_INVALID_VALUE', statusCode: 500, message: `Session value for key "value" is not storable: ${reason}` }, name)
    t.ok(results[index] instanceof TypeError)
  }
  t.equal(store.size, 0)
})

t.test('reserved keys are refused by set, delete and regenerate', async (t) => {
  const errors: unknown[] = []
  const { app } = await buildApp(t, {}, (app) => {
    app.post('/reserved', async (request) => {
      for (const key of ['__proto__', 'constructor', 'prototype', '']) {
        try { request.session.set(key, 1) } catch (err) { errors.push(err) }
        try { request.session.delete(key) } catch (err) { errors.push(err) }
      }
      try { await request.session.regenerate(['constructor']) } catch (err) { errors.push(err) }
      return { data: request.session.data() }
    })
  })
  const response = await app.inject({ method: 'POST', url: '/reserved' })
  t.same(response.json(), { data: {} })
  t.equal(errors.length, 9)
  for (const err of errors) t.match(err, { code: 'FST_SESSIONKIT_RESERVED_KEY', statusCode: 500 })
  t.match(errors[0], { message: 'Session key "__proto__" is reserved' })
})

t.test('set copies; undefined deletes; nested changes are seen', async (t) => {
  const { app } = await buildApp(t, {}, (app) => {
    app.post('/create', async (request) => {
      const cart = { items: ['a'] }
      request.session.set('cart', cart)
      cart.items.push('mutated after set')
      request.session.set('gone', 1)
      request.session.set('gone', undefined)
      request.session.delete('never-there')
      const bare = Object.create(null) as Record<string, unknown>
      bare.ok = true
      request.session.set('bare', bare)
      request.session.set('sparse', { kept: 1, dropped: undefined })
      return { isModified: request.session.isModified, has: request.session.has('gone'), expiresAt: request.session.expiresAt }
    })
    app.post('/push', async (request) => {
      const cart = request.session.get('cart') as { items: string[] }
      cart.items.push('b')
      return { isModified: request.session.isModified }
    })
    app.post('/read-only', async (request) => {
      const cart = request.session.get('cart') as { items: string[] }
      return { isModified: request.session.isModified, items: cart.items, missing: request.session.get('toString') ?? null }
    })
    app.post('/poison', async (request) => {
      const cart = request.session.get('cart') as { items: unknown[] }
      cart.items.push(() => 1)
      return { ok: true }
    })
    app.get('/data', async (request) => ({ data: request.session.data(), json: JSON.parse(JSON.stringify(request.session)) }))
  })
  const created = await app.inject({ method: 'POST', url: '/create' })
  t.same(created.json(), { isModified: true, has: false, expiresAt: null })
  const credential = credentialOf(created) as string
  const headers = { 'x-test-session': credential }
  const readOnly = await app.inject({ method: 'POST', url: '/read-only', headers })
  t.same(readOnly.json(), { isModified: false, items: ['a'], missing: null })
  const pushed = await app.inject({ method: 'POST', url: '/push', headers })
  t.same(pushed.json(), { isModified: true })
  const data = await app.inject({ method: 'GET', url: '/data', headers })
  t.same(data.json(), { data: { cart: { items: ['a', 'b'] }, bare: { ok: true }, sparse: { kept: 1 } }, json: { cart: { items: ['a', 'b'] }, bare: { ok: true }, sparse: { kept: 1 } } })
  const poisoned = await app.inject({ method: 'POST', url: '/poison', headers })
  t.equal(poisoned.statusCode, 500)
  t.equal(poisoned.json().code, 'FST_SESSIONKIT_INVALID_VALUE')
  const after = await app.inject({ method: 'GET', url: '/data', headers })
  t.same(after.json().data, { cart: { items: ['a', 'b'] }, bare: { ok: true }, sparse: { kept: 1 } }, 'nothing half-written')
})

t.test('a mechanism that refuses a set() after the fact puts its change back as it was (restoreChange)', async (t) => {
  const { SessionState } = await import('@sessionkit/core')
  /** A session whose mechanism refuses any value over 3 after the base class recorded it, as a size budget does. */
  class Budgeted extends SessionState {
    readonly id = null
    readonly isNew = true
    readonly expiresAt = null
    protected readonly savedRemembered = false
    async regenerate (): Promise<void> {}
    async destroy (): Promise<void> {}
    touch (): void {}
    async save (): Promise<void> {}
    async reload (): Promise<void> {}
    override set (key: string, value: unknown): void {
      const changed = this.changes.has(key)
      const change = this.changes.get(key)
      const before = this.current[key]
      super.set(key, value as never)
      if (typeof value === 'number' && value > 3) {
        if (before === undefined) delete this.current[key]
        else this.current[key] = before
        this.restoreChange(key, changed, change)
        throw new RangeError('over budget')
      }
    }
  }
  const session = new Budgeted({ name: 'test', onInvalid: 'reject', read: () => undefined, write: () => {}, clear: () => {} }, { kept: 1 })
  t.equal(session.changes.size, 0, 'no change yet, and no map made for none')
  t.throws(() => session.set('n', 5), RangeError)
  t.same([...session.changes], [], 'a refused first change leaves no trace')
  session.set('n', 2)
  t.throws(() => session.set('n', 9), RangeError)
  t.same([...session.changes], [['n', 2]], 'a refused second change leaves the first')
  t.same(session.data(), { kept: 1, n: 2 })
  t.equal(session.isModified, true)

  const watched = new Budgeted({ name: 'test', onInvalid: 'reject', read: () => undefined, write: () => {}, clear: () => {} }, { basket: { items: 1 } })
  const basket = watched.get('basket') as { items: number }
  basket.items = 2
  watched.delete('basket')
  t.same([...watched.collectChanges()], [['basket', undefined]], 'an object read, changed and then deleted is a deletion, not a change')
})
