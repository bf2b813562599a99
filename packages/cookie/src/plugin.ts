import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sessionkit, type ServerSessionOptions } from '@sessionkit/core'
import { cookieTransport, type CookieTransportOptions } from './cookie-transport.js'

/** Options of `@sessionkit/cookie`: core's engine options plus the cookie's. */
export interface CookieSessionOptions extends ServerSessionOptions, CookieTransportOptions {}

async function cookieSessions (fastify: FastifyInstance, options: CookieSessionOptions): Promise<void> {
  const { cookieName, hostPrefix, cookie, csrf, ...engine } = options
  const transport = cookieTransport({ cookieName, hostPrefix, cookie, csrf })
  // no @fastify/cookie registered here: the transport reads its one cookie and writes its one
  // Set-Cookie line itself, so no hook runs on routes that never touch the session
  await fastify.register(sessionkit, { ...engine, transports: [transport] })
}

/**
 * Cookie sessions: `request.session` with the credential in an HttpOnly, SameSite cookie.
 *
 * @example
 * await app.register(sessionkitCookie, { secret: process.env.SESSION_SECRET })
 */
export const sessionkitCookie = fp(cookieSessions, { fastify: '5.x', name: '@sessionkit/cookie' })
export default sessionkitCookie
