import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Config } from './config.js'
import { registerSessions } from './sessions.js'
import { checkPassword } from './users.js'
import { demoPage, demoPageHeaders } from './page.js'

declare module '@sessionkit/core' {
  interface SessionData {
    userId: string
    visits: number
  }
}

export interface AppOptions {
  /** The clock, for tests. */
  now?: () => number
  /** Fastify's logger option; tests pass a stream. */
  logger?: boolean | object
}

const loginSchema = {
  body: {
    type: 'object',
    required: ['username', 'password'],
    additionalProperties: false,
    properties: { username: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 }, remember: { type: 'boolean' } }
  }
}
const prefSchema = {
  params: { type: 'object', properties: { key: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$' } } },
  body: { type: 'object', required: ['value'], properties: { value: {} } }
}

function requireUser (request: FastifyRequest, reply: FastifyReply): string | null {
  const user = request.session.get('userId')
  if (user === undefined) {
    reply.code(401).send({ error: 'not logged in' })
    return null
  }
  return user
}

/** The example app: the same HTTP interface under every mechanism. Builds, does not listen. */
export async function buildApp (config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? { level: config.logLevel } })
  if (config.ephemeralSecret) app.log.warn('SESSION_SECRET is not set: using a random one for this run; sessions end on restart')

  // the session plugin first: a route declared before it would keep a logger that does not redact
  // the query credential (the query plugin refuses to start then), and would have no session
  await sessionRoutes(app)

  app.get('/health', { config: { session: false } }, async () => ({ status: 'ok' }))
  // the browser client, as the built module the demo page imports
  const client = dirname(fileURLToPath(import.meta.resolve('@sessionkit/web-storage/browser')))
  app.get<{ Params: { file: string } }>('/sessionkit/web-storage/:file', { config: { session: false } }, async (request, reply) => {
    const { file } = request.params
    if (!/^[a-z-]+\.js$/.test(file)) return reply.code(404).send({ error: 'not found' })
    const source = await readFile(join(client, file)).catch(() => null)
    if (source === null) return reply.code(404).send({ error: 'not found' })
    return reply.type('text/javascript; charset=utf-8').send(source)
  })
  return app

  /**
   * The session plugin and the routes that use it, at the root rather than in a scope of their
   * own: where a mechanism takes over how requests that no route matches are answered (the query
   * one redacts their URL before Fastify logs or answers it), that is the root's not-found handler.
   */
  async function sessionRoutes (scope: FastifyInstance): Promise<void> {
    await registerSessions(scope, config, options.now)

    const page = demoPage(config.mechanisms, config.jwtTransport)
    const pageHeaders = demoPageHeaders(page)
    scope.get('/', async (_request, reply) => reply.headers(pageHeaders).type('text/html; charset=utf-8').send(page))

    scope.post<{ Body: { username: string, password: string, remember?: boolean } }>('/login', { schema: loginSchema }, async (request, reply) => {
      const { username, password, remember = false } = request.body
      if (!checkPassword(username, password)) return reply.code(401).send({ error: 'wrong username or password' })
      // a new credential on login: nothing from before (a fixated id, an anonymous cart) carries over
      await request.session.regenerate()
      request.session.set('userId', username)
      // "remember me": the longer lifetime, and a cookie that outlives the browser session
      request.session.remember(remember)
      return { user: username, remembered: request.session.remembered }
    })

    scope.get('/me', async (request, reply) => {
      const user = requireUser(request, reply)
      if (user === null) return reply
      return { user, visits: request.session.get('visits') ?? 0 }
    })

    scope.post('/visits', async (request) => {
      const visits = (request.session.get('visits') ?? 0) + 1
      request.session.set('visits', visits)
      return { visits }
    })

    scope.put<{ Params: { key: string }, Body: { value: unknown } }>('/prefs/:key', { schema: prefSchema }, async (request) => {
      request.session.set(`pref:${request.params.key}`, request.body.value)
      return { prefs: prefsOf(request) }
    })

    scope.get('/prefs', async (request) => ({ prefs: prefsOf(request) }))

    scope.post('/logout', async (request, reply) => {
      await request.session.destroy()
      return reply.code(204).send()
    })

    scope.post('/logout-all', async (request, reply) => {
      const user = requireUser(request, reply)
      if (user === null) return reply
      await request.session.destroy()
      await scope.sessionkit.revokeUserSessions(user)
      return reply.code(204).send()
    })

    scope.get('/sessions', async (request, reply) => {
      const user = requireUser(request, reply)
      if (user === null) return reply
      const list = await scope.sessionkit.listUserSessions(user)
      return list.map((summary) => ({ ...summary, current: summary.id === request.session.id }))
    })

    scope.delete<{ Params: { id: string } }>('/sessions/:id', async (request, reply) => {
      const user = requireUser(request, reply)
      if (user === null) return reply
      const revoked = await scope.sessionkit.revokeUserSession(user, request.params.id)
      return revoked ? reply.code(204).send() : reply.code(404).send({ error: 'no such session' })
    })
  }
}

function prefsOf (request: FastifyRequest): Record<string, unknown> {
  const prefs: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(request.session.data())) {
    if (key.startsWith('pref:')) prefs[key.slice(5)] = value
  }
  return prefs
}
