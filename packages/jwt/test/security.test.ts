import t from 'tap'
import { createRequire } from 'node:module'
import { Socket } from 'node:net'
import Fastify from 'fastify'
import { MemoryStore } from '@sessionkit/core'
import { ManualClock } from '@sessionkit/core/testing'
import { bearerTransport, sessionkitJwt, type JwtSessionOptions } from '@sessionkit/jwt'
import { buildJwtApp, bearer } from './fixtures/app.js'
import { claimsAt, forge, rsa, SECRET, tokenOf, HS_KEY } from './fixtures/keys.js'

async function login (app: import('fastify').FastifyInstance, user = 'alice'): Promise<{ access: string, refresh: string }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { user } })
  return { access: tokenOf(response) as string, refresh: String(response.headers['x-refresh-token']) }
}

async function status (app: import('fastify').FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).statusCode
}

t.test('alg none with an empty signature: 401, handler not run', async (t) => {
  const { app, clock, handled } = await buildJwtApp(t)
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: 'k1' })).toString('base64url')
  const payload = Buffer.from(JSON.stringify(claimsAt(clock.now(), { sub: 'alice', gen: 0, sk: { userId: 'alice' } }))).toString('base64url')
  for (const token of [`${header}.${payload}.`, `${header}.${payload}`]) {
    const response = await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })
    t.equal(response.statusCode, 401)
    t.equal(response.json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL')
  }
  t.same(handled, [])
})

t.test('an HS256 token signed with the text of the configured public key: 401 (CVE-2023-48223, CVE-2026-34950)', async (t) => {
  for (const publicKey of [rsa.publicKey, '  \n' + rsa.publicKey]) {
    const clock = new ManualClock()
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionkitJwt, { keys: [{ kid: 'rsa1', algorithm: 'RS256', publicKey, privateKey: rsa.privateKey }], now: clock.now })
    app.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
    const token = forge(claimsAt(clock.now(), { sk: { userId: 'mallory' } }), { key: publicKey, algorithm: 'HS256', kid: 'rsa1' })
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).statusCode, 401)
  }
})

t.test('kid naming an unknown key, or none: 401', async (t) => {
  const { app, clock } = await buildJwtApp(t)
  t.equal(await status(app, forge(claimsAt(clock.now()), { kid: 'k2' })), 401)
  t.equal(await status(app, forge(claimsAt(clock.now()), { kid: '' })), 401)
})

t.test('jku, x5u, jwk or x5c pointing at an attacker key: 401, and no outbound connection', async (t) => {
  const { app, clock } = await buildJwtApp(t)
  let connections = 0
  const connect = Socket.prototype.connect
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) { connections++; return (connect as (...a: unknown[]) => Socket).apply(this, args) } as typeof connect
  t.teardown(() => { Socket.prototype.connect = connect })
  const attacker = 'attacker-secret-0123456789abcdef-0123456789abcd'
  for (const header of [{ jku: 'https://evil.test/jwks.json' }, { x5u: 'https://evil.test/cert.pem' }, { jwk: { kty: 'oct', k: Buffer.from(attacker).toString('base64url') } }, { x5c: ['MIIB'] }]) {
    const token = forge(claimsAt(clock.now()), { key: attacker, header: { typ: 'at+jwt', ...header } })
    t.equal(await status(app, token), 401, Object.keys(header)[0] as string)
    const withOurKey = forge(claimsAt(clock.now()), { header: { typ: 'at+jwt', ...header } })
    t.equal(await status(app, withOurKey), 401, `${Object.keys(header)[0] as string}, even signed with our key`)
  }
  t.equal(connections, 0)
})

t.test('HS384 with the right secret when only HS256 is allowed: 401', async (t) => {
  const { app, clock } = await buildJwtApp(t)
  t.equal(await status(app, forge(claimsAt(clock.now()), { algorithm: 'HS384' })), 401)
})

