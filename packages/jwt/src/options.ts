import { errors, MemoryStore, resolveUserId, type SessionData, type SessionStore, type Transport } from '@sessionkit/core'
import { cookieTransport, type CookieTransportOptions } from '@sessionkit/cookie'
import { duration } from './duration.js'
import { resolveEncryptionKeys, type EncryptionKey, type EncryptionRing } from './encryption.js'
import { resolveKeys, type JwtKey, type ResolvedKey } from './keys.js'
import { bearerTransport, cookieRefresh, headerRefresh, type BearerTransportOptions, type RefreshChannel } from './transports.js'

/** Options of `@sessionkit/jwt`. */
export interface JwtSessionOptions {
  /**
   * The key ring. The first key signs (its `kid` goes in every token header); every key verifies the
   * tokens that name it. Rotate by putting a new key first; retire by removing one.
   */
  keys: readonly JwtKey[]
  /**
   * Encrypt access tokens, so that whoever holds one (the browser, a proxy's log) can read nothing
   * of the session data: each token `keys` signed is sealed in a compact JWE (`dir`, `A256GCM`) under
   * the first of these keys, and only such tokens are accepted. Every key decrypts the tokens whose
   * `kid` names it: rotate by putting a new key first, retire by removing one. Each secret has at
   * least 32 random bytes and is none of the signing secrets.
   * @default undefined (tokens are signed, not encrypted)
   */
  encryptionKeys?: readonly EncryptionKey[] | undefined
  /**
   * Where the denylist, the user generations and the refresh families live. Share one store
   * (`@sessionkit/redis`) between instances so that revocations reach all of them.
   * @default new MemoryStore()
   */
  store?: SessionStore | undefined
  /**
   * How the token travels: `'bearer'` (Authorization / X-Session-Token, refresh tokens in
   * X-Refresh-Token) or `'cookie'` (HttpOnly cookies: the access token's, and the refresh token's,
   * sent only to the refresh route).
   * @default 'bearer'
   */
  transport?: 'bearer' | 'cookie' | undefined
  /** Options of the Bearer transport (`transport: 'bearer'`): the response header, CORS exposure. */
  bearer?: BearerTransportOptions | undefined
  /** Options of the cookie transport (`transport: 'cookie'`): name, attributes, CSRF guard. */
  cookie?: CookieTransportOptions | undefined
  /** Access-token lifetime: milliseconds or a text such as `'15m'`. @default '15m' */
  accessTokenTtl?: number | string | undefined
  /**
   * Refresh-token family lifetime from login (milliseconds or text), or `false` for no refresh
   * tokens.
   * @default '30d'
   */
  refreshTokenTtl?: number | string | false | undefined
  /**
   * The lifetime of a session that asked to be remembered (`session.remember()`): its refresh family
   * lives `refreshTokenTtl` from login (milliseconds or text; not shorter than the ordinary one), and
   * with the cookie transport its cookies outlive the browser session. Without it they are
   * browser-session cookies (unless `cookie.maxAge` says otherwise).
   * @default { refreshTokenTtl: refreshTokenTtl }
   */
  remember?: { refreshTokenTtl?: number | string | undefined } | undefined
  /**
   * How long after a rotation the spent refresh token still gets the same answer, so that parallel
   * retries of one refresh do not lock the user out (milliseconds).
   * @default 10000
   */
  refreshGrace?: number | undefined
  /**
   * The refresh route the plugin registers, or `false` to register none (and so hand out no refresh
   * tokens, as with `refreshTokenTtl: false`).
   * @default '/refresh'
   */
  refreshRoute?: string | false | undefined
  /** Required `iss` claim, set on every token and required on every token accepted. */
  issuer?: string | undefined
  /** Required `aud` claim, set on every token and required on every token accepted. */
  audience?: string | undefined
  /** Tolerance for `exp`, `nbf` and `iat` (milliseconds). @default 0 */
  clockTolerance?: number | undefined
  /**
   * The size budget: bytes of the token (Bearer) or of the whole Set-Cookie line (cookie).
   * @default 8192 with Bearer, 4096 with the cookie transport
   */
  maxTokenBytes?: number | undefined
  /**
   * How many verified tokens to remember (header, signature and claim shapes checked), by the whole
   * token string, or `false`. Expiry and revocation are checked on every request whether or not a
   * token comes from the cache.
   * @default 10000
   */
  cache?: number | false | undefined
  /** The session key holding the user id, or a function of the data. @default 'userId' */
  userId?: string | ((data: Readonly<Partial<SessionData>>) => string | null | undefined) | undefined
  /** Milliseconds a store call may take, for stores that do not bound their own latency. @default 1000 */
  storeTimeout?: number | undefined
  /** The clock (epoch milliseconds), for tests. @default Date.now */
  now?: (() => number) | undefined
}

