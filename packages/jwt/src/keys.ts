import { createPrivateKey, createPublicKey } from 'node:crypto'
import { errors } from '@sessionkit/core'

export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512'
export type AsymmetricAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

/** One key of the ring. The first signs; every one verifies the tokens whose `kid` names it. */
export type JwtKey =
  | { kid: string, algorithm: HmacAlgorithm, secret: string | Buffer }
  | { kid: string, algorithm: AsymmetricAlgorithm, publicKey: string | Buffer, privateKey?: string | Buffer }

export interface ResolvedKey {
  readonly kid: string
  readonly algorithm: HmacAlgorithm | AsymmetricAlgorithm
  readonly hmac: boolean
  /** What signs (the secret or the private key); absent for verify-only keys. */
  readonly signKey: string | Buffer | undefined
  /** What verifies (the secret or the public key). */
  readonly verifyKey: string | Buffer
}

const HMAC = new Set(['HS256', 'HS384', 'HS512'])
const KEY_TYPES: Record<string, readonly string[]> = {
  RS: ['rsa'], PS: ['rsa', 'rsa-pss'], ES: ['ec'], Ed: ['ed25519', 'ed448']
}
/** What a `kid` may be, in either ring: 1 to 64 characters safe in a header and a log. */
export const KID = /^[A-Za-z0-9._-]{1,64}$/

function invalid (reason: string): never {
  throw new errors.FST_SESSIONKIT_INVALID_OPTION('keys', reason)
}

/**
 * Checks the key ring at registration: `none` and unknown algorithms refused, HMAC and asymmetric
 * keys never mixed, HMAC secrets of at least 32 bytes that are not PEM text, asymmetric keys that
 * parse and fit their algorithm, distinct `kid`s, and a first key that can sign.
 */
export function resolveKeys (keys: unknown): ResolvedKey[] {
  if (!Array.isArray(keys) || keys.length === 0) invalid('must list at least one key: { kid, algorithm, secret } or { kid, algorithm, publicKey, privateKey }')
  const resolved = keys.map((key: Record<string, unknown>, index): ResolvedKey => {
    if (key === null || typeof key !== 'object') invalid(`key #${index} must be an object`)
    const { kid, algorithm } = key
    if (typeof kid !== 'string' || !KID.test(kid)) invalid(`key #${index} needs a kid of 1 to 64 letters, digits, ".", "_" or "-"`)
    if (typeof algorithm !== 'string' || algorithm.toLowerCase() === 'none') invalid(`key "${kid}": the algorithm "none" is refused`)
    if (HMAC.has(algorithm)) {
      const secret = key.secret
      if (typeof secret !== 'string' && !Buffer.isBuffer(secret)) invalid(`key "${kid}": ${algorithm} needs a secret`)
      const bytes = Buffer.from(secret)
      if (bytes.length < 32) invalid(`key "${kid}": the secret has ${bytes.length} bytes; at least 32 random bytes are required`)
      if (bytes.includes('-----BEGIN')) invalid(`key "${kid}": a PEM key is not an HMAC secret`)
      return { kid, algorithm: algorithm as HmacAlgorithm, hmac: true, signKey: secret, verifyKey: secret }
    }
    const family = KEY_TYPES[algorithm.slice(0, 2)]
    if (family === undefined || !/^(?:(?:RS|PS|ES)(?:256|384|512)|EdDSA)$/.test(algorithm)) invalid(`key "${kid}": unknown algorithm "${algorithm}"`)
    const { publicKey, privateKey } = key as { publicKey?: unknown, privateKey?: unknown }
    let type: string | undefined
    try {
      type = createPublicKey(publicKey as string).asymmetricKeyType
      if (privateKey !== undefined && createPrivateKey(privateKey as string).asymmetricKeyType !== type) invalid(`key "${kid}": the private key does not match the public key`)
    } catch (err) {
      if ((err as { code?: string }).code === 'FST_SESSIONKIT_INVALID_OPTION') throw err
      invalid(`key "${kid}": the publicKey (and privateKey) must be PEM keys`)
    }
    if (!family.includes(type as string)) invalid(`key "${kid}": a ${type} key cannot sign ${algorithm}`)
    return { kid, algorithm: algorithm as AsymmetricAlgorithm, hmac: false, signKey: privateKey as string | Buffer | undefined, verifyKey: publicKey as string | Buffer }
  })
  if (new Set(resolved.map((key) => key.hmac)).size > 1) invalid('HMAC and asymmetric keys are never mixed in one ring')
  if (new Set(resolved.map((key) => key.kid)).size !== resolved.length) invalid('each kid may appear once')
  if ((resolved[0] as ResolvedKey).signKey === undefined) invalid('the first key signs: it needs its privateKey')
  return resolved
}
