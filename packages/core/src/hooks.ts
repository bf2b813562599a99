import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions, onErrorHookHandler, onRequestHookHandler, onSendHookHandler } from 'fastify'
import { errors } from './errors.js'
import type { SessionState } from './session-state.js'

/**
 * What a mechanism does at the two ends of a request. Both may answer synchronously when they wait
 * on nothing (a session read from an in-process store, a session with nothing to save): a request
 * then goes through its session hooks without a single promise.
 */
export interface SessionLifecycle<S extends SessionState> {
  /**
   * The session of the request, or a coded error (400, 401, 503), thrown or rejected. A refused
   * credential's 401 clears it on `reply`.
   */
  load (request: FastifyRequest, reply: FastifyReply): S | Promise<S>
  /** Saves, issues or clears at the end of the request. */
  finish (request: FastifyRequest, reply: FastifyReply, session: S): void | Promise<void>
}

/** Where the hooks keep a request's session, behind the `request.session` getter. */
const kSession = Symbol('sessionkit.session')
/** Marks, in a route's config, that the session hooks were put on it. */
const kHooked = Symbol('sessionkit.hooked')

type WithSession = FastifyRequest & { [kSession]: SessionState | null }

/**
 * `request.session` where the hooks left none. `null` where none is by design: a route with
 * `config: { session: false }`, the not-found handler, a route whose session is not loaded yet (an
 * app's `onRequest` hook ahead of the session's) or failed to load (its 401 or 503 on the way).
 * A coded error on a route the plugin never saw, where `null` would only fail later, as a
 * `TypeError` far from its cause.
 */
function noSession (request: FastifyRequest): null {
  if (request.is404) return null
  const { config, url } = request.routeOptions
  const marks = config as { session?: unknown, [kHooked]?: true }
  if (marks.session === false || marks[kHooked] === true) return null
  throw new errors.FST_SESSIONKIT_ROUTE_WITHOUT_SESSION(request.method, url)
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
  fastify.decorateRequest(kSession, null)
  // read-only: the hooks alone set a request's session
  fastify.decorateRequest<SessionState | null>('session', {
    getter (this: FastifyRequest): SessionState | null {
      return (this as WithSession)[kSession] ?? noSession(this)
    }
  })

  // callback-style hooks: a lifecycle that answers at once costs no promise
  function loadSession (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    let loading: S | Promise<S>
    try {
      loading = lifecycle.load(request, reply)
    } catch (err) {
      done(err as Error)
      return
    }
    if (loading instanceof Promise) {
      loading.then((session) => {
        ;(request as WithSession)[kSession] = session
        done()
      }, done)
      return
    }
    ;(request as WithSession)[kSession] = loading
    done()
  }
  function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void): void {
    const session = (request as WithSession)[kSession] as S | null
    let finishing: void | Promise<void>
    try {
      finishing = session === null ? undefined : lifecycle.finish(request, reply, session)
    } catch (err) {
      done(err as Error)
      return
    }
    if (finishing instanceof Promise) {
      finishing.then(() => done(null, payload), done)
      return
    }
    done(null, payload)
  }
  async function failSession (request: FastifyRequest): Promise<void> {
    const session = (request as WithSession)[kSession]
    if (session !== null) session.failed = true
  }

  fastify.addHook('onRoute', function addSessionHooks (route: RouteOptions) {
    if (route.config?.session === false) return
    // a new object: the app's config may be shared between routes
    route.config = { ...route.config, [kHooked]: true } as NonNullable<RouteOptions['config']>
    // loaded before the route's own onRequest hooks (csrfProtection, auth checks read the session);
    // saved after its onSend hooks
    route.onRequest = [loadSession as onRequestHookHandler, ...list(route.onRequest)]
    route.onSend = [...list(route.onSend), saveSession as onSendHookHandler]
    route.onError = [...list(route.onError), failSession as onErrorHookHandler]
  })
}
