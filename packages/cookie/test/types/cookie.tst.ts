import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { sessionkitCookie, cookieTransport, type CookieSessionOptions } from '@sessionkit/cookie'
import type { Session, Transport } from '@sessionkit/core'

test('registered with typed options', () => {
  const app = Fastify()
  expect(app.register).type.toBeCallableWith(sessionkitCookie, { secret: 'x'.repeat(32), cookie: { sameSite: 'strict', maxAge: 60_000 }, csrf: false })
  expect<CookieSessionOptions>().type.toBeAssignableFrom({ secret: 'x'.repeat(32), cookie: { domain: process.env.COOKIE_DOMAIN, maxAge: undefined }, cookieName: process.env.COOKIE_NAME })
  expect<CookieSessionOptions>().type.not.toBeAssignableFrom({ secret: 'x'.repeat(32), cookie: { sameSite: 'loose' } })
  expect<CookieSessionOptions>().type.not.toBeAssignableFrom({ cookieName: 'sid' })
  expect<CookieSessionOptions>().type.toBeAssignableFrom({ secret: 'x'.repeat(32), remember: { idleTimeout: 86_400_000, absoluteTimeout: 604_800_000 } })
  expect<CookieSessionOptions>().type.not.toBeAssignableFrom({ secret: 'x'.repeat(32), remember: { idleTimeout: '1d' } })
  expect(cookieTransport()).type.toBe<Transport>()
  app.get('/', async (request) => {
    expect(request.session).type.toBe<Session>()
    return null
  })
})
