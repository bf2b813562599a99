import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { sessionkitJwt, type EncryptionKey, type JwtSessionOptions, type JwtKey } from '@sessionkit/jwt'
import type { Session } from '@sessionkit/core'

test('typed options and keys', () => {
  const app = Fastify()
  expect(app.register).type.toBeCallableWith(sessionkitJwt, { keys: [{ kid: 'k1', algorithm: 'HS256', secret: 'x'.repeat(32) }], accessTokenTtl: '15m', transport: 'cookie' })
  expect<JwtSessionOptions>().type.toBeAssignableFrom({ keys: [], issuer: process.env.JWT_ISSUER, audience: process.env.JWT_AUDIENCE, refreshTokenTtl: undefined })
  expect<JwtKey>().type.toBeAssignableFrom({ kid: 'r1', algorithm: 'RS256' as const, publicKey: 'pem' })
  expect<JwtKey>().type.not.toBeAssignableFrom({ kid: 'k', algorithm: 'HS256' as const, publicKey: 'pem' })
  expect<JwtKey>().type.not.toBeAssignableFrom({ kid: 'k', algorithm: 'none' as const, secret: 'x' })
  expect<JwtSessionOptions>().type.not.toBeAssignableFrom({ keys: [], transport: 'query' })
  expect<JwtSessionOptions>().type.not.toBeAssignableFrom({ secret: 'x' })
  expect<JwtSessionOptions>().type.toBeAssignableFrom({ keys: [], bearer: { responseHeader: 'x-access-token', exposeHeader: false } })
  expect<JwtSessionOptions>().type.not.toBeAssignableFrom({ keys: [], bearer: { exposeHeader: 'yes' } })
  expect<JwtSessionOptions>().type.toBeAssignableFrom({ keys: [], refreshTokenTtl: '1d', remember: { refreshTokenTtl: '30d' } })
  expect<JwtSessionOptions>().type.not.toBeAssignableFrom({ keys: [], remember: { refreshTokenTtl: true } })
  expect<JwtSessionOptions>().type.toBeAssignableFrom({ keys: [], encryptionKeys: [{ kid: 's1', secret: 'x'.repeat(32) }, { kid: 's0', secret: Buffer.alloc(32) }] })
  expect<EncryptionKey>().type.not.toBeAssignableFrom({ kid: 's1' })
  expect<JwtSessionOptions>().type.not.toBeAssignableFrom({ keys: [], encryptionKeys: 'x'.repeat(32) })
  app.get('/', async (request) => {
    expect(request.session).type.toBe<Session>()
    return null
  })
})
