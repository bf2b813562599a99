import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { errors } from './errors.js'

/** 32 random bytes (256 bits) from node:crypto, as 43 base64url characters. */
const RANDOM_BYTES = 32
const PART = /^[A-Za-z0-9_-]{43}$/
/** The only shape a credential can have: `<43 base64url>.<43 base64url>`, 87 characters. */
export const CREDENTIAL_LENGTH = 87
const CREDENTIAL = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/
/** The shape of a session id (the store key): a base64url SHA-256. */
export const SESSION_ID = PART

/** A secret as accepted in options: at least 32 bytes. */
export type Secret = string | Buffer

/** Checks the shape of a credential, cheaply and before anything else looks at it. */
export function isWellFormedCredential (value: string): boolean {
  return value.length === CREDENTIAL_LENGTH && CREDENTIAL.test(value)
}

/** Derives the store key from a credential's random part: a leaked store or log holds nothing usable. */
export function sessionIdOf (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** A fresh 256-bit token from node:crypto. */
export function generateToken (): string {
  return randomBytes(RANDOM_BYTES).toString('base64url')
}

/** The outcome of checking a credential against the ring. */
export interface VerifiedCredential {
  /** The random part, from which the session id is derived. */
  token: string
  /** True when a key other than the current one signed it: re-issue it under the current key. */
  stale: boolean
}

/**
 * Signs credentials with the first secret and verifies them with any: add a new secret at the front to
 * rotate, drop an old one from the end to retire it (its credentials then fail).
 */
export class KeyRing {
  readonly #keys: Buffer[]

  constructor (secrets: Secret | readonly Secret[], option = 'secret') {
    const list = Array.isArray(secrets) ? secrets : [secrets]
    if (list.length === 0) {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION(option, 'at least one secret of 32 bytes or more is required')
    }
    this.#keys = list.map((secret, index) => {
      if (typeof secret !== 'string' && !Buffer.isBuffer(secret)) {
        throw new errors.FST_SESSIONKIT_INVALID_OPTION(option, `secret #${index} must be a string or a Buffer`)
      }
      const key = Buffer.from(secret)
      if (key.length < 32) {
        throw new errors.FST_SESSIONKIT_INVALID_OPTION(option, `secret #${index} has ${key.length} bytes; at least 32 are required`)
      }
      return key
    })
    const distinct = new Set(this.#keys.map((key) => key.toString('hex')))
    if (distinct.size !== this.#keys.length) {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION(option, 'secrets must be distinct')
    }
  }

  /** `<token>.<signature>` under the current key. */
  sign (token: string): string {
    return token + '.' + this.#mac(this.#keys[0] as Buffer, token)
  }

  /** The token inside a well-formed credential if one of the keys signed it; `null` otherwise. */
  verify (credential: string): VerifiedCredential | null {
    const token = credential.slice(0, 43)
    const signature = Buffer.from(credential.slice(44))
    for (let index = 0; index < this.#keys.length; index++) {
      const expected = Buffer.from(this.#mac(this.#keys[index] as Buffer, token))
      if (timingSafeEqual(expected, signature)) {
        return { token, stale: index !== 0 }
      }
    }
    return null
  }

  #mac (key: Buffer, token: string): string {
    return createHmac('sha256', key).update(token).digest('base64url')
  }
}
