import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sessionkit, type ServerSessionOptions } from '@sessionkit/core'
import { headerTransport, type HeaderTransportOptions } from './header-transport.js'

/** Options of `@sessionkit/header`: core's engine options plus the header's. */
export interface HeaderSessionOptions extends ServerSessionOptions, HeaderTransportOptions {}

async function headerSessions (fastify: FastifyInstance, options: HeaderSessionOptions): Promise<void> {
  const { header, exposeHeader, ...engine } = options
  await fastify.register(sessionkit, { ...engine, transports: [headerTransport({ header, exposeHeader })] })
}

/**
 * Header sessions: `request.session` with the credential in `X-Session-Id`, for APIs and mobile
 * apps that do not use cookies.
 *
 * @example
 * await app.register(sessionkitHeader, { secret: process.env.SESSION_SECRET })
 */
export const sessionkitHeader = fp(headerSessions, { fastify: '5.x', name: '@sessionkit/header' })
export default sessionkitHeader
