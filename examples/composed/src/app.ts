import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { MemoryStore, type SessionStore } from '@sessionkit/core'
import { sessionkitCookie } from '@sessionkit/cookie'
import { sessionkitHeader } from '@sessionkit/header'
import { sessionkitJwt } from '@sessionkit/jwt'

declare module '@sessionkit/core' {
  interface SessionData {
    userId: string
  }
}

/** The one user model every mechanism shares (demo accounts; a real app checks password hashes). */
const USERS = new Map([['alice', 'alice-secret'], ['bob', 'bob-secret']])

export interface ComposedOptions {
  /** At least 32 bytes: signs cookie and header credentials, and (as an HMAC key) the JWTs. */
  secret: string
  /** One store for all three, so that a revocation in one reaches the others. */
  store?: SessionStore
  logger?: boolean
}

/**
 * The same four routes, written once against `request.session` and `fastify.sessionkit`; each
 * scope below serves them through its own mechanism.
 */
async function accountRoutes (scope: FastifyInstance): Promise<void> {
  scope.post<{ Body: { username: string, password: string } }>('/login', {
    schema: { body: { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string' } } } }
  }, async (request, reply) => {
    const { username, password } = request.body
    if (USERS.get(username) !== password) return reply.code(401).send({ error: 'wrong username or password' })
    await request.session.regenerate()
    request.session.set('userId', username)
    return { user: username }
  })
  scope.get('/me', async (request, reply) => {
    const user = request.session.get('userId')
    return user === undefined ? reply.code(401).send({ error: 'not logged in' }) : { user }
  })
  scope.post('/logout-all', async (request: FastifyRequest, reply: FastifyReply) => {
    const user = request.session.get('userId')
    if (user === undefined) return reply.code(401).send({ error: 'not logged in' })
    await request.session.destroy()
    // the store is shared: this ends the user's cookie, header and JWT sessions alike
    await scope.sessionkit.revokeUserSessions(user)
    return reply.code(204).send()
  })
  scope.get('/sessions', async (request, reply) => {
    const user = request.session.get('userId')
    if (user === undefined) return reply.code(401).send({ error: 'not logged in' })
    return scope.sessionkit.listUserSessions(user)
  })
}

/**
 * A browser app at `/` on cookies, a mobile API at `/api` on the header mechanism and a partner API
 * at `/partner` on JWT: three sibling scopes, each with its own `request.session`, one store.
 */
export async function buildComposedApp (options: ComposedOptions): Promise<FastifyInstance> {
  const store = options.store ?? new MemoryStore()
  const app = Fastify({ logger: options.logger ?? false })
  if (options.store === undefined) app.addHook('onClose', async () => (store as MemoryStore).close())
  const { secret } = options

  await app.register(async function browser (web) {
    await web.register(sessionkitCookie, { secret, store })
    await accountRoutes(web)
  })
  await app.register(async function mobile (api) {
    await api.register(sessionkitHeader, { secret, store })
    await accountRoutes(api)
  }, { prefix: '/api' })
  await app.register(async function partner (partners) {
    await partners.register(sessionkitJwt, { keys: [{ kid: 'composed', algorithm: 'HS256', secret }], store })
    await accountRoutes(partners)
  }, { prefix: '/partner' })
  return app
}
