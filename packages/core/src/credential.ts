import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto'
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
  return hash('sha256', token, 'base64url')
}

/** Tokens drawn from node:crypto at once: one call to the random source per 128 tokens. */
const POOL_TOKENS = 128
let pool = Buffer.alloc(0)
let drawn = 0

/** A fresh 256-bit token from node:crypto. Its bytes are wiped from the pool once drawn. */
export function generateToken (): string {
  if (drawn >= pool.length) {
    pool = randomBytes(RANDOM_BYTES * POOL_TOKENS)
    drawn = 0
  }
  const token = pool.toString('base64url', drawn, drawn + RANDOM_BYTES)
  pool.fill(0, drawn, drawn + RANDOM_BYTES)
  drawn += RANDOM_BYTES
  return token
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
  /** Per key, the HMAC's inner and outer blocks with room for the message (see `#mac`). */
  readonly #blocks: Array<{ inner: Buffer, outer: Buffer }>

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
    this.#blocks = this.#keys.map(hmacBlocks)
  }

  /** `<token>.<signature>` under the current key. */
  sign (token: string): string {
    return token + '.' + this.#mac(0, token)
  }

  /** A new token (`generateToken`) and its credential under the current key. */
  issue (): { token: string, credential: string } {
    const token = generateToken()
    // made here, so of the one shape the HMAC blocks are cut for: no need to check it
    return { token, credential: token + '.' + this.#hmac(0, token) }
  }

  /** The token inside a well-formed credential if one of the keys signed it; `null` otherwise. */
  verify (credential: string): VerifiedCredential | null {
    const token = credential.slice(0, 43)
    const signature = Buffer.from(credential.slice(44))
    for (let index = 0; index < this.#keys.length; index++) {
      const expected = Buffer.from(this.#mac(index, token))
      if (timingSafeEqual(expected, signature)) {
        return { token, stale: index !== 0 }
      }
    }
    return null
  }

  /**
   * HMAC-SHA256 of a token, base64url. For a token of the one shape sessionkit makes, it is RFC 2104
   * computed from the key's inner and outer blocks with two one-shot hashes, about twice as fast as a
   * `createHmac` object per call; anything else goes through `createHmac`.
   */
  #mac (index: number, token: string): string {
    return PART.test(token) ? this.#hmac(index, token) : createHmac('sha256', this.#keys[index] as Buffer).update(token).digest('base64url')
  }

  /** `#mac` for a token known to be 43 base64url characters. */
  #hmac (index: number, token: string): string {
    const { inner, outer } = this.#blocks[index] as { inner: Buffer, outer: Buffer }
    inner.write(token, BLOCK, 'latin1')
    outer.write(hash('sha256', inner, 'binary'), BLOCK, 'latin1')
    return hash('sha256', outer, 'base64url')
  }
}

/** SHA-256's block size in bytes. */
const BLOCK = 64

/** A key's HMAC blocks: (key XOR ipad) followed by room for a 43-character token, and (key XOR opad) by room for the inner digest. */
function hmacBlocks (secret: Buffer): { inner: Buffer, outer: Buffer } {
  const key = Buffer.alloc(BLOCK)
  // a key longer than a block is hashed first
  ;(secret.length > BLOCK ? hash('sha256', secret, 'buffer') : secret).copy(key)
  const inner = Buffer.alloc(BLOCK + 43)
  const outer = Buffer.alloc(BLOCK + 32)
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = (key[i] as number) ^ 0x36
    outer[i] = (key[i] as number) ^ 0x5c
  }
  return { inner, outer }
}
