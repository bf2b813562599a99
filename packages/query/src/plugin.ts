import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sessionkit, type ServerSessionOptions } from '@sessionkit/core'
import { queryTransport, type QueryTransportOptions } from './query-transport.js'

/** Options of `@sessionkit/query`: core's engine options plus the parameter's. */
export interface QuerySessionOptions extends ServerSessionOptions, QueryTransportOptions {}

async function querySessions (fastify: FastifyInstance, options: QuerySessionOptions): Promise<void> {
  const { parameter, header, ...engine } = options
  await fastify.register(sessionkit, {
    // a URL credential leaks more easily than any other: short-lived by default
    idleTimeout: 5 * 60_000,
    absoluteTimeout: 60 * 60_000,
    ...engine,
    transports: [queryTransport({ parameter, header })]
  })
}

/**
 * URL-query sessions: `request.session` with the credential in `?sid=`, for clients that can use
 * neither cookies nor headers. Short idle timeout by default; see the README for when not to use it.
 *
 * @example
 * await app.register(sessionkitQuery, { secret: process.env.SESSION_SECRET })
 */
export const sessionkitQuery = fp(querySessions, { fastify: '5.x', name: '@sessionkit/query' })
export default sessionkitQuery
