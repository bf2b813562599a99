import t from 'tap'
import { createSessionClient } from '@sessionkit/web-storage'
import { Area } from './fixtures/areas.js'
import { withGlobals } from './fixtures/globals.js'
import { server } from './fixtures/servers.js'

const login = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' }

t.test('outside a page, a sessionStorage in the scope is no tab\'s, nor are other clients: memory, each client its own', async (t) => {
  const { base } = await server(t, 'header')
  const shared = new Area()
  withGlobals(t, { location: { origin: base }, sessionStorage: shared, localStorage: new Area() })
  const alice = createSessionClient({ mechanism: 'header' })
  t.teardown(() => alice.close())
  await alice.fetch('/login', login)
  t.same(alice.state(), { authenticated: true, inMemory: true, remembered: false }, 'logged in, in memory')
  t.same([...shared.items.keys()], [], 'nothing written to the process\'s sessionStorage')
  const bob = createSessionClient({ mechanism: 'header' })
  t.teardown(() => bob.close())
  await bob.fetch('/login', { ...login, body: '{"user":"bob"}' })
  t.same(await (await alice.fetch('/me')).json(), { user: 'alice' }, 'one client\'s login does not become another\'s')
  t.same(await (await bob.fetch('/me')).json(), { user: 'bob' })
  await alice.logout()
  // a logout told to other tabs would arrive within a turn or two of the event loop
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(await (await bob.fetch('/me')).json(), { user: 'bob' }, 'nor does its logout end another\'s')
})

t.test('in a page, the page\'s own sessionStorage is the default, and logouts reach the other tabs', async (t) => {
  const { base } = await server(t, 'header')
  const page = new Area()
  withGlobals(t, { location: { origin: base }, document: {}, sessionStorage: page, localStorage: new Area() })
  const namespace = `page-${Date.now()}`
  const c = createSessionClient({ mechanism: 'header', namespace })
  t.teardown(() => c.close())
  await c.fetch('/login', login)
  t.same(c.state(), { authenticated: true, inMemory: false, remembered: false })
  t.same([...page.items.keys()], [`${namespace}:header`])
  // another tab: an area of its own
  const other = createSessionClient({ mechanism: 'header', namespace, storageAreas: { sessionStorage: new Area() } })
  t.teardown(() => other.close())
  await other.fetch('/login', login)
  const ended = new Promise<boolean>((resolve) => other.onChange((state) => resolve(state.authenticated)))
  await c.logout()
  t.equal(await ended, false, 'the other tab heard the logout')
})

t.test('a response header that is not a credential is ignored', async (t) => {
  for (const mechanism of ['header', 'jwt'] as const) {
    const { base } = await server(t, mechanism)
    const c = createSessionClient({ mechanism, baseUrl: base, storage: 'memory', crossTab: false })
    t.teardown(() => c.close())
    await c.fetch('/login', login)
    t.equal((await c.fetch('/odd')).status, 200)
    t.same(await (await c.fetch('/me')).json(), { user: 'alice' }, `${mechanism}: still the credential it had`)
  }
})

t.test('jwt: a change keeps the refresh token; a revoked access token is refreshed once and the request retried', async (t) => {
  const { base, store } = await server(t, 'jwt')
  const area = new Area()
  const c = createSessionClient({ mechanism: 'jwt', baseUrl: base, storageAreas: { sessionStorage: area }, crossTab: false })
  t.teardown(() => c.close())
  await c.fetch('/login', login)
  const refresh = JSON.parse(area.getItem('sessionkit:jwt') as string).r
  await c.fetch('/visits', { method: 'POST' })
  const after = JSON.parse(area.getItem('sessionkit:jwt') as string)
  t.equal(after.r, refresh, 'kept across a re-issued access token')
  const jti = JSON.parse(Buffer.from(after.c.split('.')[1], 'base64url').toString()).jti
  await store.revokeToken(jti, 60_000)
  const me = await c.fetch('/me')
  t.equal(me.status, 200, 'refreshed and retried')
  t.not(JSON.parse(area.getItem('sessionkit:jwt') as string).r, refresh, 'a new refresh token')
})

t.test('jwt: a token another tab already renewed is used instead of refreshing again', async (t) => {
  const { base, store, refreshes } = await server(t, 'jwt')
  const area = new Area()
  const other = createSessionClient({ mechanism: 'jwt', baseUrl: base, storage: 'memory', crossTab: false })
  t.teardown(() => other.close())
  await other.fetch('/login', login)
  let renewed = false
  const c = createSessionClient({
    mechanism: 'jwt',
    baseUrl: base,
    storageAreas: { sessionStorage: area },
    crossTab: false,
    fetch: async (input, init) => {
      const response = await fetch(input, init)
      if (response.status === 401 && !renewed) {
        renewed = true
        // meanwhile, another tab sharing the storage renewed the session
        const fresh = await other.fetch('/visits', { method: 'POST' })
        area.setItem('sessionkit:jwt', JSON.stringify({ v: 1, c: fresh.headers.get('x-session-token'), r: null }))
      }
      return response
    }
  })
  t.teardown(() => c.close())
  await c.fetch('/login', login)
  const held = JSON.parse(area.getItem('sessionkit:jwt') as string).c
  await store.revokeToken(JSON.parse(Buffer.from(held.split('.')[1], 'base64url').toString()).jti, 60_000)
  t.equal((await c.fetch('/me')).status, 200)
  t.same(refreshes, [], 'no refresh was needed')
})

t.test('jwt: a refresh that cannot reach the server keeps the credential', async (t) => {
  const { base, clock } = await server(t, 'jwt')
  let time = Date.now()
  let offline = false
  const c = createSessionClient({
    mechanism: 'jwt',
    baseUrl: base,
    storage: 'memory',
    crossTab: false,
    now: () => time,
    fetch: async (input, init) => {
      if (offline) throw new TypeError('fetch failed')
      return fetch(input, init)
    }
  })
  t.teardown(() => c.close())
  await c.fetch('/login', login)
  clock.advance(2 * 60_000)
  time += 2 * 60_000
  offline = true
  await t.rejects(c.fetch('/me'), { message: 'fetch failed' })
  t.equal(c.state().authenticated, true, 'kept for when the network is back')
})

t.test('stored JWTs whose expiry cannot be read are kept for the server to judge', async (t) => {
  for (const credential of ['abc', 'a.e30.b', 'a.bm90.b']) {
    const area = new Area()
    area.setItem('sessionkit:jwt', JSON.stringify({ v: 1, c: credential, r: null }))
    const c = createSessionClient({ mechanism: 'jwt', baseUrl: 'http://app.test', storageAreas: { sessionStorage: area }, crossTab: false })
    t.equal(c.state().authenticated, true, credential)
    c.close()
  }
})
