import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { stringifySetCookie } from 'cookie'
import { CREDENTIAL_LENGTH, errors as coreErrors, type Transport } from '@sessionkit/core'
import { errors } from './errors.js'
import { csrfGuard, SAFE_METHODS, type CsrfOptions } from './csrf.js'

/** Where and how the session cookie is set. */
export interface CookieAttributes {
  /** @default '/' */
  path?: string | undefined
  /** Sent only when configured: without it the cookie stays on this exact host. @default undefined */
  domain?: string | undefined
  /**
   * `'auto'`: `Secure` when the request came over HTTPS (`request.protocol`, which honours
   * Fastify's `trustProxy`). `true` always, `false` never (local development only).
   * @default 'auto'
   */
  secure?: boolean | 'auto' | undefined
  /** @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | undefined
  /** CHIPS: a cookie partitioned by top-level site. Requires `secure` and `sameSite: 'none'`. @default false */
  partitioned?: boolean | undefined
  /**
   * The cookie's lifetime in milliseconds. Unset: a browser-session cookie. The server-side idle
   * and absolute timeouts apply either way.
   * @default undefined
   */
  maxAge?: number | undefined
}

/** Options of the cookie transport. */
export interface CookieTransportOptions {
  /** The cookie name. Generic on purpose: it says nothing about the framework. @default 'sid' */
  cookieName?: string | undefined
  /**
   * Prefix the name with `__Host-`: the browser then only accepts it with `Secure`, `Path=/` and no
   * `Domain`, so no subdomain can plant or overwrite it. Forces `secure: true`.
   * @default false
   */
  hostPrefix?: boolean | undefined
  /** Cookie attributes. */
  cookie?: CookieAttributes | undefined
  /** The CSRF guard on unsafe methods. `false` turns it off (for APIs with their own protection). */
  csrf?: CsrfOptions | false | undefined
}

