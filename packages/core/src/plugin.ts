import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, onErrorHookHandler, onRequestHookHandler, onSendHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { SessionSummary } from './contract.js'
import { SESSION_ID } from './credential.js'
import { SessionEngine } from './engine.js'
import { errors } from './errors.js'
import { resolveOptions, type SessionkitOptions } from './options.js'
import type { ServerSession } from './session.js'
import type { Session, SessionStore } from './contract.js'

/**
 * The user-wide side of sessions, on `fastify.sessionkit`: list a user's sessions, revoke one, revoke
 * all (or all but the current one). Revoking also bumps the user's generation, which ends the user's
 * JWT sessions too when they share the store.
 */
export interface SessionAdmin {
  /** The store the sessions of this scope live in. */
  readonly store: SessionStore
  /** The live sessions of a user, oldest first. */
  listUserSessions (userId: string): Promise<SessionSummary[]>
  /** Ends one session of a user; `false` when the user has no such session. */
  revokeUserSession (userId: string, sessionId: string): Promise<boolean>
  /** Ends every session of a user, but `except` (a session id) if given; resolves how many ended. */
  revokeUserSessions (userId: string, options?: { except?: string | null }): Promise<number>
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The session of this request: the same contract whichever sessionkit mechanism serves the route.
     * `null` on routes registered with `config: { session: false }` and outside a session plugin's scope.
     */
    session: import('./contract.js').Session
  }
  interface FastifyInstance {
    /** The user-wide session operations of this scope. */
    sessionkit: SessionAdmin
  }
  interface FastifyContextConfig {
    /** `false` keeps sessions off this route: no hook runs, no store call, `request.session` is null. */
    session?: boolean
  }
}

async function sessionkitPlugin (fastify: FastifyInstance, options: SessionkitOptions): Promise<void> {
  if (fastify.hasRequestDecorator('session')) {
    throw new errors.FST_SESSIONKIT_ALREADY_REGISTERED('request.session is already decorated')
  }
  const resolved = resolveOptions(options)
  const engine = new SessionEngine(resolved, fastify.log)
  const { store } = resolved

  fastify.decorateRequest<Session | null>('session', null)
  fastify.decorate('sessionkit', createAdmin(store, engine.call))
  for (const transport of resolved.transports) transport.setup?.(fastify)

  async function loadSession (request: FastifyRequest): Promise<void> {
    request.session = await engine.load(request)
  }
  async function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const session = request.session as ServerSession | null
    if (session !== null) await engine.finish(request, reply, session)
    return payload
  }
  async function failSession (request: FastifyRequest): Promise<void> {
    const session = request.session as ServerSession | null
    if (session !== null) session.failed = true
  }

  // hooks go on the routes that use sessions, chosen once here: a route with
  // `config: { session: false }` runs none of them
  fastify.addHook('onRoute', function addSessionHooks (route: RouteOptions) {
    if (route.config?.session === false) return
    route.onRequest = append(route.onRequest, loadSession as onRequestHookHandler)
    route.onSend = append(route.onSend, saveSession as onSendHookHandler)
    route.onError = append(route.onError, failSession as onErrorHookHandler)
  })

  if (resolved.ownsStore) {
    fastify.addHook('onClose', function closeMemoryStore () {
      (store as { close?: () => void }).close?.()
    })
  }
}

function append<T> (existing: T | T[] | undefined, hook: T): T[] {
  if (existing === undefined) return [hook]
  return Array.isArray(existing) ? [...existing, hook] : [existing, hook]
}

type Guard = <T>(operation: () => Promise<T>) => Promise<T>

/** Every call is bounded and coded like the engine's own: a failing store is a 503, not a hang. */
function createAdmin (store: SessionStore, guard: Guard): SessionAdmin {
  return {
    store,
    async listUserSessions (userId) {
      const list = await guard(() => store.listUserSessions(userId))
      return list.sort((a, b) => a.createdAt - b.createdAt)
    },
    async revokeUserSession (userId, sessionId) {
      if (!SESSION_ID.test(sessionId)) return false
      const list = await guard(() => store.listUserSessions(userId))
      if (!list.some((summary) => summary.id === sessionId)) return false
      await guard(() => store.destroy(sessionId))
      return true
    },
    async revokeUserSessions (userId, { except = null } = {}) {
      await guard(() => store.bumpUserGeneration(userId))
      return guard(() => store.destroyUserSessions(userId, except ?? undefined))
    }
  }
}

/**
 * The server-side session engine as a Fastify plugin: give it transports, a secret and a store, and
 * every route in its scope has `request.session`. Mechanism packages (`@sessionkit/cookie`,
 * `/header`, `/query`) register it for you; register it directly to compose several transports.
 */
export const sessionkit = fp(sessionkitPlugin, { fastify: '5.x', name: '@sessionkit/core' })
export default sessionkit
