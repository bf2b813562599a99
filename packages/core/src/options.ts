import type { SessionData, SessionStore, Transport } from './contract.js'
import { KeyRing, type Secret } from './credential.js'
import { errors } from './errors.js'
import { MemoryStore } from './memory-store.js'

/** Options of the server-side engine, shared by every server-side mechanism. */
export interface EngineOptions {
  /**
   * The secrets that sign credentials, each at least 32 bytes. The first signs; all verify, and a
   * credential signed by an older one is re-issued under the first. Drop a secret to retire it.
   * There is no default: a built-in secret would be a shared secret.
   */
  secret: Secret | readonly Secret[]
  /**
   * Where sessions live.
   * @default new MemoryStore()
   */
  store?: SessionStore | undefined
  /**
   * A session unused for this long (milliseconds) is dead.
   * @default 1800000 (30 minutes)
   */
  idleTimeout?: number | undefined
  /**
   * A session older than this (milliseconds) is dead however active it is.
   * @default 43200000 (12 hours)
   */
  absoluteTimeout?: number | undefined
  /**
   * The lifetime of a session that asked to be remembered (`session.remember()`, a "remember me"
   * box): its idle and absolute timeouts (milliseconds), neither shorter than the ordinary ones. A
   * cookie carrying such a session is kept until its absolute expiry, across browser restarts.
   * @default { idleTimeout: 1209600000 (14 days), absoluteTimeout: 2592000000 (30 days) }
   */
  remember?: { idleTimeout?: number | undefined, absoluteTimeout?: number | undefined } | undefined
  /**
   * The store's idle expiry is moved at most once per this interval (milliseconds), so that reading a
   * session costs no write. Must be below `idleTimeout`.
   * @default idleTimeout / 10, at most 60000
   */
  touchInterval?: number | undefined
  /**
   * Whether reading a session counts as activity that moves its idle expiry (throttled by
   * `touchInterval`). With `false`, only writes and `session.touch()` do.
   * @default true
   */
  rolling?: boolean | undefined
  /**
   * How long (milliseconds) a store call may take before the request fails with a 503. Applies to
   * stores that do not bound their own latency (`boundedLatency`), such as callback-style stores.
   * @default 1000
   */
  storeTimeout?: number | undefined
  /**
   * Which user a session belongs to, for the per-user index (`listUserSessions`,
   * `revokeUserSessions`): a session key whose string value is the user id, or a function of the data.
   * @default 'userId'
   */
  userId?: string | ((data: Readonly<Partial<SessionData>>) => string | null | undefined) | undefined
  /**
   * How many verified credentials to remember (signature checked, store key derived), so that a
   * returning client costs no HMAC and no hash. Whether the session is live is still read from the
   * store on every request. `0` turns it off.
   * @default 10000
   */
  credentialCache?: number | undefined
  /** The clock (epoch milliseconds), for tests. @default Date.now */
  now?: (() => number) | undefined
}

/** Options of core's plugin: the engine's, plus the transports it serves. */
export interface SessionkitOptions extends EngineOptions {
  /**
   * Where the credential travels, in order. Several transports serve one scope together: a request
   * whose credentials in two of them disagree is rejected with 400; a new session is issued through the
   * first transport that claims the request, else through the first listed.
   */
  transports: readonly Transport[]
}

/** Options after validation: complete and frozen. */
export interface ResolvedOptions {
  readonly ring: KeyRing
  readonly store: SessionStore
  readonly ownsStore: boolean
  readonly idleTimeout: number
  readonly absoluteTimeout: number
  /** The timeouts of a remembered session. */
  readonly remember: { readonly idleTimeout: number, readonly absoluteTimeout: number }
  readonly touchInterval: number
  readonly rolling: boolean
  readonly storeTimeout: number | null
  readonly credentialCache: number
  readonly userIdOf: (data: Readonly<Record<string, unknown>>) => string | null
  readonly now: () => number
  readonly transports: readonly Transport[]
}

const STORE_METHODS = [
  'get', 'set', 'touch', 'destroy', 'listUserSessions', 'destroyUserSessions',
  'revokeToken', 'isTokenRevoked', 'userGeneration', 'bumpUserGeneration'
] as const

function positiveInteger (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION(name, 'must be a positive integer (milliseconds)')
  }
  return value
}