t.test('whitespace inside a segment, an unknown crit, a wrong typ: 401', async (t) => {
  const { app, clock } = await buildJwtApp(t)
  const good = forge(claimsAt(clock.now(), { sub: 'alice', gen: 0, sk: { userId: 'alice' } }))
  t.equal(await status(app, good), 200, 'the untouched token is fine')
  const [h, p, s] = good.split('.') as [string, string, string]
  t.equal(await status(app, `${h}.${p.slice(0, 5)} ${p.slice(5)}.${s}`), 401)
  t.equal(await status(app, `${h}.${p}.${s}\t`), 401)
  // the good token is cached now: each of these shares its signature, none is served from it
  t.equal(await status(app, ` ${good}`), 401, 'two spaces after Bearer')
  t.equal(await status(app, `${good} ${good}`), 401, 'two tokens')
  t.equal(await status(app, `${h}\t.${p}.${s}`), 401)
  t.equal(await status(app, `${h}.${p}\u00a0.${s}`), 401, 'a no-break space')
  t.equal(await status(app, good), 200, 'the good token still is')
  t.equal(await status(app, forge(claimsAt(clock.now()), { header: { typ: 'at+jwt', crit: ['exp-ext'], 'exp-ext': 1 } })), 401)
  t.equal(await status(app, forge(claimsAt(clock.now()), { header: { typ: 'JWT' } })), 401)
  t.equal(await status(app, 'e30.' + p + '.' + s), 401, 'a header without alg')
  t.equal(await status(app, 'bm90IGpzb24.' + p + '.' + s), 401, 'a header that is not JSON')
  t.equal(await status(app, 'WzFd.' + p + '.' + s), 401, 'a header that is an array')
})

t.test('registration refuses weak or confused configurations', async (t) => {
  const cases: Array<[Partial<JwtSessionOptions>, string]> = [
    [{ keys: [{ kid: 'k', algorithm: 'HS256', secret: 'x'.repeat(31) }] }, 'Invalid option "keys": key "k": the secret has 31 bytes; at least 32 random bytes are required'],
    [{ keys: [{ kid: 'k', algorithm: 'none' as 'HS256', secret: SECRET }] }, 'Invalid option "keys": key "k": the algorithm "none" is refused'],
    [{ keys: [{ kid: 'k', algorithm: 'HS256', secret: rsa.publicKey }] }, 'Invalid option "keys": key "k": a PEM key is not an HMAC secret'],
    [{ keys: [HS_KEY, { kid: 'r', algorithm: 'RS256', publicKey: rsa.publicKey }] }, 'Invalid option "keys": HMAC and asymmetric keys are never mixed in one ring'],
    [{ keys: [{ kid: 'r', algorithm: 'RS256', publicKey: rsa.publicKey }] }, 'Invalid option "keys": the first key signs: it needs its privateKey'],
    [{ keys: [{ kid: 'r', algorithm: 'ES256', publicKey: rsa.publicKey, privateKey: rsa.privateKey }] }, 'Invalid option "keys": key "r": a rsa key cannot sign ES256'],
    [{ keys: [{ kid: 'r', algorithm: 'RS256', publicKey: 'not a key' }] }, 'Invalid option "keys": key "r": the publicKey (and privateKey) must be PEM keys'],
    [{ keys: [{ kid: 'r', algorithm: 'XS256' as 'RS256', publicKey: rsa.publicKey }] }, 'Invalid option "keys": key "r": unknown algorithm "XS256"'],
    [{ keys: [HS_KEY, HS_KEY] }, 'Invalid option "keys": each kid may appear once'],
    [{ keys: [{ kid: 'bad kid', algorithm: 'HS256', secret: SECRET }] }, 'Invalid option "keys": key #0 needs a kid of 1 to 64 letters, digits, ".", "_" or "-"'],
    [{ keys: [{ kid: 'k', algorithm: 'HS512' } as never] }, 'Invalid option "keys": key "k": HS512 needs a secret'],
    [{ keys: [null as never] }, 'Invalid option "keys": key #0 must be an object'],
    [{ keys: [] }, 'Invalid option "keys": must list at least one key: { kid, algorithm, secret } or { kid, algorithm, publicKey, privateKey }'],
    [{ accessTokenTtl: 'a while' }, 'Invalid option "accessTokenTtl": must be a positive number of milliseconds or a text such as "15m", "12h", "30d"'],
    [{ accessTokenTtl: 0 }, 'Invalid option "accessTokenTtl": must be a positive number of milliseconds or a text such as "15m", "12h", "30d"'],
    [{ accessTokenTtl: '2d', refreshTokenTtl: '1d' }, 'Invalid option "refreshTokenTtl": must not be shorter than accessTokenTtl'],
    [{ transport: 'query' as 'bearer' }, 'Invalid option "transport": must be "bearer" or "cookie"'],
    [{ refreshRoute: 'refresh' }, 'Invalid option "refreshRoute": must be a path starting with "/" (no ";", "?", "#" or whitespace), or false'],
    [{ refreshRoute: '/refresh; Path=/' }, 'Invalid option "refreshRoute": must be a path starting with "/" (no ";", "?", "#" or whitespace), or false'],
    [{ refreshRoute: '/refresh?x' }, 'Invalid option "refreshRoute": must be a path starting with "/" (no ";", "?", "#" or whitespace), or false'],
    [{ bearer: { responseHeader: 'X-Refresh-Token' } }, 'Invalid option "responseHeader": must not be "x-refresh-token", which carries refresh tokens'],
    [{ bearer: { exposeHeader: 'yes' as never } }, 'Invalid option "exposeHeader": must be a boolean'],
    [{ cache: 0 }, 'Invalid option "cache": must be a positive number of entries, or false'],
    [{ maxTokenBytes: 10 }, 'Invalid option "maxTokenBytes": must be an integer of at least 256'],
    [{ userId: '' }, 'Invalid option "userId": must be a session key or a function returning the user id'],
    [{ now: 'now' as never }, 'Invalid option "now": must be a function returning epoch milliseconds'],
    [{ refreshGrace: -1 }, 'Invalid option "refreshGrace": must be a non-negative integer'],
    [{ issuer: '' }, 'Invalid option "issuer": must be a non-empty string']
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(sessionkitJwt, { keys: [HS_KEY], ...options })
    const err = await app.ready().then(() => null, (err: unknown) => err)
    t.match(err, { code: 'FST_SESSIONKIT_INVALID_OPTION', message }, message)
  }
})

