import t from 'tap'
import Fastify from 'fastify'
import { MemoryStore } from '@sessionkit/core'
import { ManualClock } from '@sessionkit/core/testing'
import { sessionkitJwt, type JwtKey } from '@sessionkit/jwt'
import { buildJwtApp, bearer } from './fixtures/app.js'
import { cookieOf, OTHER_SECRET, rsa, SECRET, tokenOf } from './fixtures/keys.js'

t.test('a payload that would push a token cookie past 4096 bytes: a coded error at set, the session as it was, no Set-Cookie for it', async (t) => {
  const clock = new ManualClock()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkitJwt, { keys: [{ kid: 'k1', algorithm: 'HS256', secret: SECRET }], transport: 'cookie', now: clock.now })
  app.post('/big', async (request) => {
    request.session.set('small', 'fits')
    request.session.set('notes', 'short')
    try {
      request.session.set('notes', 'x'.repeat(3_500))
    } catch (err) {
      return { code: (err as { code: string }).code, statusCode: (err as { statusCode: number }).statusCode, notes: request.session.get('notes') }
    }
    return { code: null }
  })
  app.post('/huge', async (request) => {
    request.session.set('notes', 'x'.repeat(3_500))
    return { ok: true }
  })
  const response = await app.inject({ method: 'POST', url: '/big' })
  t.same(response.json(), { code: 'FST_SESSIONKIT_TOKEN_TOO_LARGE', statusCode: 500, notes: 'short' })
  t.type(cookieOf(response), 'string', 'the session as it was is issued')
  const huge = await app.inject({ method: 'POST', url: '/huge' })
  t.equal(huge.statusCode, 500)
  t.equal(huge.json().code, 'FST_SESSIONKIT_TOKEN_TOO_LARGE')
  t.equal(huge.headers['set-cookie'], undefined, 'no Set-Cookie')
})

t.test('the Bearer budget is 8192 bytes by default', async (t) => {
  const { app } = await buildJwtApp(t, {}, (app) => {
    app.post('/fill/:size', async (request) => {
      request.session.set('notes', 'x'.repeat(Number((request.params as { size: string }).size)))
      return { ok: true }
    })
  })
  const fits = await app.inject({ method: 'POST', url: '/fill/5500' })
  t.equal(fits.statusCode, 200)
  t.ok((tokenOf(fits) as string).length <= 8192)
  const over = await app.inject({ method: 'POST', url: '/fill/6500' })
  t.equal(over.statusCode, 500)
  t.equal(over.json().code, 'FST_SESSIONKIT_TOKEN_TOO_LARGE')
})

t.test('the real token is measured at issue time, past what set() could estimate', async (t) => {
  // a long user id travels twice (in the data and as sub): the estimate counts it once
  const { app } = await buildJwtApp(t, { transport: 'cookie' }, (app) => {
    app.post('/fill/:size', async (request) => {
      try {
        request.session.set('userId', 'u'.repeat(1_000))
        request.session.set('notes', 'x'.repeat(Number((request.params as { size: string }).size)))
      } catch {
        return { refusedAtSet: true }
      }
      return { refusedAtSet: false }
    })
  })
  let found = false
  for (let size = 0; size < 3_000 && !found; size += 10) {
    const response = await app.inject({ method: 'POST', url: `/fill/${size}` })
    if (response.statusCode === 500) {
      t.equal(response.json().code, 'FST_SESSIONKIT_TOKEN_TOO_LARGE', `refused at issue time at ${size} characters`)
      t.equal(response.headers['set-cookie'], undefined, 'no Set-Cookie')
      found = true
    } else {
      // the session cookie's line (a login also sets the refresh cookie, a line of its own)
      const line = [response.headers['set-cookie'] ?? []].flat().find((cookie) => cookie.startsWith('sid=')) ?? ''
      if (response.json().refusedAtSet === false) t.ok(Buffer.byteLength(line) <= 4096, `${size}: ${Buffer.byteLength(line)} bytes sent`)
    }
  }
  t.ok(found, 'some size passes set() and is refused at issue')
})

t.test('key rotation: the newest key signs; older keys verify until retired', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  async function app (keys: JwtKey[]): Promise<import('fastify').FastifyInstance> {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionkitJwt, { keys, store, now: clock.now })
    app.post('/login', async (request) => {
      await request.session.regenerate()
      request.session.set('userId', 'alice')
      return { ok: true }
    })
    app.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
    return app
  }
  const old = { kid: '2026-10', algorithm: 'HS256', secret: OTHER_SECRET } as const
  const current = { kid: '2026-11', algorithm: 'HS256', secret: SECRET } as const
  const before = await app([old])
  const oldToken = tokenOf(await before.inject({ method: 'POST', url: '/login' })) as string
  const rotated = await app([current, old])
  t.equal((await rotated.inject({ method: 'GET', url: '/me', headers: bearer(oldToken) })).statusCode, 200, 'an older key still verifies')
  const newToken = tokenOf(await rotated.inject({ method: 'POST', url: '/login' })) as string
  t.equal(JSON.parse(Buffer.from(newToken.split('.')[0] as string, 'base64url').toString()).kid, '2026-11', 'the newest signs')
  const retired = await app([current])
  t.equal((await retired.inject({ method: 'GET', url: '/me', headers: bearer(oldToken) })).statusCode, 401, 'a retired key fails')
  t.equal((await retired.inject({ method: 'GET', url: '/me', headers: bearer(newToken) })).statusCode, 200)
})

t.test('asymmetric keys: RS256 signs with the private key; verify-only keys verify', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
  const signer = Fastify()
  t.teardown(() => signer.close())
  const store = new MemoryStore()
  t.teardown(() => store.close())
  await signer.register(sessionkitJwt, { keys: [{ kid: 'ec1', algorithm: 'ES256', publicKey: ec.publicKey, privateKey: ec.privateKey }], store })
  signer.post('/login', async (request) => { request.session.set('userId', 'alice'); return { ok: true } })
  const token = tokenOf(await signer.inject({ method: 'POST', url: '/login' })) as string
  const verifier = Fastify()
  t.teardown(() => verifier.close())
  await verifier.register(sessionkitJwt, { keys: [{ kid: 'rsa1', algorithm: 'RS256', publicKey: rsa.publicKey, privateKey: rsa.privateKey }, { kid: 'ec1', algorithm: 'ES256', publicKey: ec.publicKey }], store })
  verifier.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
  t.same((await verifier.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json(), { user: 'alice' })
  const mismatched = Fastify()
  t.teardown(() => mismatched.close())
  mismatched.register(sessionkitJwt, { keys: [{ kid: 'x', algorithm: 'RS256', publicKey: rsa.publicKey, privateKey: ec.privateKey }] })
  t.match(await mismatched.ready().then(() => null, (err: unknown) => err), { message: 'Invalid option "keys": key "x": the private key does not match the public key' })
})
