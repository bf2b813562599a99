import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { sessionkitHeader, headerTransport, type HeaderSessionOptions } from '@sessionkit/header'
import type { Session, Transport } from '@sessionkit/core'

test('registered with typed options', () => {
  const app = Fastify()
  expect(app.register).type.toBeCallableWith(sessionkitHeader, { secret: 'x'.repeat(32), header: 'x-api-session', idleTimeout: 60_000 })
  expect<HeaderSessionOptions>().type.toBeAssignableFrom({ secret: 'x'.repeat(32), header: process.env.SESSION_HEADER, exposeHeader: undefined })
  expect<HeaderSessionOptions>().type.not.toBeAssignableFrom({ secret: 'x'.repeat(32), exposeHeader: 'yes' })
  expect(headerTransport()).type.toBe<Transport>()
  app.get('/', async (request) => {
    expect(request.session).type.toBe<Session>()
    return null
  })
})