t.test('exp, nbf and iat against an injected clock with tolerance', async (t) => {
  const { app, clock } = await buildJwtApp(t, { clockTolerance: 5_000 })
  const now = clock.now()
  const user = { sub: 'alice', gen: 0, sk: { userId: 'alice' } }
  const noExp = claimsAt(now, user)
  delete noExp.exp
  t.equal(await status(app, forge(noExp)), 401, 'no exp')
  const noIat = claimsAt(now, user)
  delete noIat.iat
  t.equal(await status(app, forge(noIat)), 401, 'no iat')
  const noJti = claimsAt(now, user)
  delete noJti.jti
  t.equal(await status(app, forge(noJti)), 401, 'no jti')
  const exp = Math.floor(now / 1000) + 60
  const expiring = forge(claimsAt(now, { ...user, exp }))
  clock.advance(60_000 + 5_000 - 1_000)
  t.equal(await status(app, expiring), 200, 'one second inside the tolerance')
  clock.advance(2_000)
  t.equal(await status(app, expiring), 401, 'one second past it')
  const later = clock.now()
  const notYet = forge(claimsAt(later, { ...user, nbf: Math.floor(later / 1000) + 30 }))
  t.equal(await status(app, notYet), 401, 'nbf in the future')
  clock.advance(26_000)
  t.equal(await status(app, notYet), 200, 'nbf passed (with tolerance)')
  const future = forge(claimsAt(clock.now(), { ...user, iat: Math.floor(clock.now() / 1000) + 60 }))
  t.equal(await status(app, future), 401, 'iat beyond the skew')
})

t.test('iss and aud, when configured, are required', async (t) => {
  const { app, clock } = await buildJwtApp(t, { issuer: 'https://id.example', audience: 'api' })
  const user = { sub: 'alice', gen: 0, sk: { userId: 'alice' } }
  t.equal(await status(app, forge(claimsAt(clock.now(), { ...user, iss: 'https://id.example', aud: 'api' }))), 200)
  t.equal(await status(app, forge(claimsAt(clock.now(), { ...user, iss: 'https://evil.example', aud: 'api' }))), 401, 'wrong iss')
  t.equal(await status(app, forge(claimsAt(clock.now(), { ...user, aud: 'api' }))), 401, 'absent iss')
  t.equal(await status(app, forge(claimsAt(clock.now(), { ...user, iss: 'https://id.example' }))), 401, 'absent aud')
  const { access } = await login(app)
  t.equal(await status(app, access), 200, 'issued tokens carry both')
})

