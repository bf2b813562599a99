import type { FastifyReply, FastifyRequest } from 'fastify'
import { CREDENTIAL_LENGTH, RESERVED_HEADERS, credentialHeaderWriter, errors, repeatsHeader, type Transport } from '@sessionkit/core'

/** Options of the header transport. */
export interface HeaderTransportOptions {
  /**
   * The request header that carries the credential, and the response header that hands out a new
   * or rotated one (empty on logout).
   * @default 'x-session-id'
   */
  header?: string | undefined
  /**
   * Add the header to `Access-Control-Expose-Headers`, so that browser code on another allowed
   * origin can read it.
   * @default true
   */
  exposeHeader?: boolean | undefined
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * The credential in a custom request header, handed out in the same response header. Anything but
 * one well-formed credential (a repeated header, which Node joins with a comma; whitespace; control
 * characters; non-ASCII; the wrong length) is a 401 before any store call.
 */
export function headerTransport (options: HeaderTransportOptions = {}): Transport {
  const { header = 'x-session-id', exposeHeader: expose = true } = options
  if (typeof header !== 'string' || !TOKEN.test(header) || RESERVED_HEADERS.has(header.toLowerCase())) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('header', `must be a header name token, none of ${[...RESERVED_HEADERS].join(', ')}`)
  }
  if (typeof expose !== 'boolean') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('exposeHeader', 'must be a boolean')
  }
  const name = header.toLowerCase()
  const send = credentialHeaderWriter(name, expose)
  return {
    name: 'header',
    onInvalid: 'reject',
    read (request: FastifyRequest) {
      const value = request.headers[name] as string | undefined
      // sent empty: no credential yet, and this client wants one in this header
      if (value === '') return undefined
      // the header sent twice reaches here joined with ", ", which no credential holds: refused as
      // two credentials (400), not as a bad one (401, which would tell the client to forget it)
      if (value !== undefined && value.length !== CREDENTIAL_LENGTH && value.includes(',') && repeatsHeader(request.raw.rawHeaders, name)) {
        throw new errors.FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL()
      }
      return value
    },
    claims (request: FastifyRequest) {
      return request.headers[name] !== undefined
    },
    write (_request: FastifyRequest, reply: FastifyReply, credential: string) {
      send(reply, credential)
    },
    clear (_request: FastifyRequest, reply: FastifyReply) {
      send(reply, '')
    }
  }
}
