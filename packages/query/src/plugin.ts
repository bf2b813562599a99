import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sessionkit, type ServerSessionOptions } from '@sessionkit/core'
import { queryTransport, type QueryTransportOptions } from './query-transport.js'

/** Options of `@sessionkit/query`: core's engine options plus the parameter's. */
export interface QuerySessionOptions extends ServerSessionOptions, QueryTransportOptions {}

async function querySessions (fastify: FastifyInstance, options: QuerySessionOptions): Promise<void> {
  const { parameter, header, ...engine } = options
  // a URL credential leaks more easily than any other: short-lived by default, and no longer-lived
  // when remembered unless `remember` says so
  const idleTimeout = engine.idleTimeout ?? 5 * 60_000
  const absoluteTimeout = engine.absoluteTimeout ?? 60 * 60_000
  await fastify.register(sessionkit, {
    ...engine,
    idleTimeout,
    absoluteTimeout,
    remember: engine.remember ?? { idleTimeout, absoluteTimeout },
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