t.test('a refresh token is never an access token, and the reverse', async (t) => {
  const { app } = await buildJwtApp(t)
  const { access, refresh } = await login(app)
  t.equal(await status(app, refresh), 401)
  const swapped = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': access } })
  t.equal(swapped.statusCode, 401)
})

t.test('logout denylists the jti for the rest of its lifetime; replay is 401', async (t) => {
  const revocations: Array<[string, number]> = []
  class RecordingStore extends MemoryStore {
    override async revokeToken (jti: string, ttl: number): Promise<void> {
      revocations.push([jti, ttl])
      return super.revokeToken(jti, ttl)
    }
  }
  const clock = new ManualClock()
  const store = new RecordingStore({ now: clock.now })
  t.teardown(() => store.close())
  const { app } = await buildJwtApp(t, { store, now: clock.now })
  const { access } = await login(app)
  clock.advance(60_000)
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(access) })).statusCode, 204)
  t.equal(await status(app, access), 401)
  const claims = JSON.parse(Buffer.from(access.split('.')[1] as string, 'base64url').toString())
  t.same(revocations.find(([jti]) => jti === claims.jti), [claims.jti, claims.exp * 1000 - clock.now()], 'the jti, with TTL = remaining lifetime')
  t.same(revocations.find(([jti]) => jti === claims.fam), [claims.fam, 15 * 60_000], 'and its family, for as long as any of its tokens can live')
})

t.test('bumping a user\'s generation ends all their earlier tokens, and only theirs', async (t) => {
  const { app } = await buildJwtApp(t)
  const [a1, a2, b] = [await login(app, 'ann'), await login(app, 'ann'), await login(app, 'ben')]
  t.same((await app.inject({ method: 'POST', url: '/revoke-user', payload: { user: 'ann' } })).json(), { revoked: 2 })
  t.equal(await status(app, a1.access), 401)
  t.equal(await status(app, a2.access), 401)
  t.equal(await status(app, b.access), 200)
  const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': a1.refresh } })
  t.equal(refreshed.statusCode, 401, 'their refresh tokens too')
  const again = await login(app, 'ann')
  t.equal(await status(app, again.access), 200, 'a new login works')
})

t.test('with the verify cache on, a cached then revoked token is 401 on the next request', async (t) => {
  const { app } = await buildJwtApp(t, { cache: 100 })
  const { access } = await login(app)
  t.equal(await status(app, access), 200)
  t.equal(await status(app, access), 200, 'served from the cache')
  await app.inject({ method: 'POST', url: '/logout', headers: bearer(access) })
  t.equal(await status(app, access), 401)
})

t.test('the verify cache never mixes up two tokens (GHSA-rp9m-7r4c-75qg)', async (t) => {
  const { app, clock } = await buildJwtApp(t, { cache: 100 })
  const base = claimsAt(clock.now())
  const one = forge({ ...base, sub: 'ann', gen: 0, sk: { userId: 'ann' } })
  const two = forge({ ...base, sub: 'ben', gen: 0, sk: { userId: 'ben' } })
  for (let round = 0; round < 3; round++) {
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(one) })).json().user, 'ann')
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(two) })).json().user, 'ben')
  }
})

