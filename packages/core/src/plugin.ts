import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { SessionSummary } from './contract.js'
import { SESSION_ID } from './credential.js'
import { SessionEngine } from './engine.js'
import { resolveOptions, type SessionkitOptions } from './options.js'
import { installSessionHooks } from './hooks.js'
import type { StoreGuard } from './store-guard.js'
import type { SessionStore } from './contract.js'

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
    // not declared `readonly`: `@fastify/secure-session`'s declaration, which `@fastify/flash` brings
    // in, has it without, and merged declarations must agree (TS2687)
    /**
     * The session of this request: the same contract whichever sessionkit mechanism serves the route.
     * `null` on routes registered with `config: { session: false }` and outside a session plugin's scope.
     * Set by the session hooks alone (read-only); on a route declared before the plugin was loaded,
     * reading it throws `FST_SESSIONKIT_ROUTE_WITHOUT_SESSION`.
     */
    session: import('./contract.js').Session
  }
  interface FastifyInstance {
    /** The user-wide session operations of this scope. */
    sessionkit: SessionAdmin
  }
  interface FastifyContextConfig {
    /** `false` keeps sessions off this route: no hook runs, no store call, `request.session` is null. */
    session?: boolean | undefined
  }
}

async function sessionkitPlugin (fastify: FastifyInstance, options: SessionkitOptions): Promise<void> {
  const resolved = resolveOptions(options)
  const engine = new SessionEngine(resolved, fastify.log)
  const { store } = resolved

  installSessionHooks(fastify, engine)
  fastify.decorate('sessionkit', createAdmin(store, engine.call))
  for (const transport of resolved.transports) transport.setup?.(fastify)

  if (resolved.ownsStore) {
    fastify.addHook('onClose', function closeMemoryStore () {
      (store as { close?: () => void }).close?.()
    })
  }
}

/** Every call is bounded and coded like the engine's own: a failing store is a 503, not a hang. */
function createAdmin (store: SessionStore, guard: StoreGuard): SessionAdmin {
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
      const destroy = async (): Promise<number> => await guard(() => store.destroyUserSessions(userId, except ?? undefined))
      // deleted before the bump and again after it: a regenerate(keep) carrying the user reads the
      // generation before its claim and after writing its new session, so whatever the interleaving,
      // the first deletion, the bump or the second deletion catches it
      const before = await destroy()
      await guard(() => store.bumpUserGeneration(userId))
      return before + await destroy()
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
