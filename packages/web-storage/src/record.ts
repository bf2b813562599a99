/** What the client keeps: the credential, and for JWT sessions the refresh token. */
export interface StoredCredential {
  credential: string
  refresh: string | null
}

/**
 * Credentials are short strings of URL-safe characters: a session id, a JWT (three segments), or an
 * encrypted JWT (five, the second empty: a compact JWE with direct encryption).
 */
const CREDENTIAL = /^[A-Za-z0-9_-]+(?:(?:\.[A-Za-z0-9_-]+){0,2}|\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/
const VERSION = 1

export function serialize (value: StoredCredential): string {
  return JSON.stringify({ v: VERSION, c: value.credential, r: value.refresh })
}

/**
 * What was read back from storage, a storage event or another tab, treated as untrusted: anything
 * but a well-formed record of a plausible size is `null` (logged out).
 */
export function parse (raw: unknown, maxLength: number): StoredCredential | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > maxLength) return null
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return null
  }
  if (value === null || typeof value !== 'object') return null
  const { v, c, r } = value as { v?: unknown, c?: unknown, r?: unknown }
  if (v !== VERSION || !isCredential(c)) return null
  if (r !== null && !isCredential(r)) return null
  return { credential: c, refresh: r }
}

export function isCredential (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 16_384 && CREDENTIAL.test(value)
}

/**
 * A JWT's `exp` in epoch milliseconds, read without verifying (the server verifies): enough to
 * drop a token that can no longer work. An encrypted JWT's is in its header, the one part a client
 * can read. `null` when it is not a JWT or has no readable `exp`.
 */
export function tokenExpiry (token: string): number | null {
  const segments = token.split('.')
  const readable = segments.length === 5 ? segments[0] : segments[1]
  if (readable === undefined) return null
  try {
    const json = atob(readable.replace(/-/g, '+').replace(/_/g, '/'))
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null
  } catch {
    return null
  }
}