t.test('the verify cache finds a token by its signature, and serves only that very token string', async (t) => {
  const { app, clock } = await buildJwtApp(t, { cache: 100 })
  const base = claimsAt(clock.now())
  const ann = forge({ ...base, sub: 'ann', gen: 0, sk: { userId: 'ann' } })
  const ben = forge({ ...base, sub: 'ben', gen: 0, sk: { userId: 'ben' } })
  const userOf = async (token: string): Promise<unknown> => (await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json().user
  t.equal(await userOf(ann), 'ann', 'cached now')
  const [header, annPayload, signature] = ann.split('.') as [string, string, string]
  const benPayload = ben.split('.')[1] as string
  t.equal(await status(app, `${header}.${benPayload}.${signature}`), 401, "ben's claims under ann's cached signature")
  t.equal(await status(app, `${header}.${annPayload}x.${signature}`), 401, 'one character more, the same signature')
  t.equal(await status(app, `x${header}.${annPayload}.${signature}`), 401)
  t.equal(await status(app, signature), 401, 'the signature alone')
  t.equal(await status(app, `.${signature}`), 401)
  t.equal(await userOf(ann), 'ann', 'the cached token is still served its own claims')
  t.equal(await userOf(ben), 'ben')
})

t.test('fast-jwt is at a version with the 2026 advisories fixed (CVE-2026-34950, CVE-2026-44351)', async (t) => {
  const require = createRequire(createRequire(import.meta.url).resolve('@fastify/jwt'))
  const { version } = require('fast-jwt/package.json') as { version: string }
  const [major, minor, patch] = version.split('.').map(Number) as [number, number, number]
  t.ok(major > 6 || (major === 6 && (minor > 2 || (minor === 2 && patch >= 4))), `fast-jwt ${version}`)
})

t.test('the Bearer transport reads exactly what /^Bearer (.+)$/is matches (whitespace in it fails verification)', async (t) => {
  const transport = bearerTransport()
  const oracle = (header: string): string => /^Bearer (.+)$/is.exec(header)?.[1] ?? ''
  const headers = ['Bearer', 'Bearer ', 'Bearer  x', 'Bearer x', 'BEARER x', 'bEaReR x.y.z', 'Bearerx', 'Bearer\tx', 'Bearer x\u00a0', 'Bearer x y',
    'Bearer\u00a0x', ' Bearer x', 'Bearer x ', 'Basic x', 'Bearer\u2028x', 'bearer €', 'xBearer x']
  // and random ones around the scheme
  const alphabet = ['B', 'b', 'e', 'E', 'a', 'r', 'R', ' ', '\t', 'x', '.', '\u00a0', '€', '-']
  for (let i = 0; i < 5_000; i++) {
    let header = Math.random() < 0.5 ? 'Bearer ' : ''
    for (let n = Math.floor(Math.random() * 10); n > 0; n--) header += alphabet[Math.floor(Math.random() * alphabet.length)]
    headers.push(header)
  }
  let mismatches = 0
  for (const authorization of headers) {
    if (transport.read({ headers: { authorization }, raw: { rawHeaders: ['Host', 'x', 'Authorization', authorization] } } as never) !== oracle(authorization)) mismatches++
  }
  t.equal(mismatches, 0, `${headers.length} headers`)
  t.equal(transport.read({ headers: {} } as never), undefined, 'no header, no credential')
})

t.test('two Authorization headers: 400, whichever holds the valid token (Node keeps only the first in request.headers)', async (t) => {
  const { app } = await buildJwtApp(t)
  const { access } = await login(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const get = async (headers: string): Promise<string> => await new Promise((resolve, reject) => {
    const socket = new Socket()
    socket.connect(port, '127.0.0.1', () => socket.end(`GET /me HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`))
    let answer = ''
    socket.on('data', (chunk) => { answer += String(chunk) })
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
  })
  const statusOf = (answer: string): number => Number(answer.split(' ')[1])
  t.equal(statusOf(await get(`Authorization: Bearer ${access}\r\n`)), 200, 'one header')
  for (const [label, headers] of <Array<[string, string]>>[
    ['the valid one first', `Authorization: Bearer ${access}\r\nAuthorization: Bearer other\r\n`],
    ['the valid one second', `Authorization: Bearer other\r\nAuthorization: Bearer ${access}\r\n`],
    ['the same one twice, names in other cases', `authorization: Bearer ${access}\r\nAUTHORIZATION: Bearer ${access}\r\n`]
  ]) {
    const answer = await get(headers)
    t.equal(statusOf(answer), 400, label)
    t.match(answer, /"code":"FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL"/)
  }
  t.equal(statusOf(await get(`Authorization: Bearer ${access}\r\nX-Authorization: Bearer other\r\n`)), 200, 'another header whose name ends alike')
})

t.test('Bearer with no token, Basic, two tokens: 401, never 500', async (t) => {
  const { app } = await buildJwtApp(t)
  for (const authorization of ['Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'bearer', 'Token abc']) {
    const response = await app.inject({ method: 'GET', url: '/me', headers: { authorization } })
    t.equal(response.statusCode, 401, JSON.stringify(authorization))
  }
  const { access } = await login(app)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { authorization: `bEaReR ${access}` } })).statusCode, 200, 'the scheme is case-insensitive')
})
