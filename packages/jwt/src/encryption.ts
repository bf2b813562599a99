import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { errors } from '@sessionkit/core'
import { KID } from './keys.js'

/** One key of the encryption ring. The first encrypts; every one decrypts the tokens whose `kid` names it. */
export interface EncryptionKey {
  kid: string
  /** At least 32 random bytes; the AES-256-GCM key is derived from it (HKDF-SHA256). */
  secret: string | Buffer
}

/** What the protected header of every encrypted token holds, and nothing else. */
interface SealedHeader {
  alg: 'dir'
  enc: 'A256GCM'
  cty: 'JWT'
  kid: string
  /** The inner token's `exp`, readable by clients that schedule a refresh; covered by the tag. */
  exp: number
}

/**
 * Compact JWE with direct encryption: header, an empty encrypted key, a 96-bit IV, the ciphertext
 * and a 128-bit tag, nothing else.
 */
const SHAPE = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/
const HEADER_FIELDS = 5
const INFO = 'sessionkit jwt A256GCM'
const IV_BYTES = 12
/** IVs are drawn from node:crypto 128 at a time: each call to it costs a system call. */
const POOL_IVS = 128
let pool = Buffer.alloc(0)
let drawn = 0

/** A fresh random IV, never handed out twice. */
function freshIv (): Buffer {
  if (drawn >= pool.length) {
    pool = randomBytes(IV_BYTES * POOL_IVS)
    drawn = 0
  }
  drawn += IV_BYTES
  return pool.subarray(drawn - IV_BYTES, drawn)
}

function invalid (reason: string): never {
  throw new errors.FST_SESSIONKIT_INVALID_OPTION('encryptionKeys', reason)
}

/**
 * Access tokens sealed as nested JWTs (RFC 7519 §5.2, RFC 7516): the token `@fastify/jwt` signed,
 * encrypted with AES-256-GCM under a key chosen by `kid`, so that whoever holds a token can read
 * nothing of its session data. Opening checks the whole shape and the header before any decryption.
 */
export class EncryptionRing {
  readonly #keys: Map<string, Buffer>
  readonly #current: { kid: string, key: Buffer }

  constructor (keys: Map<string, Buffer>) {
    this.#keys = keys
    const [kid, key] = [...keys][0] as [string, Buffer]
    this.#current = { kid, key }
  }

  /** `inner` encrypted under the first key, its `exp` (seconds) in the protected header. */
  seal (inner: string, exp: number): string {
    const { kid, key } = this.#current
    const header: SealedHeader = { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid, exp }
    const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url')
    // a fresh random 96-bit IV per token: NIST SP 800-38D allows 2^32 of them per key
    const iv = freshIv()
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(encodedHeader, 'latin1'))
    const ciphertext = Buffer.concat([cipher.update(inner, 'utf8'), cipher.final()])
    return `${encodedHeader}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`
  }

  /** The inner token of a well-formed token sealed under one of the keys; `null` for anything else. */
  open (token: string): string | null {
    if (!SHAPE.test(token)) return null
    const [encodedHeader, , iv, ciphertext, tag] = token.split('.') as [string, string, string, string, string]
    let header: Record<string, unknown>
    try {
      header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'))
    } catch {
      return null
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return null
    // exactly the header this ring writes: no `zip`, no `crit`, no key of the token's own
    if (Object.keys(header).length !== HEADER_FIELDS || header.alg !== 'dir' || header.enc !== 'A256GCM' ||
      header.cty !== 'JWT' || typeof header.exp !== 'number' || typeof header.kid !== 'string') return null
    const key = this.#keys.get(header.kid)
    if (key === undefined) return null
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 })
      decipher.setAAD(Buffer.from(encodedHeader, 'latin1'))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }
}

/**
 * Checks the encryption ring at registration: distinct `kid`s, secrets of at least 32 bytes, none
 * of them a signing secret; `null` when there is none (tokens are signed only).
 */
export function resolveEncryptionKeys (value: unknown, signingSecrets: ReadonlyArray<string | Buffer>): EncryptionRing | null {
  if (value === undefined) return null
  if (!Array.isArray(value) || value.length === 0) invalid('must list at least one key: { kid, secret }')
  const signing = new Set(signingSecrets.map((secret) => Buffer.from(secret).toString('hex')))
  const keys = new Map<string, Buffer>()
  const secrets = new Set<string>()
  for (const [index, key] of (value as unknown[]).entries()) {
    if (key === null || typeof key !== 'object') invalid(`key #${index} must be an object: { kid, secret }`)
    const { kid, secret } = key as Record<string, unknown>
    if (typeof kid !== 'string' || !KID.test(kid)) invalid(`key #${index} needs a kid of 1 to 64 letters, digits, ".", "_" or "-"`)
    if (keys.has(kid)) invalid('each kid may appear once')
    if (typeof secret !== 'string' && !Buffer.isBuffer(secret)) invalid(`key "${kid}" needs a secret (a string or a Buffer)`)
    const bytes = Buffer.from(secret)
    if (bytes.length < 32) invalid(`key "${kid}": the secret has ${bytes.length} bytes; at least 32 random bytes are required`)
    const hex = bytes.toString('hex')
    if (signing.has(hex)) invalid(`key "${kid}": an encryption secret must not also be a signing secret`)
    if (secrets.has(hex)) invalid(`key "${kid}": secrets must be distinct`)
    secrets.add(hex)
    keys.set(kid, Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), INFO, 32)))
  }
  return new EncryptionRing(keys)
}
