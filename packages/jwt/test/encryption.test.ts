import t from 'tap'
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { MemoryStore } from '@sessionkit/core'
import { ManualClock, sessionConformance } from '@sessionkit/core/testing'
import { sessionkitJwt, type EncryptionKey, type JwtSessionOptions } from '@sessionkit/jwt'
import { bearer, buildJwtApp } from './fixtures/app.js'
import { bearerHarness, claimsAt, cookieHarness, cookieOf, forge, HS_KEY, rsa, SECRET, tokenOf } from './fixtures/keys.js'

const SEAL = 'jwt-seal-secret-0123456789abcdef-0123456789abcdef'
const OLD_SEAL = 'jwt-old-seal-secret-0123456789abcdef-0123456789ab'
const KEYS: EncryptionKey[] = [{ kid: 's1', secret: SEAL }]

/** The AES-256-GCM key of a secret, as the README documents it: HKDF-SHA256, empty salt, info "sessionkit jwt A256GCM". */
function keyOf (secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret), Buffer.alloc(0), 'sessionkit jwt A256GCM', 32))
}

/** A compact JWE written here, by RFC 7516, independently of the package: any header a test wants. */
function sealWith (inner: string, header: Record<string, unknown>, secret = SEAL): string {
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url')
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), iv)
  cipher.setAAD(Buffer.from(encodedHeader))
  const body = Buffer.concat([cipher.update(inner), cipher.final()])
  return [encodedHeader, '', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
}

/** Opens a token the package sealed, by RFC 7516, independently of the package. */
function openWith (token: string, secret = SEAL): { header: Record<string, unknown>, inner: string } {
  const [encodedHeader, key, iv, body, tag] = token.split('.') as [string, string, string, string, string]
  if (key !== '') throw new Error('direct encryption has no encrypted key')
  const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), Buffer.from(iv, 'base64url'))
  decipher.setAAD(Buffer.from(encodedHeader))
  decipher.setAuthTag(Buffer.from(tag, 'base64url'))
  const inner = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString()
  return { header: JSON.parse(Buffer.from(encodedHeader, 'base64url').toString()), inner }
}

function payloadOf (jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString())
}

async function login (app: import('fastify').FastifyInstance, user = 'alice'): Promise<{ access: string, refresh: string }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { user } })
  t.equal(response.statusCode, 200)
  return { access: tokenOf(response) as string, refresh: String(response.headers['x-refresh-token']) }
}

t.test('an access token is a compact JWE of the signed token: its holder reads nothing of the session', async (t) => {
  const { app, clock } = await buildJwtApp(t, { encryptionKeys: KEYS })
  const set = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice-the-user' } })
  const token = tokenOf(set) as string
  const segments = token.split('.')
  t.equal(segments.length, 5)
  t.equal(segments[1], '', 'direct encryption: no encrypted key')
  for (const segment of segments) {
    const decoded = Buffer.from(segment, 'base64url').toString('latin1')
    t.notMatch(decoded, /alice-the-user|userId|"sk"/, 'no segment shows the data')
  }
  const { header, inner } = openWith(token)
  t.same(header, { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 's1', exp: Math.floor(clock.now() / 1000) + 900 })
  const claims = payloadOf(inner)
  t.same(claims.sk, { userId: 'alice-the-user' }, 'inside: the token @fastify/jwt signed')
  t.equal(claims.exp, header.exp, 'the header repeats the expiry, for clients')
  t.same(JSON.parse(Buffer.from(inner.split('.')[0] as string, 'base64url').toString()), { alg: 'HS256', typ: 'at+jwt', kid: 'k1' })
  const me = await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })
  t.same(me.json(), { user: 'alice-the-user', data: { userId: 'alice-the-user' } })
  const sealedTwice = await app.inject({ method: 'POST', url: '/login', payload: { user: 'alice-the-user' } })
  t.not(openWith(tokenOf(sealedTwice) as string).header, null)
  t.not((tokenOf(sealedTwice) as string).split('.')[2], segments[2], 'a fresh IV per token')
})

