import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors as coreErrors } from '@sessionkit/core'
import { errors } from './errors.js'

/** The CSRF guard of cookie sessions. */
export interface CsrfOptions {
  /**
   * Origins besides the app's own that may send state-changing requests, as
   * `scheme://host[:port]`.
   * @default []
   */
  allowedOrigins?: readonly string[] | undefined
}

/** Methods that must not change state, so need no guard. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])
const ORIGIN = /^https?:\/\/[^/?#\s]+$/

/**
 * Refuses unsafe methods that a browser says come from another site: `Sec-Fetch-Site: cross-site`,
 * or an `Origin` that is neither the app's own nor allowed. `Sec-Fetch-Site: same-origin` passes
 * without the Origin check: the browser compared the origins itself, with the scheme and host it
 * used, which an app behind a TLS-ending proxy without `trustProxy` does not see. Requests with
 * neither header (curl, server-to-server) pass: they carry no ambient browser cookie.
 */
export function csrfGuard (options: CsrfOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const { allowedOrigins = [] } = options
  if (!Array.isArray(allowedOrigins) || !allowedOrigins.every((origin) => typeof origin === 'string' && ORIGIN.test(origin))) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('csrf.allowedOrigins', 'must list origins as "scheme://host[:port]"')
  }
  const allowed = new Set(allowedOrigins.map((origin) => origin.toLowerCase()))
  return async function refuseCrossSite (request: FastifyRequest): Promise<void> {
    // a route serving GET and POST gets the guard: the method decides per request
    if (SAFE_METHODS.has(request.method)) return
    const site = request.headers['sec-fetch-site']
    if (site === 'same-origin') return
    if (site === 'cross-site') throw new errors.FST_SESSIONKIT_CROSS_SITE_REQUEST()
    const origin = request.headers.origin
    if (origin === undefined) return
    const own = `${request.protocol}://${request.host}`.toLowerCase()
    const lower = origin.toLowerCase()
    if (lower !== own && !allowed.has(lower)) throw new errors.FST_SESSIONKIT_CROSS_SITE_REQUEST()
  }
}
