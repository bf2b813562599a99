import t from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import fastifySecureSession from '@fastify/secure-session'
import { buildJwtApp } from './fixtures/app.js'

// What the README's "Coming from @fastify/secure-session" sets up, and what happens to the cookies
// @fastify/secure-session itself issued.
const SEAL = 'jwt-seal-secret-0123456789abcdef-0123456789abcdef'
const OPTIONS = {
  encryptionKeys: [{ kid: 'e1', secret: SEAL }],
  transport: 'cookie',
  cookie: { cookieName: 'session' },
  accessTokenTtl: '1d',
  refreshTokenTtl: false
} as const

function sessionCookie (response: LightMyRequestResponse): string | null | undefined {
  const cookie = response.cookies.find((c) => c.name === 'session')
  if (cookie === undefined) return undefined
  return cookie.value === '' ? null : cookie.value
}

t.test('the encrypted cookie that replaces @fastify/secure-session: one cookie, sealed, a day long, revoked on logout', async (t) => {
  const { app, clock } = await buildJwtApp(t, OPTIONS, (app) => {
    app.get('/cart', async (request) => ({ cart: request.session.get('cart') ?? [] }))
  })
  const set = await app.inject({ method: 'POST', url: '/set', payload: { cart: ['book'] } })
  const token = sessionCookie(set) as string
  t.equal(token.split('.').length, 5, 'a JWE')
  t.notOk(Buffer.from(token.split('.')[3] as string, 'base64url').toString('latin1').includes('book'), 'its holder reads nothing of the session')
  t.equal(set.cookies.filter((c) => c.name.startsWith('session')).length, 1, 'no refresh cookie')
  clock.advance(86_400_000 - 1000)
  const read = await app.inject({ method: 'GET', url: '/cart', headers: { cookie: `session=${token}` } })
  t.same(read.json(), { cart: ['book'] }, 'a day later, still there')
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: `session=${token}` } })
  t.equal(sessionCookie(logout), null, 'logout clears the cookie')
  const copy = await app.inject({ method: 'GET', url: '/cart', headers: { cookie: `session=${token}` } })
  t.same(copy.json(), { cart: [] }, 'and a copy of it no longer works: the token is revoked')
  clock.advance(2000)
  const fresh = await app.inject({ method: 'POST', url: '/set', payload: { cart: ['pen'] } })
  clock.advance(86_400_000 + 1000)
  const expired = await app.inject({ method: 'GET', url: '/cart', headers: { cookie: `session=${sessionCookie(fresh) as string}` } })
  t.same(expired.json(), { cart: [] }, 'past accessTokenTtl the session is over')
})

t.test('coming from @fastify/secure-session: its cookie is never adopted; under the same name it is replaced at the first save', async (t) => {
  const before = Fastify()
  t.teardown(() => before.close())
  await before.register(fastifySecureSession, { key: randomBytes(32), cookieName: 'session', cookie: { path: '/' } })
  before.post('/set', async (request) => {
    request.session.set('cart', ['book'])
    return { ok: true }
  })
  const old = sessionCookie(await before.inject({ method: 'POST', url: '/set' })) as string
  t.type(old, 'string', '@fastify/secure-session\'s own cookie')
  const { app } = await buildJwtApp(t, OPTIONS, (app) => {
    app.get('/cart', async (request) => ({ cart: request.session.get('cart') ?? [] }))
    app.post('/cart', async (request) => {
      request.session.set('cart', ['pen'])
      return { ok: true }
    })
  })
  const read = await app.inject({ method: 'GET', url: '/cart', headers: { cookie: `session=${old}` } })
  t.equal(read.statusCode, 200)
  t.same(read.json(), { cart: [] }, 'a new, empty session')
  t.equal(sessionCookie(read), undefined, 'nothing said of the old cookie until a save')
  const saved = await app.inject({ method: 'POST', url: '/cart', headers: { cookie: `session=${old}` } })
  const fresh = sessionCookie(saved)
  t.type(fresh, 'string', 'the save replaces it')
  t.not(fresh, old)
  t.same((await app.inject({ method: 'GET', url: '/cart', headers: { cookie: `session=${fresh as string}` } })).json(), { cart: ['pen'] })
})