t.test('an asymmetric signing ring seals the same way', async (t) => {
  const { app } = await buildJwtApp(t, { keys: [{ kid: 'r1', algorithm: 'RS256', publicKey: rsa.publicKey, privateKey: rsa.privateKey }], encryptionKeys: KEYS })
  const { access } = await login(app)
  const { inner } = openWith(access)
  t.equal(JSON.parse(Buffer.from(inner.split('.')[0] as string, 'base64url').toString()).alg, 'RS256')
  t.same((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).json().user, 'alice')
})

t.test('no IV is used twice: 300 tokens (more than one draw of the IV pool), 300 IVs', async (t) => {
  const { app } = await buildJwtApp(t, { encryptionKeys: KEYS })
  const { access } = await login(app)
  const ivs = new Set<string>()
  for (let i = 0; i < 300; i++) {
    const response = await app.inject({ method: 'POST', url: '/set', headers: bearer(access), payload: { n: i } })
    ivs.add((tokenOf(response) as string).split('.')[2] as string)
  }
  t.equal(ivs.size, 300)
})

t.test('a token changed in any segment is a 401, and the handler never runs', async (t) => {
  const { app, handled } = await buildJwtApp(t, { encryptionKeys: KEYS })
  const { access } = await login(app)
  const segments = access.split('.')
  for (const index of [0, 2, 3, 4]) {
    const segment = segments[index] as string
    const at = Math.floor(segment.length / 2)
    const changed = [...segments]
    changed[index] = segment.slice(0, at) + (segment[at] === 'A' ? 'B' : 'A') + segment.slice(at + 1)
    const response = await app.inject({ method: 'GET', url: '/me', headers: bearer(changed.join('.')) })
    t.equal(response.statusCode, 401, `segment ${index}`)
    t.equal(response.json().code, 'FST_SESSIONKIT_INVALID_CREDENTIAL')
  }
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(segments.slice(0, 4).join('.')) })).statusCode, 401, 'no tag')
  t.same(handled, [])
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).statusCode, 200, 'the token as issued still works')
})

t.test('the cache keeps apart two strings of one sealed token (spare bits of the ciphertext), and another body under a cached tag is a 401', async (t) => {
  const { app } = await buildJwtApp(t, { encryptionKeys: KEYS })
  // base64url of a length that is no multiple of 3 bytes ends in a character with spare bits,
  // which decoding ignores: the same bytes, so the same tag checks out, under another string
  let access = ''
  for (let n = 1; access === '' || (access.split('.')[3] as string).length % 4 === 0; n++) access = (await login(app, 'u'.repeat(n))).access
  const segments = access.split('.')
  const body = segments[3] as string
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const variant = [...segments.slice(0, 3), body.slice(0, -1) + alphabet[alphabet.indexOf(body.at(-1) as string) ^ 1], segments[4]].join('.')
  t.not(variant, access)
  t.equal(openWith(variant).inner, openWith(access).inner, 'both open to the same signed token')
  const user = (await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).json().user
  for (let round = 0; round < 2; round++) {
    // each takes the other's place in the cache, found by the shared tag, compared whole
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(variant) })).json().user, user)
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).json().user, user)
  }
  const other = (await login(app, 'someone-else')).access.split('.')
  const otherBody = [...other.slice(0, 3), other[3], segments[4]].join('.')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(otherBody) })).statusCode, 401, "another token's body under the cached tag")
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(variant) })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).statusCode, 401, 'revoked by its jti, whichever string logged out')
})

t.test('only sealed tokens are accepted: one signed with the right key but not encrypted is a 401', async (t) => {
  const { app, clock } = await buildJwtApp(t, { encryptionKeys: KEYS })
  const signed = forge(claimsAt(clock.now(), { sk: { userId: 'alice' } }))
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(signed) })).statusCode, 401)
  const { app: plain } = await buildJwtApp(t)
  t.equal((await plain.inject({ method: 'GET', url: '/me', headers: bearer(signed) })).statusCode, 200, 'the same token where encryption is off')
})

