import t from 'tap'
import Fastify from 'fastify'
import { exposeHeader } from '@sessionkit/core'

t.test('exposeHeader adds a header name once, keeping what is there', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/:case', async (request, reply) => {
    const { case: which } = request.params as { case: string }
    if (which === 'listed') reply.header('access-control-expose-headers', 'x-request-id, X-Session-Id')
    if (which === 'other') reply.header('access-control-expose-headers', 'x-request-id')
    exposeHeader(reply, 'x-session-id')
    exposeHeader(reply, 'x-session-id')
    return {}
  })
  t.equal((await app.inject('/fresh')).headers['access-control-expose-headers'], 'x-session-id')
  t.equal((await app.inject('/other')).headers['access-control-expose-headers'], 'x-request-id, x-session-id')
  t.equal((await app.inject('/listed')).headers['access-control-expose-headers'], 'x-request-id, X-Session-Id')
})