/** The `userId` option as a function of the data: a session key, or the caller's function. */
export function resolveUserId (value: SessionkitOptions['userId']): ResolvedOptions['userIdOf'] {
  if (typeof value === 'function') {
    return (data) => {
      const id = value(data)
      return typeof id === 'string' && id !== '' ? id : null
    }
  }
  const key = value ?? 'userId'
  if (typeof key !== 'string' || key === '') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('userId', 'must be a session key or a function returning the user id')
  }
  return (data) => {
    const id = data[key]
    return typeof id === 'string' && id !== '' ? id : null
  }
}

/** Validates options once, at registration, into a frozen object. The caller's object is not touched. */
export function resolveOptions (options: SessionkitOptions): ResolvedOptions {
  const { transports } = options
  if (!Array.isArray(transports) || transports.length === 0) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('transports', 'must list at least one transport')
  }
  for (const transport of transports as unknown[]) {
    const candidate = transport as Partial<Transport> | null
    if (candidate === null || typeof candidate !== 'object' || typeof candidate.read !== 'function' ||
      typeof candidate.write !== 'function' || typeof candidate.clear !== 'function' ||
      (candidate.onInvalid !== 'reject' && candidate.onInvalid !== 'anonymous')) {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION('transports', 'each transport must have read, write, clear and onInvalid')
    }
  }
  const names = new Set(transports.map((transport) => transport.name))
  if (names.size !== transports.length) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('transports', 'each transport may be listed once')
  }
  if (options.secret === undefined) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('secret', 'is required: one or more secrets of at least 32 random bytes')
  }
  const ring = new KeyRing(options.secret)

  const store = options.store ?? new MemoryStore()
  for (const method of STORE_METHODS) {
    if (typeof (store as unknown as Record<string, unknown>)[method] !== 'function') {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION('store', `must implement ${method}(); wrap a callback-style store with callbackStore()`)
    }
  }

  const idleTimeout = positiveInteger('idleTimeout', options.idleTimeout, 30 * 60_000)
  const absoluteTimeout = positiveInteger('absoluteTimeout', options.absoluteTimeout, 12 * 3_600_000)
  if (absoluteTimeout < idleTimeout) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('absoluteTimeout', 'must not be shorter than idleTimeout')
  }
  const remember = options.remember ?? {}
  if (typeof remember !== 'object') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('remember', 'must be an object: { idleTimeout, absoluteTimeout }')
  }
  const rememberIdle = positiveInteger('remember.idleTimeout', remember.idleTimeout, Math.max(idleTimeout, 14 * 86_400_000))
  const rememberAbsolute = positiveInteger('remember.absoluteTimeout', remember.absoluteTimeout, Math.max(absoluteTimeout, rememberIdle, 30 * 86_400_000))
  if (rememberIdle < idleTimeout) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('remember.idleTimeout', 'must not be shorter than idleTimeout')
  }
  if (rememberAbsolute < rememberIdle || rememberAbsolute < absoluteTimeout) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('remember.absoluteTimeout', 'must not be shorter than remember.idleTimeout or absoluteTimeout')
  }
  const touchInterval = positiveInteger('touchInterval', options.touchInterval, Math.min(60_000, Math.ceil(idleTimeout / 10)))
  if (touchInterval >= idleTimeout) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('touchInterval', 'must be shorter than idleTimeout')
  }
  const rolling = options.rolling ?? true
  if (typeof rolling !== 'boolean') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('rolling', 'must be a boolean')
  }
  const storeTimeout = positiveInteger('storeTimeout', options.storeTimeout, 1000)
  const credentialCache = options.credentialCache ?? 10_000
  if (!Number.isSafeInteger(credentialCache) || credentialCache < 0) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('credentialCache', 'must be a non-negative integer (entries)')
  }
  const now = options.now ?? Date.now
  if (typeof now !== 'function') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('now', 'must be a function returning epoch milliseconds')
  }

  return Object.freeze({
    ring,
    store,
    ownsStore: options.store === undefined,
    idleTimeout,
    absoluteTimeout,
    remember: Object.freeze({ idleTimeout: rememberIdle, absoluteTimeout: rememberAbsolute }),
    touchInterval,
    rolling,
    storeTimeout: store.boundedLatency === true ? null : storeTimeout,
    credentialCache,
    userIdOf: resolveUserId(options.userId),
    now,
    transports: Object.freeze([...transports])
  })
}