t.test('a header other than the one the ring writes is a 401, however well sealed', async (t) => {
  const { app, clock } = await buildJwtApp(t, { encryptionKeys: KEYS })
  const inner = forge(claimsAt(clock.now(), { sk: { userId: 'alice' } }))
  const exp = payloadOf(inner).exp
  const own = { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 's1', exp }
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(sealWith(inner, own)) })).statusCode, 200, 'the exact header: served')
  const variants: Array<[string, Record<string, unknown>]> = [
    ['alg A256KW', { ...own, alg: 'A256KW' }],
    ['enc A128GCM', { ...own, enc: 'A128GCM' }],
    ['zip DEF', { ...own, zip: 'DEF' }],
    ['crit', { ...own, crit: ['exp'] }],
    ['jku', { ...own, jku: 'https://evil.test/keys' }],
    ['no cty', { alg: 'dir', enc: 'A256GCM', kid: 's1', exp, typ: 'JWT' }],
    ['no exp', { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid: 's1', x: 1 }],
    ['exp as text', { ...own, exp: String(exp) }],
    ['unknown kid', { ...own, kid: 's2' }],
    ['kid not a string', { ...own, kid: 1 }]
  ]
  for (const [name, header] of variants) {
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(sealWith(inner, header)) })).statusCode, 401, name)
  }
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(sealWith(inner, own, OLD_SEAL)) })).statusCode, 401, 'sealed with another secret')
  const notJson = sealWith(inner, own).replace(/^[^.]+/, Buffer.from('{"alg":').toString('base64url'))
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(notJson) })).statusCode, 401, 'a header that is no JSON')
  const array = sealWith(inner, own).replace(/^[^.]+/, Buffer.from('[1,2,3,4,5]').toString('base64url'))
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(array) })).statusCode, 401, 'a header that is no object')
  const nothing = sealWith(inner, own).replace(/^[^.]+/, Buffer.from('null').toString('base64url'))
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(nothing) })).statusCode, 401, 'a null header')
  const garbage = sealWith('not a token at all', own)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(garbage) })).statusCode, 401, 'a sealed text that is no signed token')
})

t.test('key rotation: the new first key seals, an older key still opens, a removed key opens nothing', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  async function app (encryptionKeys: EncryptionKey[]): Promise<import('fastify').FastifyInstance> {
    const instance = Fastify()
    t.teardown(() => instance.close())
    await instance.register(sessionkitJwt, { keys: [HS_KEY], store, now: clock.now, encryptionKeys })
    instance.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
    instance.post('/login', async (request) => {
      await request.session.regenerate()
      request.session.set('userId', 'alice')
      return {}
    })
    instance.post('/touch', async (request) => {
      request.session.set('n', 1)
      return {}
    })
    return instance
  }
  const before = await app([{ kid: 'old', secret: OLD_SEAL }])
  const old = tokenOf(await before.inject({ method: 'POST', url: '/login' })) as string
  t.equal(openWith(old, OLD_SEAL).header.kid, 'old')
  const during = await app([{ kid: 'new', secret: SEAL }, { kid: 'old', secret: OLD_SEAL }])
  t.same((await during.inject({ method: 'GET', url: '/me', headers: bearer(old) })).json(), { user: 'alice' })
  const reissued = tokenOf(await during.inject({ method: 'POST', url: '/touch', headers: bearer(old) })) as string
  t.equal(openWith(reissued, SEAL).header.kid, 'new', 'a changed session comes back under the first key')
  const after = await app([{ kid: 'new', secret: SEAL }])
  t.equal((await after.inject({ method: 'GET', url: '/me', headers: bearer(old) })).statusCode, 401)
  t.same((await after.inject({ method: 'GET', url: '/me', headers: bearer(reissued) })).json(), { user: 'alice' })
})

t.test('refresh, logout and a user-wide revocation work on sealed tokens as on signed ones', async (t) => {
  const { app } = await buildJwtApp(t, { encryptionKeys: KEYS })
  const { access, refresh } = await login(app)
  const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: { 'x-refresh-token': refresh } })
  t.equal(refreshed.statusCode, 200)
  const next = tokenOf(refreshed) as string
  t.equal(next.split('.').length, 5, 'the refreshed access token is sealed too')
  t.same((await app.inject({ method: 'GET', url: '/me', headers: bearer(next) })).json().user, 'alice')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).statusCode, 200, 'the first token works till the logout')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(next) })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(next) })).statusCode, 401, 'replayed after logout')
  const other = await login(app, 'bob')
  await app.inject({ method: 'POST', url: '/revoke-user', payload: { user: 'bob' } })
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(other.access) })).statusCode, 401, 'ended by the user-wide revocation')
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(access) })).statusCode, 401, 'so does the token the family started with')
})

