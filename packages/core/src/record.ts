import type { StoredSession } from './contract.js'
import { errors } from './errors.js'

/**
 * Checks that what a store returned is a session record before the engine trusts it: a garbage or
 * foreign value is a coded 503, never a crash and never a session.
 */
export function readRecord (value: unknown): StoredSession {
  const record = value as Partial<StoredSession> | null
  if (record === null || typeof record !== 'object' ||
    !Number.isSafeInteger(record.version) || (record.version as number) < 1 ||
    !Number.isFinite(record.createdAt) || !Number.isFinite(record.lastSeenAt) ||
    (record.userId !== null && typeof record.userId !== 'string') ||
    (record.remembered !== undefined && typeof record.remembered !== 'boolean') ||
    record.data === null || typeof record.data !== 'object' || Array.isArray(record.data)) {
    throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
  }
  return record as StoredSession
}

/** `base` with a session's `changes` applied key by key (`undefined` deletes), as a new object. */
export function applyChanges (base: Record<string, unknown>, changes: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const data: Record<string, unknown> = { ...base }
  for (const [key, value] of changes) {
    if (value === undefined) delete data[key]
    else data[key] = value
  }
  return data
}
