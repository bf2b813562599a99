import type { FastifyReply, FastifyRequest } from 'fastify'
import { RESERVED_HEADERS, credentialHeaderWriter, errors, repeatsHeader, type Transport } from '@sessionkit/core'
import { cookieTransport, type CookieTransportOptions } from '@sessionkit/cookie'

/** Options of the Bearer transport. */
export interface BearerTransportOptions {
  /** The response header that hands out a new token (empty when the client must forget it). @default 'x-session-token' */
  responseHeader?: string | undefined
  /**
   * Add the response header (and `X-Refresh-Token`) to `Access-Control-Expose-Headers`, so that
   * browser code on another allowed origin can read them.
   * @default true
   */
  exposeHeader?: boolean | undefined
}

/** The header that carries refresh tokens, both ways, with the Bearer transport. */
export const REFRESH_HEADER = 'x-refresh-token'

/**
 * What follows `Bearer ` (the scheme in any case) in an `Authorization` header, else `''`. Not
 * scanned for whitespace here: a token with any (two tokens, a stray space or tab) fails the shape
 * check every engine makes before anything else, and can never be in a cache of verified tokens.
 * Scanning 250 characters with `/\s/` on every request was a quarter of a cached JWT read's cost
 * over bare Fastify.
 */
function bearerToken (header: string): string {
  if (header.length < 8 || header.charCodeAt(6) !== 32) return ''
  if (!header.startsWith('Bearer') && header.slice(0, 6).toLowerCase() !== 'bearer') return ''
  return header.slice(7)
}

/**
 * The token in `Authorization: Bearer <token>`; new tokens in `X-Session-Token`. Strict: one
 * header, one scheme, one token, case-insensitive `Bearer`. Anything else in `Authorization`
 * (`Basic x`, `Bearer` alone, two tokens) is a credential that fails, never a 500; two
 * `Authorization` headers are a 400.
 */
export function bearerTransport (options: BearerTransportOptions = {}): Transport {
  const { responseHeader = 'x-session-token', exposeHeader: expose = true } = options
  if (typeof responseHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(responseHeader) || RESERVED_HEADERS.has(responseHeader.toLowerCase())) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('responseHeader', `must be a header name of letters, digits and "-", none of ${[...RESERVED_HEADERS].join(', ')}`)
  }
  if (typeof expose !== 'boolean') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('exposeHeader', 'must be a boolean')
  }
  const name = responseHeader.toLowerCase()
  if (name === REFRESH_HEADER) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('responseHeader', `must not be "${REFRESH_HEADER}", which carries refresh tokens`)
  }
  const send = credentialHeaderWriter(name, expose)
  return {
    name: 'bearer',
    onInvalid: 'reject',
    read (request: FastifyRequest) {
      const header = request.headers.authorization
      if (header === undefined) return undefined
      // two Authorization headers: refused, never the first taken on trust
      // (Node keeps the first of them in request.headers and drops the others)
      if (repeatsHeader(request.raw.rawHeaders, 'authorization')) throw new errors.FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL()
      return bearerToken(header)
    },
    write (_request: FastifyRequest, reply: FastifyReply, credential: string) {
      send(reply, credential)
    },
    clear (_request: FastifyRequest, reply: FastifyReply) {
      send(reply, '')
    }
  }
}

/**
 * Where refresh tokens travel. With Bearer, in `X-Refresh-Token` both ways: the client keeps them
 * as it keeps the access token. With the cookie transport, in an HttpOnly cookie of their own whose
 * path is the refresh route: page scripts never see them, and no other request carries them.
 */
export interface RefreshChannel {
  /** The refresh token a request carries; throws `FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL` for two. */
  read (request: FastifyRequest): string | undefined
  /**
   * `keepFor` (milliseconds): for a remembered session, how long the client keeps the token across
   * restarts (the family's remaining life); absent, a browser-session cookie.
   */
  write (request: FastifyRequest, reply: FastifyReply, token: string, keepFor?: number): void
  /** Tells the client to forget its refresh token (logout, a refused refresh). */
  clear (request: FastifyRequest, reply: FastifyReply): void
}

/** Refresh tokens in `X-Refresh-Token`; the client forgets them with the access token. */
export function headerRefresh (expose: boolean): RefreshChannel {
  const send = credentialHeaderWriter(REFRESH_HEADER, expose)
  return {
    read (request) {
      const value = request.headers[REFRESH_HEADER]
      return typeof value === 'string' ? value : undefined
    },
    write (_request, reply, token) {
      send(reply, token)
    },
    clear () {}
  }
}

/**
 * Refresh tokens in an HttpOnly cookie beside the session cookie: named after it with `-refresh`
 * (`__Secure-` instead of `__Host-`, which would force `Path=/`), with its attributes and the path
 * of the refresh route; kept by the browser for the rest of the family's life when the session is
 * remembered.
 */
export function cookieRefresh (options: CookieTransportOptions, path: string): RefreshChannel & Pick<Transport, 'setup'> {
  const { cookieName = 'sid', hostPrefix = false, cookie = {} } = options
  // a cookie transport always has its setup (the check of its longest Set-Cookie)
  const transport = cookieTransport({
    cookieName: (hostPrefix ? '__Secure-' : '') + cookieName + '-refresh',
    cookie: { ...cookie, path, ...(hostPrefix ? { secure: true } : {}) },
    // the refresh route gets the session cookie's guard (see the plugin)
    csrf: false
  }) as Required<Transport>
  return {
    setup: transport.setup,
    read: transport.read,
    clear: transport.clear,
    // the cookie's lifetime is the family's, not the access token's
    write: (request, reply, token, keepFor) => { transport.write(request, reply, token, 0, keepFor) }
  }
}
