import type { FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import type { ResolvedJwtOptions } from './options.js'
import { VerifiedCache } from '@sessionkit/core'

/** The claims of a sessionkit access token. Times are NumericDates (seconds), as RFC 7519 has them. */
export interface AccessClaims {
  jti: string
  iat: number
  exp: number
  nbf?: number | undefined
  /** The user, when the session has one. */
  sub?: string | undefined
  /** The user's revocation generation when the token was issued. */
  gen?: number | undefined
  /** The refresh family (a session id in the store) this token belongs to. */
  fam?: string | undefined
  /**
   * A session without a user, re-issued since its first token: that token's `jti`. Ending any
   * token of the session puts it on the denylist, which ends every token the session was issued as.
   */
  lin?: string | undefined
  /** The session is remembered (`session.remember()`). */
  rem?: true | undefined
  /** The session data, under one namespaced claim. */
  sk: Record<string, unknown>
  iss?: string | undefined
  aud?: string | undefined
}

/** Signs with the first key, verifies with the key the token's `kid` names. */
export interface TokenCodec {
  sign (claims: AccessClaims): string
  /** The claims of a token that is well-formed, correctly signed and current; `null` otherwise. */
  verify (token: string, now: number): AccessClaims | null
}

interface Namespace {
  sign (payload: object): string
  verify (token: string): Record<string, unknown>
}

/** What a token looks like before anything else looks at it: three base64url segments, nothing else. */
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** Header parameters that would make us fetch or trust a key the token brings: refused outright. */
const FOREIGN_KEYS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256']
const JTI = /^[A-Za-z0-9_-]{43}$/
export const TOKEN_TYPE = 'at+jwt'

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/**
 * Registers `@fastify/jwt` once per key, each in a namespace of a child context of its own (so that
 * nothing of it leaks into the app's scope), and wraps them in one codec.
 */
export async function createCodec (fastify: FastifyInstance, options: ResolvedJwtOptions): Promise<TokenCodec> {
  const byKid = new Map<string, { algorithm: string, jwt: Namespace }>()
  let signer: Namespace | undefined
  await fastify.register(async function sessionkitJwtKeys (child) {
    for (const [index, key] of options.keys.entries()) {
      const namespace = `sessionkitKey${index}`
      await child.register(fastifyJwt, {
        namespace,
        decoratorName: 'sessionkitJwtClaims',
        secret: key.hmac ? key.verifyKey : { public: key.verifyKey, ...(key.signKey === undefined ? {} : { private: key.signKey }) },
        sign: { algorithm: key.algorithm, kid: key.kid, header: { typ: TOKEN_TYPE } },
        verify: {
          algorithms: [key.algorithm],
          // expiry and activation are checked below, against the injected clock, on every request
          ignoreExpiration: true,
          ignoreNotBefore: true,
          requiredClaims: ['exp', 'iat', 'jti']
        }
      } as Parameters<typeof fastifyJwt>[1])
      const jwt = (child.jwt as unknown as Record<string, Namespace>)[namespace] as Namespace
      byKid.set(key.kid, { algorithm: key.algorithm, jwt })
      if (index === 0) signer = jwt
    }
  })
  const sign = signer as Namespace
  const { issuer, audience, clockTolerance, cache, encryption } = options
  /**
   * Tokens whose header, signature and claim shapes checked out, with their claims. Time and
   * revocation are still checked on every request: a remembered token is one that need not be
   * parsed and verified again.
   */
  const verified = cache === false ? null : new VerifiedCache<AccessClaims>(cache)

  function check (token: string): AccessClaims | null {
    if (!SHAPE.test(token)) return null
    let header: Record<string, unknown>
    try {
      header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'))
    } catch {
      return null
    }
    if (!isPlainObject(header) || header.typ !== TOKEN_TYPE || header.crit !== undefined) return null
    if (FOREIGN_KEYS.some((name) => header[name] !== undefined)) return null
    const entry = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined
    if (entry === undefined || header.alg !== entry.algorithm) return null
    let claims: Record<string, unknown>
    try {
      claims = entry.jwt.verify(token)
    } catch {
      return null
    }
    const { jti, iat, exp, nbf, sub, gen, fam, lin, rem, sk, iss, aud } = claims
    if (typeof jti !== 'string' || !JTI.test(jti) || typeof iat !== 'number' || typeof exp !== 'number') return null
    if (nbf !== undefined && typeof nbf !== 'number') return null
    if (issuer !== undefined && iss !== issuer) return null
    if (audience !== undefined && aud !== audience) return null
    if (!isPlainObject(sk)) return null
    if (sub !== undefined && (typeof sub !== 'string' || !Number.isSafeInteger(gen))) return null
    if (fam !== undefined && (typeof fam !== 'string' || !JTI.test(fam))) return null
    if (lin !== undefined && (typeof lin !== 'string' || !JTI.test(lin))) return null
    if (rem !== undefined && rem !== true) return null
    return Object.freeze(claims) as unknown as AccessClaims
  }

  return {
    sign (claims) {
      const signed = sign.sign(claims)
      return encryption === null ? signed : encryption.seal(signed, claims.exp)
    },
    verify (token, now) {
      let claims = verified?.get(token)
      if (claims === undefined) {
        // with encryption on, a token that is only signed is no token of ours
        const inner = encryption === null ? token : encryption.open(token)
        const checked = inner === null ? null : check(inner)
        if (checked === null) return null
        claims = checked
        verified?.set(token, claims)
      }
      const { iat, exp, nbf } = claims
      if (now >= exp * 1000 + clockTolerance) return null
      if (nbf !== undefined && now + clockTolerance < nbf * 1000) return null
      if (iat * 1000 > now + clockTolerance) return null
      return claims
    }
  }
}
