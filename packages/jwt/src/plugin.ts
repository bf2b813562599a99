import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { installSessionHooks, type SessionAdmin } from '@sessionkit/core'
import { csrfGuard } from '@sessionkit/cookie'
import { JwtEngine } from './engine.js'
import { refreshChannel, resolveJwtOptions, type JwtSessionOptions } from './options.js'
import { createCodec } from './tokens.js'

async function jwtSessions (fastify: FastifyInstance, options: JwtSessionOptions): Promise<void> {
  const resolved = resolveJwtOptions(options)
  const codec = await createCodec(fastify, resolved)
  // the refresh route's full path, as Fastify joins it (a prefix's trailing slash is dropped)
  const refresh = refreshChannel(options, resolved, fastify.prefix.replace(/\/+$/, ''))
  const engine = new JwtEngine(resolved, codec, fastify.log, refresh)
  const { store } = resolved

  installSessionHooks(fastify, engine)
  fastify.decorate('sessionkit', createTokenAdmin(engine))
  resolved.transport.setup?.(fastify)

  if (refresh !== null) {
    refresh.setup?.(fastify)
    // a refresh token in a cookie comes with every request the browser makes to the route, from any
    // site: the cookie transport's CSRF guard goes on it (the route has no session hooks)
    const csrf = resolved.transport.name === 'cookie' ? options.cookie?.csrf ?? {} : false
    fastify.post(resolved.refreshRoute as string, {
      config: { session: false },
      onRequest: csrf === false ? [] : [csrfGuard(csrf)]
    }, function refreshSession (request, reply) {
      return engine.refresh(request, reply)
    })
  }
  if (resolved.ownsStore) {
    fastify.addHook('onClose', function closeMemoryStore () {
      (store as { close?: () => void }).close?.()
    })
  }
}

/**
 * The user-wide operations over token sessions. A "session" here is a refresh family (one login);
 * revoking one also denylists its latest access token, and revoking all bumps the user's generation,
 * which ends every token of the user at once.
 */
function createTokenAdmin (engine: JwtEngine): SessionAdmin {
  const { store } = engine.options
  const guard = engine.call
  const revoke = (id: string): Promise<void> => engine.endFamily(id)
  return {
    store,
    async listUserSessions (userId) {
      const list = await guard(() => store.listUserSessions(userId))
      return list.sort((a, b) => a.createdAt - b.createdAt)
    },
    async revokeUserSession (userId, sessionId) {
      const list = await guard(() => store.listUserSessions(userId))
      if (!list.some((summary) => summary.id === sessionId)) return false
      await revoke(sessionId)
      return true
    },
    async revokeUserSessions (userId, { except = null } = {}) {
      const list = await guard(() => store.listUserSessions(userId))
      if (except === null) await guard(() => store.bumpUserGeneration(userId))
      let count = 0
      for (const { id } of list) {
        if (id === except) continue
        await revoke(id)
        count++
      }
      return count
    }
  }
}

/**
 * Token sessions: `request.session` in a JWT signed by `@fastify/jwt`, revocable (denylist, per-user
 * generation), refreshable (rotating refresh tokens with reuse detection) and size-checked.
 *
 * @example
 * await app.register(sessionkitJwt, { keys: [{ kid: '2026-11', algorithm: 'HS256', secret: process.env.JWT_SECRET }] })
 */
export const sessionkitJwt = fp(jwtSessions, { fastify: '5.x', name: '@sessionkit/jwt' })
export default sessionkitJwt
