import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { sessionkitQuery, queryTransport, type QuerySessionOptions } from '@sessionkit/query'
import type { Transport } from '@sessionkit/core'

test('registered with typed options; reply.sessionUrl is typed', () => {
  const app = Fastify()
  expect(app.register).type.toBeCallableWith(sessionkitQuery, { secret: 'x'.repeat(32), parameter: 'token' })
  expect<QuerySessionOptions>().type.toBeAssignableFrom({ secret: 'x'.repeat(32), parameter: process.env.SESSION_PARAMETER })
  expect<QuerySessionOptions>().type.not.toBeAssignableFrom({ secret: 'x'.repeat(32), parameter: 42 })
  expect(queryTransport()).type.toBe<Transport>()
  app.get('/', async (_request, reply) => {
    expect(reply.sessionUrl('/next')).type.toBe<string>()
    expect(reply.sessionUrl).type.not.toBeCallableWith(new URL('https://x.test'))
    return null
  })
})
