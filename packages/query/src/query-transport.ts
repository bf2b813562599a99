import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RESERVED_HEADERS, credentialHeaderWriter, errors as coreErrors, credentialWillChange, sessionCredential, type Transport } from '@sessionkit/core'
import { errors } from './errors.js'

/** Options of the query transport. */
export interface QueryTransportOptions {
  /** The query parameter that carries the credential. @default 'sid' */
  parameter?: string | undefined
  /** The response header that hands out a new or rotated credential (empty on logout). @default 'x-session-id' */
  header?: string | undefined
}

const NAME = /^[A-Za-z0-9_-]+$/

/** An origin that no path of an app can name: what `isSameOriginPath` resolves paths against. */
const PROBE = 'http://sessionkit.invalid'

/**
 * Whether a browser takes `path` to the page's own origin. Checked as browsers read it (the WHATWG
 * URL parser), not by its first characters: they drop tabs and newlines anywhere and read `\` as
 * `/`, so `/\t/evil.test` and `/\\evil.test` lead to another host as `//evil.test` does.
 */
function isSameOriginPath (path: string): boolean {
  return path.startsWith('/') && URL.parse(path, PROBE)?.origin === PROBE
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * A same-origin URL for `path` that carries the session credential (routes of the query
     * mechanism only). A new session has no credential until it is saved: with data in it this
     * throws `FST_SESSIONKIT_UNSAVED_SESSION` (`await request.session.save()` first); an empty one
     * gives `path` as it is.
     */
    sessionUrl (path: string): string
  }
}

/** The query string of a URL, without the `?`. */
function queryOf (url: string): string | null {
  const mark = url.indexOf('?')
  return mark === -1 ? null : url.slice(mark + 1)
}

/**
 * The credential in the URL query, for clients that can use neither cookies nor headers. Every
 * response of its scope carries `Referrer-Policy: no-referrer` and `Cache-Control: no-store, private`,
 * its log lines carry `[redacted]` in place of the credential, and a redirect to another origin
 * never carries it.
 */
