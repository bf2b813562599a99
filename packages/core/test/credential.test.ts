import t from 'tap'
import { KeyRing, isWellFormedCredential, CREDENTIAL_LENGTH } from '@sessionkit/core'
import { generateToken, sessionIdOf } from '../src/credential.js'
import { SECRET, OLD_SECRET } from './fixtures/transport.js'

t.test('100,000 generated tokens are distinct and carry 256 bits', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 100_000; i++) seen.add(generateToken())
  t.equal(seen.size, 100_000)
  const sample = generateToken()
  t.equal(Buffer.from(sample, 'base64url').length, 32)
  // drawn from a pool that is wiped behind the draw: no token is the wipe's zeros, bits are balanced
  let ones = 0
  for (const token of seen) {
    const bytes = Buffer.from(token, 'base64url')
    for (const byte of bytes) for (let bit = byte; bit !== 0; bit >>= 1) ones += bit & 1
  }
  const share = ones / (seen.size * 256)
  t.ok(share > 0.499 && share < 0.501, `${(share * 100).toFixed(3)} % of the bits are set`)
})

t.test('signatures are HMAC-SHA256 (RFC 2104) for keys of any length and tokens of any shape', async (t) => {
  const { createHmac, randomBytes } = await import('node:crypto')
  for (const length of [32, 63, 64, 65, 100, 200]) {
    const key = randomBytes(length)
    const ring = new KeyRing(key)
    for (const token of [generateToken(), generateToken(), 'short', 'é'.repeat(43), 'A'.repeat(44)]) {
      const expected = createHmac('sha256', key).update(token).digest('base64url')
      t.equal(ring.sign(token), `${token}.${expected}`, `${length}-byte key, token ${token.slice(0, 8)}...`)
    }
  }
})

t.test('issue(): a new token and its HMAC-SHA256 credential under the first key', async (t) => {
  const { createHmac } = await import('node:crypto')
  const ring = new KeyRing([SECRET, OLD_SECRET])
  const issued = Array.from({ length: 300 }, () => ring.issue())
  t.equal(new Set(issued.map(({ token }) => token)).size, 300, 'every token new')
  const wrong = issued.filter(({ token, credential }) =>
    Buffer.from(token, 'base64url').length !== 32 ||
    credential !== `${token}.${createHmac('sha256', SECRET).update(token).digest('base64url')}` ||
    !isWellFormedCredential(credential) ||
    ring.verify(credential)?.token !== token)
  t.same(wrong, [], '256-bit tokens, credentials signed with the first key, well-formed, verified')
})

t.test('the session id is the SHA-256 of the token, base64url', async (t) => {
  t.equal(sessionIdOf('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
})

t.test('credentials are signed by the first key and verified by any', async (t) => {
  const current = new KeyRing([SECRET, OLD_SECRET])
  const old = new KeyRing(OLD_SECRET)
  const token = generateToken()
  const fresh = current.sign(token)
  t.equal(fresh.length, CREDENTIAL_LENGTH)
  t.ok(isWellFormedCredential(fresh))
  t.same(current.verify(fresh), { token, stale: false })
  t.same(current.verify(old.sign(token)), { token, stale: true }, 'an older key verifies and asks for re-issue')
  t.equal(new KeyRing(SECRET).verify(old.sign(token)), null, 'a retired key fails')
  t.equal(current.verify(fresh.slice(0, -1) + (fresh.endsWith('A') ? 'B' : 'A')), null, 'a tampered signature fails')
  t.not(sessionIdOf(token), token)
  t.match(sessionIdOf(token), /^[A-Za-z0-9_-]{43}$/)
})

t.test('only one shape of credential is well-formed', async (t) => {
  const good = new KeyRing(SECRET).sign(generateToken())
  for (const bad of ['', good + 'A', good.slice(1), good.replace('.', '-'), good.replace(/^./, '*'), 'a'.repeat(1000), good.replace(/.$/, '\n')]) {
    t.equal(isWellFormedCredential(bad), false, JSON.stringify(bad.slice(0, 20)))
  }
})
