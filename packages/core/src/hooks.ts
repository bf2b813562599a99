import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, onErrorHookHandler, onRequestHookHandler, onSendHookHandler } from 'fastify'
import { errors } from './errors.js'
import type { SessionState } from './session-state.js'

/** What a mechanism does at the two ends of a request. */
export interface SessionLifecycle<S extends SessionState> {
  /** The session of the request, or a coded error (400, 401, 503). */
  load (request: FastifyRequest): Promise<S>
  /** Saves, issues or clears at the end of the request. */
  finish (request: FastifyRequest, reply: FastifyReply, session: S): Promise<void>
}

function list<T> (existing: T | T[] | undefined): T[] {
  if (existing === undefined) return []
  return Array.isArray(existing) ? existing : [existing]
}

/**
 * Claims `request.session` for this scope (a second session plugin in it is
 * `FST_SESSIONKIT_ALREADY_REGISTERED`), and puts the session hooks on every route registered after this in
 * the scope, chosen once, at registration: a route with `config: { session: false }` gets none, so
 * it costs nothing. A request that fails marks its session, and a failed request saves nothing.
 */
export function installSessionHooks<S extends SessionState> (fastify: FastifyInstance, lifecycle: SessionLifecycle<S>): void {
  if (fastify.hasRequestDecorator('session')) {
    throw new errors.FST_SESSIONKIT_ALREADY_REGISTERED('request.session is already decorated')
  }
  fastify.decorateRequest<SessionState | null>('session', null)

  async function loadSession (request: FastifyRequest): Promise<void> {
    request.session = await lifecycle.load(request)
  }
  async function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const session = request.session as S | null
    if (session !== null) await lifecycle.finish(request, reply, session)
    return payload
  }
  async function failSession (request: FastifyRequest): Promise<void> {
    const session = request.session as S | null
    if (session !== null) session.failed = true
  }

  fastify.addHook('onRoute', function addSessionHooks (route: RouteOptions) {
    if (route.config?.session === false) return
    // loaded before the route's own onRequest hooks (csrfProtection, auth checks read the session);
    // saved after its onSend hooks
    route.onRequest = [loadSession as onRequestHookHandler, ...list(route.onRequest)]
    route.onSend = [...list(route.onSend), saveSession as onSendHookHandler]
    route.onError = [...list(route.onError), failSession as onErrorHookHandler]
  })
}