export function queryTransport (options: QueryTransportOptions = {}): Transport {
  const { parameter = 'sid', header = 'x-session-id' } = options
  if (typeof parameter !== 'string' || !NAME.test(parameter)) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('parameter', 'must be letters, digits, "_" or "-"')
  }
  if (typeof header !== 'string' || !NAME.test(header) || RESERVED_HEADERS.has(header.toLowerCase())) {
    throw new coreErrors.FST_SESSIONKIT_INVALID_OPTION('header', `must be letters, digits, "_" or "-", none of ${[...RESERVED_HEADERS].join(', ')}`)
  }
  const lower = parameter.toLowerCase()
  // added to Access-Control-Expose-Headers beside what the app lists there, never in its place
  const send = credentialHeaderWriter(header.toLowerCase(), true)
  // the parameter in any case and with any bracket suffix, as its name=value pair: to the next "&"
  // in a request's URL (where the read takes a "#" as part of the value), and to a fragment too in
  // a Location header
  const name = `(^|[?&])(${parameter.replace(/-/g, '\\-')}(?:\\[[^&=]*\\]|%5B[^&=]*%5D)?)=`
  const pairs = new RegExp(name + '[^&]*', 'gi')
  const carries = new RegExp(name + '[^&#]*', 'i')

  /** Whether a decoded name is the parameter's, in any case or with a bracket suffix. */
  function isParameterName (key: string): boolean {
    const name = key.toLowerCase()
    return name === lower || name.startsWith(lower + '[')
  }

  /** Refused rather than guessed: the parameter repeated, in another case, or as an array or object. */
  function claim (found: string | undefined, key: string, value: string): string | undefined {
    if (!isParameterName(key)) return found
    if (key !== parameter || found !== undefined) throw new coreErrors.FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL()
    return value
  }

  /** The parameter in a query string that needs decoding. */
  function readDecoded (query: string): string | undefined {
    let found: string | undefined
    for (const [key, value] of new URLSearchParams(query)) found = claim(found, key, value)
    return found
  }

  /** The same for a query string without "%" or "+", which URLSearchParams would only split. */
  function readPlain (query: string): string | undefined {
    let found: string | undefined
    // as URLSearchParams does, one leading "?" is not part of the first name
    let start = query.startsWith('?') ? 1 : 0
    // the first "=" at or after `start` (-1: none left), searched again only once passed: the
    // query is scanned once however many pairs it holds, as in the cookie transport's readCookie
    let eq = query.indexOf('=', start)
    while (start < query.length) {
      let end = query.indexOf('&', start)
      if (end === -1) end = query.length
      if (end > start) {
        if (eq !== -1 && eq < start) eq = query.indexOf('=', start)
        found = eq === -1 || eq > end
          ? claim(found, query.slice(start, end), '')
          : claim(found, query.slice(start, eq), query.slice(eq + 1, end))
      }
      start = end + 1
    }
    return found
  }

  /** Whether a name in a query as sent is the parameter's once decoded as the read decodes it. */
  function isParameter (raw: string): boolean {
    return isParameterName(raw.includes('%') ? new URLSearchParams(raw).keys().next().value as string : raw)
  }

  /**
   * The URL with the credential replaced by `[redacted]`: what logs may see. A query with a "%"
   * is redacted pair by pair, each name decoded first: `?%73id=` is read as `sid`, so it is
   * redacted as `sid`.
   */
  function redact (url: string): string {
    const mark = url.indexOf('?')
    if (mark === -1 || !url.includes('%', mark)) return url.replace(pairs, '$1$2=[redacted]')
    return url.slice(0, mark + 1) + url.slice(mark + 1).split('&').map((pair) => {
      const eq = pair.indexOf('=')
      return eq !== -1 && isParameter(pair.slice(0, eq)) ? pair.slice(0, eq) + '=[redacted]' : pair
    }).join('&')
  }

  /**
   * `path` without the parameter, however its name is written (as the read finds it: in any case,
   * with a bracket suffix, `%`-encoded, after the one leading `?` the read skips). A link made from
   * the URL of the request (`request.url`) then carries one credential, the current one, not the one
   * it came with beside it (which the read would refuse as two).
   */
  function withoutParameter (path: string): string {
    const mark = path.indexOf('?')
    if (mark === -1) return path
    const hash = path.indexOf('#', mark)
    const end = hash === -1 ? path.length : hash
    const query = path.slice(mark + 1, end)
    const kept = (query.startsWith('?') ? query.slice(1) : query).split('&').filter((pair) => {
      const eq = pair.indexOf('=')
      return !isParameter(eq === -1 ? pair : pair.slice(0, eq))
    })
    return path.slice(0, mark) + (kept.length === 0 ? '' : '?' + kept.join('&')) + path.slice(end)
  }

  /**
   * The routes already declared at the plugin's level (under its prefix; all of them at the root), as
   * Fastify prints them (`/path (GET, HEAD)`): declared before the plugin was loaded, they keep the
   * child logger factory of their time, which logs the URL as it came.
   */
  function routesUnder (fastify: FastifyInstance): string[] {
    const { prefix } = fastify
    // (an empty router prints "(empty tree)", which names no route)
    return fastify.printRoutes({ commonPrefix: false }).split('\n')
      .map((line) => line.replace(/^[\s│├└─]+/u, ''))
      .filter((line) => /^\S.* \([A-Z]+(, [A-Z]+)*\)$/.test(line) && (prefix === '' || line.startsWith(prefix + '/') || line.startsWith(prefix + ' ')))
  }

  /**
   * Requests that no route matches are answered by Fastify's not-found handler, in a context made
   * with the instance (its log lines through the child logger factory of that time) and with the
   * raw URL in its message and answer. Where the plugin's scope is a not-found level of its own (the
   * root, or a scope with a prefix of its own: a scope without one shares its parent's), that
   * handler is made again as Fastify makes its default one, now, with the URL redacted before it
   * runs. A not-found handler the app set before the plugin at that level cannot be made again:
   * with a logger, registration fails rather than log the credential; without one, it stays.
   */
  function redactNotFound (fastify: FastifyInstance, logging: boolean): void {
    const redactUrl = function (request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
      request.raw.url = redact(request.raw.url as string)
      done()
    }
    try {
      // no handler: Fastify's default one, as Fastify installs it for every instance
      ;(fastify.setNotFoundHandler as unknown as (options: object) => void)({ preHandler: redactUrl })
    } catch {
      if (logging) throw new errors.FST_SESSIONKIT_UNREDACTED_NOT_FOUND(fastify.prefix === '' ? '/' : fastify.prefix)
    }
  }

  return {
    name: 'query',
    onInvalid: 'reject',
    setup (fastify: FastifyInstance) {
      fastify.decorateReply('sessionUrl', function sessionUrl (this: FastifyReply, path: string): string {
        if (typeof path !== 'string' || !isSameOriginPath(path)) throw new errors.FST_SESSIONKIT_FOREIGN_URL()
        const { session } = this.request
        const credential = sessionCredential(session)
        if (credential === null) {
          // a new session that holds something has no credential until it is saved: a link without
          // one would lose it, so the mistake is a coded error rather than a link that silently fails
          if (session?.isNew === true && Object.keys(session.data()).length > 0) throw new errors.FST_SESSIONKIT_UNSAVED_SESSION()
          return withoutParameter(path)
        }
        // a change of user not saved yet moves the session to a new credential at the save: this one dies
        if (credentialWillChange(session)) throw new errors.FST_SESSIONKIT_UNSAVED_SESSION()
        const clean = withoutParameter(path)
        const hash = clean.indexOf('#')
        const base = hash === -1 ? clean : clean.slice(0, hash)
        const fragment = hash === -1 ? '' : clean.slice(hash)
        return `${base}${base.includes('?') ? '&' : '?'}${parameter}=${credential}${fragment}`
      })
      // callback style: a hook on every response of the scope costs no promise
      fastify.addHook('onSend', function protectQueryCredential (request, reply, payload, done) {
        reply.header('referrer-policy', 'no-referrer')
        reply.header('cache-control', 'no-store, private')
        const location = reply.getHeader('location')
        // a name with a "%" may decode to the parameter's
        if (typeof location === 'string' && (carries.test(location) || location.includes('%'))) {
          const own = new URL(`${request.protocol}://${request.host}`)
          const target = URL.parse(location, own.href)
          // a redirect to another origin never carries the credential (one that is no URL goes nowhere)
          if (target !== null && target.origin !== own.origin) {
            for (const key of [...target.searchParams.keys()]) {
              if (key.toLowerCase().startsWith(lower)) target.searchParams.delete(key)
            }
            reply.header('location', target.toString())
          }
        }
        done(null, payload)
      })
      // Fastify logs req.url with every request; a child logger whose req serializer redacts it.
      // A logger whose children are itself (Fastify's with `logger: false`) takes no serializers and
      // logs nothing: a factory there would only cost every request of the scope a call.
      const logging = fastify.log.child({}) !== fastify.log
      // at the root or under a prefix of its own (an instance of Fastify inherits from its parent; the
      // root from no instance), the plugin answers for every request of its level: in a scope without
      // one, for the routes of the scope alone
      if (fastify.prefix !== (Object.getPrototypeOf(fastify) as { prefix?: string }).prefix) {
        const early = routesUnder(fastify)
        if (logging && early.length > 0) throw new errors.FST_SESSIONKIT_UNREDACTED_ROUTES(early.join(', '))
        redactNotFound(fastify, logging)
      }
      if (!logging) return
      // a factory the app set before is wrapped; one set after would undo the redaction, which
      // every route of the scope is checked for as it is added
      const previous = fastify.childLoggerFactory
      const redactingChildLogger: typeof previous = function (logger, bindings, opts, rawReq) {
        return previous.call(this, logger, bindings, {
          ...opts,
          serializers: {
            ...opts.serializers,
            req: (req: FastifyRequest) => ({
              method: req.method,
              url: redact(req.url),
              host: req.host,
              remoteAddress: req.ip,
              remotePort: req.socket.remotePort
            })
          }
        }, rawReq)
      }
      fastify.setChildLoggerFactory(redactingChildLogger)
      fastify.addHook('onRoute', function checkRedaction (this: FastifyInstance, route) {
        if (this.childLoggerFactory !== redactingChildLogger) throw new errors.FST_SESSIONKIT_UNREDACTED_LOGS(route.url)
      })
    },
    read (request: FastifyRequest) {
      const query = queryOf(request.url)
      if (query === null) return undefined
      // without "%" or "+" nothing needs decoding: the pairs are read as they are
      return query.includes('%') || query.includes('+') ? readDecoded(query) : readPlain(query)
    },
    write (_request: FastifyRequest, reply: FastifyReply, credential: string) {
      send(reply, credential)
    },
    clear (_request: FastifyRequest, reply: FastifyReply) {
      send(reply, '')
    }
  }
}
