import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors, exposeHeader, type Transport } from '@sessionkit/core'

/** Options of the Bearer transport. */
export interface BearerTransportOptions {
  /** The response header that hands out a new token (empty when the client must forget it). @default 'x-session-token' */
  responseHeader?: string
}

const WHITESPACE = /\s/

/** The token of an `Authorization: Bearer <token>` header (the scheme in any case), else `''`. */
function bearerToken (header: string): string {
  if (header.length < 8 || header.charCodeAt(6) !== 32) return ''
  if (!header.startsWith('Bearer') && header.slice(0, 6).toLowerCase() !== 'bearer') return ''
  const token = header.slice(7)
  return WHITESPACE.test(token) ? '' : token
}

/**
 * The token in `Authorization: Bearer <token>`; new tokens in `X-Session-Token`. Strict: one
 * scheme, one token, case-insensitive `Bearer`. Anything else in `Authorization` (`Basic x`,
 * `Bearer` alone, two tokens) is a credential that fails, never a 500.
 */
export function bearerTransport (options: BearerTransportOptions = {}): Transport {
  const { responseHeader = 'x-session-token' } = options
  if (typeof responseHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(responseHeader)) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('responseHeader', 'must be a header name of letters, digits and "-"')
  }
  const name = responseHeader.toLowerCase()
  function send (reply: FastifyReply, value: string): void {
    reply.header(name, value)
    exposeHeader(reply, name)
  }
  return {
    name: 'bearer',
    onInvalid: 'reject',
    read (request: FastifyRequest) {
      const header = request.headers.authorization
      if (header === undefined) return undefined
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
