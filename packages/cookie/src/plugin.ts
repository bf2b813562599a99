import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fastifyCookie from '@fastify/cookie'
import { sessionkit, type ServerSessionOptions } from '@sessionkit/core'
import { cookieTransport, type CookieTransportOptions } from './cookie-transport.js'

/** Options of `@sessionkit/cookie`: core's engine options plus the cookie's. */
export interface CookieSessionOptions extends ServerSessionOptions, CookieTransportOptions {}

async function cookieSessions (fastify: FastifyInstance, options: CookieSessionOptions): Promise<void> {
  const { cookieName, hostPrefix, cookie, csrf, ...engine } = options
  const transport = cookieTransport({ cookieName, hostPrefix, cookie, csrf })
  // registered here only to write cookies: the transport reads its one cookie itself, so no hook
  // parses every Cookie header (request.cookies stays unset unless you register @fastify/cookie)
  if (!fastify.hasReplyDecorator('setCookie')) await fastify.register(fastifyCookie, { hook: false })
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