const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Values that cookie serialisation leaves as they are (what encodeURIComponent does not encode). */
const VERBATIM = /^[A-Za-z0-9._~!*'()-]*$/
/** Browsers drop a cookie whose name, value and attributes exceed this. */
export const MAX_COOKIE_BYTES = 4096

/**
 * Adds a Set-Cookie line to the reply (Fastify appends Set-Cookie rather than replacing it), made by
 * `@fastify/cookie`'s serialiser. Written directly rather than through `reply.setCookie()`: sessions
 * are saved in the route's last onSend hook, after @fastify/cookie (when registered) has flushed its
 * own, and the transport needs no plugin registered at all.
 */
function appendSetCookie (reply: FastifyReply, line: string): void {
  reply.header('set-cookie', line)
}

/** The credential in an HttpOnly cookie. Invalid credentials start a new anonymous session. */
export function cookieTransport (options: CookieTransportOptions = {}): Transport {
  const { cookieName = 'sid', hostPrefix = false, cookie = {}, csrf = {} } = options
  if (typeof cookieName !== 'string' || !NAME.test(cookieName)) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookieName', 'must be a cookie name token (letters, digits, !#$%&\'*+-.^_`|~)')
  }
  const { path = '/', domain, sameSite = 'lax', partitioned = false, maxAge } = cookie
  const secure = hostPrefix ? true : cookie.secure ?? 'auto'
  if (typeof path !== 'string' || !path.startsWith('/') || /[;\s]/.test(path)) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.path', 'must start with "/" and contain no ";" or whitespace')
  }
  if (domain !== undefined && (typeof domain !== 'string' || !/^\.?[A-Za-z0-9.-]+$/.test(domain))) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.domain', 'must be a host name')
  }
  if (secure !== true && secure !== false && secure !== 'auto') {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.secure', 'must be true, false or "auto"')
  }
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.sameSite', 'must be "lax", "strict" or "none"')
  }
  if (sameSite === 'none' && secure !== true) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.sameSite', '"none" requires secure: true')
  }
  if (partitioned !== false && (partitioned !== true || secure !== true || sameSite !== 'none')) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.partitioned', 'must be a boolean, and true requires secure: true and sameSite: "none"')
  }
  if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge <= 0)) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('cookie.maxAge', 'must be a positive integer (milliseconds)')
  }
  if (hostPrefix && (domain !== undefined || path !== '/')) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('hostPrefix', 'a __Host- cookie must have path "/" and no domain')
  }
  const guard = csrf === false ? null : csrfGuard(csrf)
  const name = hostPrefix ? '__Host-' + cookieName : cookieName
  const attributes = {
    path,
    domain,
    httpOnly: true,
    sameSite,
    partitioned: partitioned || undefined,
    maxAge: maxAge === undefined ? undefined : Math.floor(maxAge / 1000)
  }
  /** What `@fastify/cookie`'s `serializeCookie` does, with the library it uses. */
  const serialize = (name: string, value: string, options: Record<string, unknown>): string =>
    stringifySetCookie({ name, value, ...options } as Parameters<typeof stringifySetCookie>[0])
  /** What follows the value in a Set-Cookie line, without and with `Secure`: the same on every line. */
  const tails = [false, true].map((flag) => serialize(name, 'v', { ...attributes, secure: flag }).slice(name.length + 2))

  const secureFor = (request: FastifyRequest): boolean => secure === 'auto' ? request.protocol === 'https' : secure
  function options$ (request: FastifyRequest): Record<string, unknown> {
    return { ...attributes, secure: secureFor(request) }
  }
  /** The Set-Cookie line for `credential`, built from the tail serialised once at setup. */
  function line (request: FastifyRequest, credential: string): string {
    // a value the serialiser would encode is left to it (credentials and tokens never are)
    if (!VERBATIM.test(credential)) return serialize(name, credential, options$(request))
    return name + '=' + credential + (tails[secureFor(request) ? 1 : 0] as string)
  }

  return {
    name: 'cookie',
    onInvalid: 'anonymous',
    // a Max-Age of its own is counted by the browser from the last Set-Cookie: sent again with activity
    refreshOnActivity: maxAge !== undefined,
    setup (fastify: FastifyInstance) {
      const longest = serialize(name, 'x'.repeat(CREDENTIAL_LENGTH), { ...attributes, secure: true, expires: new Date(Date.UTC(9999, 11, 31)) })
      // the longest Set-Cookie this transport can send, refused before any is sent
      if (Buffer.byteLength(longest) > MAX_COOKIE_BYTES) throw new errors.FST_SESSIONKIT_COOKIE_TOO_LARGE(Buffer.byteLength(longest))
      // the guard goes on the routes of unsafe methods only, chosen at registration
      if (guard !== null) {
        fastify.addHook('onRoute', function addCsrfGuard (route) {
          if (route.config?.session === false) return
          const methods = Array.isArray(route.method) ? route.method : [route.method]
          if (methods.every((method) => SAFE_METHODS.has(method))) return
          // first of all, before the session is even loaded
          route.onRequest = [guard, ...[route.onRequest].flat()].filter((hook) => hook !== undefined)
        })
      }
    },
    read (request: FastifyRequest) {
      return readCookie(request.headers.cookie, name)
    },
    measure (request: FastifyRequest, credential: string) {
      return Buffer.byteLength(line(request, credential))
    },
    write (request: FastifyRequest, reply: FastifyReply, credential: string, _expiresAt: number, keepFor?: number) {
      // a remembered session: kept by the browser until the session's own end, across restarts
      if (keepFor !== undefined) {
        appendSetCookie(reply, serialize(name, credential, { ...options$(request), maxAge: Math.ceil(keepFor / 1000) }))
      } else {
        appendSetCookie(reply, line(request, credential))
      }
    },
    clear (request: FastifyRequest, reply: FastifyReply) {
      // the same name, path and domain, so that the browser replaces the cookie it holds
      appendSetCookie(reply, serialize(name, '', { ...options$(request), maxAge: 0, expires: new Date(0) }))
    }
  }
}

/**
 * The value of cookie `name` in a Cookie header. Two cookies of that name (a subdomain planting
 * one, say) are refused rather than resolved by guessing.
 */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let found: string | undefined
  let start = 0
  // the first "=" at or after `start`, -1 when none is left. Searched again only once `start` has
  // passed it, so that the header is scanned once: a search from every pair would scan a header
  // of 16,000 ";" 16,000 times over (a millisecond of CPU per request)
  let eq = header.indexOf('=')
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    if (eq !== -1 && eq < start) eq = header.indexOf('=', start)
    // no "=" left: no pair left
    if (eq === -1) break
    if (eq < end && header.slice(start, eq).trim() === name) {
      if (found !== undefined) throw new coreErrors.FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL()
      found = header.slice(eq + 1, end).trim()
    }
    start = end + 1
  }
  return found
}
