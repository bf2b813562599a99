import t from 'tap'
import Fastify from 'fastify'
import { createHmac, hash } from 'node:crypto'
import { byHand } from '../src/by-hand.js'

const SECRET = 'by-hand-test-secret-0123456789abcdef-0123456789'

async function server (t) {
  const app = Fastify()
  const store = byHand(app, SECRET)
  t.teardown(() => app.close())
  await app.ready()
  return { app, store }
}

const cookieOf = (response) => response.headers['set-cookie'].split(';')[0]

t.test('a write hands out a signed token whose SHA-256 is the store key', async (t) => {
  const { app, store } = await server(t)
  const response = await app.inject({ method: 'POST', url: '/write' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['set-cookie'], /^sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
  t.equal(response.headers['cache-control'], 'no-store')
  const [token, signature] = cookieOf(response).slice(4).split('.')
  t.equal(signature, createHmac('sha256', SECRET).update(token).digest('base64url'))
  t.same([...store.keys()], [hash('sha256', token, 'base64url')], 'stored under the hash, never the token')
  t.same(JSON.parse(store.get(hash('sha256', token, 'base64url'))).data, { n: 1 })
})

t.test('tokens are drawn in batches and never handed out twice', async (t) => {
  const { app, store } = await server(t)
  const cookies = new Set()
  for (let i = 0; i < 70; i++) cookies.add(cookieOf(await app.inject({ method: 'POST', url: '/write' })))
  t.equal(cookies.size, 70)
  t.equal(store.size, 70)
})

t.test('a read finds the session of a good credential, and none for any other', async (t) => {
  const { app } = await server(t)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/write' }))
  const read = async (headers) => (await app.inject({ method: 'GET', url: '/read', headers })).json().n
  t.equal(await read({ cookie }), 1)
  t.equal(await read({ cookie: `theme=dark; ${cookie}; lang=en` }), 1, 'among other cookies')
  t.equal(await read({}), null, 'no cookie')
  const [token, signature] = cookie.slice(4).split('.')
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)
  t.equal(await read({ cookie: `sid=${token}.${flipped}` }), null, 'a tampered signature')
  const other = createHmac('sha256', SECRET.split('').reverse().join('')).update(token).digest('base64url')
  t.equal(await read({ cookie: `sid=${token}.${other}` }), null, 'signed with another secret')
  const unknown = 'x'.repeat(43)
  t.equal(await read({ cookie: `sid=${unknown}.${createHmac('sha256', SECRET).update(unknown).digest('base64url')}` }), null, 'signed but never stored')
  t.equal(await read({ cookie: `sid=${token}` }), null, 'no signature')
})

t.test('an update rewrites the record of a live session, and refuses without one', async (t) => {
  const { app, store } = await server(t)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/write' }))
  const id = hash('sha256', cookie.slice(4).split('.')[0], 'base64url')
  const before = JSON.parse(store.get(id))
  const updated = await app.inject({ method: 'POST', url: '/update', headers: { cookie } })
  t.equal(updated.statusCode, 200)
  const after = JSON.parse(store.get(id))
  t.not(after.data.n, 1)
  t.equal(after.createdAt, before.createdAt)
  t.equal((await app.inject({ method: 'POST', url: '/update' })).statusCode, 401)
  t.equal(store.size, 1)
})