export interface ResolvedJwtOptions {
  readonly keys: readonly ResolvedKey[]
  /** What seals access tokens; `null` when they are only signed. */
  readonly encryption: EncryptionRing | null
  readonly store: SessionStore
  readonly ownsStore: boolean
  readonly transport: Transport
  readonly accessTtl: number
  readonly refreshTtl: number | null
  /** The refresh family's lifetime when the session is remembered; `null` without refresh tokens. */
  readonly rememberTtl: number | null
  readonly refreshGrace: number
  readonly refreshRoute: string | null
  readonly issuer: string | undefined
  readonly audience: string | undefined
  readonly clockTolerance: number
  readonly maxTokenBytes: number
  readonly cache: number | false
  readonly userIdOf: (data: Readonly<Record<string, unknown>>) => string | null
  readonly storeTimeout: number | null
  readonly now: () => number
}

function nonNegative (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION(name, 'must be a non-negative integer')
  }
  return value
}

function claim (name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw new errors.FST_SESSIONKIT_INVALID_OPTION(name, 'must be a non-empty string')
  return value
}

/** Validates every option once, at registration, into a frozen object. */
export function resolveJwtOptions (options: JwtSessionOptions): ResolvedJwtOptions {
  const keys = resolveKeys(options.keys)
  const transportName = options.transport ?? 'bearer'
  if (transportName !== 'bearer' && transportName !== 'cookie') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('transport', 'must be "bearer" or "cookie"')
  }
  const transport = transportName === 'cookie' ? cookieTransport(options.cookie) : bearerTransport(options.bearer)
  const accessTtl = duration('accessTokenTtl', options.accessTokenTtl ?? '15m')
  const refreshTokenTtl = options.refreshTokenTtl === false ? null : duration('refreshTokenTtl', options.refreshTokenTtl ?? '30d')
  if (refreshTokenTtl !== null && refreshTokenTtl < accessTtl) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('refreshTokenTtl', 'must not be shorter than accessTokenTtl')
  }
  const remember = options.remember ?? {}
  if (typeof remember !== 'object') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('remember', 'must be an object: { refreshTokenTtl }')
  }
  const rememberTtl = remember.refreshTokenTtl === undefined ? refreshTokenTtl : duration('remember.refreshTokenTtl', remember.refreshTokenTtl)
  if (rememberTtl !== null && refreshTokenTtl !== null && rememberTtl < refreshTokenTtl) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('remember.refreshTokenTtl', 'must not be shorter than refreshTokenTtl')
  }
  const refreshRoute = options.refreshRoute ?? '/refresh'
  if (refreshRoute !== false && (typeof refreshRoute !== 'string' || !refreshRoute.startsWith('/') || /[;\s?#]/.test(refreshRoute))) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('refreshRoute', 'must be a path starting with "/" (no ";", "?", "#" or whitespace), or false')
  }
  // no route, no way to use a refresh token: none is handed out
  const refreshTtl = refreshRoute === false ? null : refreshTokenTtl
  const cache = options.cache ?? 10_000
  if (cache !== false && (!Number.isSafeInteger(cache) || cache <= 0)) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('cache', 'must be a positive number of entries, or false')
  }
  const maxTokenBytes = options.maxTokenBytes ?? (transportName === 'cookie' ? 4096 : 8192)
  if (!Number.isSafeInteger(maxTokenBytes) || maxTokenBytes < 256) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('maxTokenBytes', 'must be an integer of at least 256')
  }
  const userIdOf = resolveUserId(options.userId)
  const now = options.now ?? Date.now
  if (typeof now !== 'function') throw new errors.FST_SESSIONKIT_INVALID_OPTION('now', 'must be a function returning epoch milliseconds')
  const store = options.store ?? new MemoryStore()
  const storeTimeout = nonNegative('storeTimeout', options.storeTimeout, 1000)
  const signingSecrets = keys.flatMap((key) => key.hmac ? [key.verifyKey] : [])
  return Object.freeze({
    keys,
    encryption: resolveEncryptionKeys(options.encryptionKeys, signingSecrets),
    store,
    ownsStore: options.store === undefined,
    transport,
    accessTtl,
    refreshTtl,
    rememberTtl: refreshTtl === null ? null : rememberTtl,
    refreshGrace: nonNegative('refreshGrace', options.refreshGrace, 10_000),
    refreshRoute: refreshTtl === null ? null : refreshRoute as string,
    issuer: claim('issuer', options.issuer),
    audience: claim('audience', options.audience),
    clockTolerance: nonNegative('clockTolerance', options.clockTolerance, 0),
    maxTokenBytes,
    cache,
    userIdOf,
    storeTimeout: store.boundedLatency === true ? null : storeTimeout,
    now
  })
}

/**
 * Where refresh tokens travel, once the prefix of the plugin's routes is known (the refresh cookie's
 * path is the refresh route's); `null` without refresh tokens.
 */
export function refreshChannel (options: JwtSessionOptions, resolved: ResolvedJwtOptions, prefix: string): RefreshChannel & Pick<Transport, 'setup'> | null {
  if (resolved.refreshRoute === null) return null
  if (resolved.transport.name === 'cookie') return cookieRefresh(options.cookie ?? {}, prefix + resolved.refreshRoute)
  return headerRefresh(options.bearer?.exposeHeader ?? true)
}
