import { errors } from './errors.js'
import { OldestKeys } from './oldest-keys.js'

/**
 * How many characters, from the end, find a credential: the part V8 hashes for the lookup. The
 * end of a credential is its signature (or an encrypted token's tag), which differs from one
 * credential to the next. Hashing 22 characters rather than a JWT's 250 and more saves about
 * 2,000 instructions per cached read; for an 87-character server-side credential it is even.
 */
const KEY_LENGTH = 22

/**
 * What checking a credential yielded (its signature verified, its token parsed), remembered for
 * the next request that brings the very same string, so that a returning client costs no HMAC and
 * no parse. Bounded: when full, the oldest entry goes first. Found by the credential's last
 * characters, then compared whole: a credential is only ever given what its own string yielded,
 * never what another's did (nor one with the same hash: no hash decides anything here). Keep only
 * what does not change while the credential lives; liveness, expiry and revocation are for the
 * caller to check on every request.
 */
export class VerifiedCache<V> {
  readonly #entries = new Map<string, { credential: string, value: V }>()
  readonly #oldest = new OldestKeys(this.#entries)
  readonly #limit: number

  /** `limit`: how many credentials it holds, at least 1. */
  constructor (limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new errors.FST_SESSIONKIT_INVALID_OPTION('limit', 'must be a positive integer (entries)')
    this.#limit = limit
  }

  get size (): number {
    return this.#entries.size
  }

  /** What `credential` yielded, if it is remembered. */
  get (credential: string): V | undefined {
    const entry = this.#entries.get(credential.slice(-KEY_LENGTH))
    return entry?.credential === credential ? entry.value : undefined
  }

  /**
   * Remembers what `credential` yielded. Another credential that ends alike (another string of the
   * same signature, where its encoding allows one) gives up its place to it.
   */
  set (credential: string, value: V): void {
    const key = credential.slice(-KEY_LENGTH)
    if (this.#entries.size >= this.#limit && !this.#entries.has(key)) this.#entries.delete(this.#oldest.next() as string)
    this.#entries.set(key, { credential, value })
  }
}