t.test('the size budget counts the encryption: data that fits a signed cookie can be too large sealed', async (t) => {
  const routes = (app: import('fastify').FastifyInstance): void => {
    app.post('/fill/:size', async (request) => {
      request.session.set('notes', 'x'.repeat(Number((request.params as { size: string }).size)))
      return { ok: true }
    })
  }
  const { app: signed } = await buildJwtApp(t, { transport: 'cookie' }, routes)
  const { app: sealed } = await buildJwtApp(t, { transport: 'cookie', encryptionKeys: KEYS }, routes)
  const size = 2_400
  t.equal((await signed.inject({ method: 'POST', url: `/fill/${size}` })).statusCode, 200)
  const refused = await sealed.inject({ method: 'POST', url: `/fill/${size}` })
  t.equal(refused.statusCode, 500)
  t.equal(refused.json().code, 'FST_SESSIONKIT_TOKEN_TOO_LARGE')
  t.equal(refused.headers['set-cookie'], undefined, 'no Set-Cookie')
  // set() estimates the sealed size: growing data is refused there first, where the handler can
  // catch it, not only when the token is made
  const { app: estimating } = await buildJwtApp(t, { transport: 'cookie', encryptionKeys: KEYS }, (app) => {
    app.post('/grow/:size', async (request) => {
      try {
        request.session.set('notes', 'x'.repeat(Number((request.params as { size: string }).size)))
      } catch (err) {
        return { refusedAtSet: (err as { code?: string }).code }
      }
      return { refusedAtSet: false }
    })
  })
  let first: unknown = null
  for (let grow = 1_000; grow < 3_000 && first === null; grow += 10) {
    const response = await estimating.inject({ method: 'POST', url: `/grow/${grow}` })
    if (response.statusCode !== 200 || response.json().refusedAtSet !== false) first = `${response.statusCode} ${response.json().refusedAtSet ?? response.json().code}`
  }
  t.equal(first, '200 FST_SESSIONKIT_TOKEN_TOO_LARGE', 'the first refusal comes from set(), caught by the handler')
  const fits = await sealed.inject({ method: 'POST', url: '/fill/1500' })
  t.equal(fits.statusCode, 200)
  const cookie = cookieOf(fits) as string
  t.equal(cookie.split('.').length, 5)
  t.ok(Buffer.byteLength(String([fits.headers['set-cookie']].flat().find((line) => String(line).startsWith('sid=')))) <= 4096)
})

t.test('encryptionKeys are checked at registration', async (t) => {
  const cases: Array<[unknown, string]> = [
    [[], 'must list at least one key: { kid, secret }'],
    ['s1', 'must list at least one key: { kid, secret }'],
    [[null], 'key #0 must be an object: { kid, secret }'],
    [[{ kid: 'a b', secret: SEAL }], 'key #0 needs a kid of 1 to 64 letters, digits, ".", "_" or "-"'],
    [[{ kid: 's1', secret: SEAL }, { kid: 's1', secret: OLD_SEAL }], 'each kid may appear once'],
    [[{ kid: 's1' }], 'key "s1" needs a secret (a string or a Buffer)'],
    [[{ kid: 's1', secret: 'short' }], 'key "s1": the secret has 5 bytes; at least 32 random bytes are required'],
    [[{ kid: 's1', secret: SECRET }], 'key "s1": an encryption secret must not also be a signing secret'],
    [[{ kid: 's1', secret: SEAL }, { kid: 's2', secret: Buffer.from(SEAL) }], 'key "s2": secrets must be distinct']
  ]
  for (const [encryptionKeys, reason] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => {
      await app.register(sessionkitJwt, { keys: [HS_KEY], encryptionKeys } as unknown as JwtSessionOptions)
      await app.ready()
    }, {
      code: 'FST_SESSIONKIT_INVALID_OPTION',
      message: `Invalid option "encryptionKeys": ${reason}`
    }, reason)
  }
})

t.test('sessionConformance: sealed JWT over Bearer', async (t) => sessionConformance(t, bearerHarness({ encryptionKeys: KEYS })))
t.test('sessionConformance: sealed JWT over a cookie', async (t) => sessionConformance(t, cookieHarness({ encryptionKeys: KEYS })))
