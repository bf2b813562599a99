import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { errors, readRecord, type StoredSession } from '@sessionkit/core'

/**
 * A refresh family: one login's chain of refresh tokens, kept in the store as a session record
 * (so that it is listed and revoked with the user's other sessions). Only hashes of refresh secrets
 * are stored.
 */
export interface FamilyData {
  /** Hash of the current refresh secret. */
  cur: string
  /** Hash of the one it replaced, honoured until `until` (the grace window). */
  prev: string | null
  until: number
  /** The answer given for `prev`, sealed with a key only the holder of `prev` can derive. */
  box: string | null
  /** The expiry (epoch ms) of the access token issued last, given with a repeated refresh answer. */
  exp: number
  /** The user's generation at login: a later bump ends the family. */
  gen: number
  /** The session data, to issue the next access token with. */
  sk: Record<string, unknown>
}

/** `<family token>.<secret>`, 43 base64url characters each. */
export const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/

export function sameHash (a: string, b: string | null): boolean {
  return b !== null && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/** The family data of a stored record, or a coded 503 for anything else. */
export function familyOf (record: StoredSession): FamilyData & { userId: string } {
  const { data, userId } = readRecord(record) as StoredSession & { data: Partial<FamilyData> }
  if (userId === null || typeof data.cur !== 'string' || typeof data.exp !== 'number' ||
    typeof data.gen !== 'number' || typeof data.until !== 'number' || data.sk === null || typeof data.sk !== 'object') {
    throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
  }
  return { ...data as FamilyData, userId }
}

function keyOf (secret: string): Buffer {
  return createHash('sha256').update('sessionkit refresh answer\0' + secret).digest()
}

/** Seals the answer to a refresh so that only the holder of `secret` can open it. */
export function seal (answer: { access: string, refresh: string }, secret: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), iv)
  const body = Buffer.concat([cipher.update(JSON.stringify(answer), 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** Opens a sealed answer; `null` when it does not open with this secret. */
export function open (box: string, secret: string): { access: string, refresh: string } | null {
  try {
    const raw = Buffer.from(box, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'))
  } catch {
    return null
  }
}
