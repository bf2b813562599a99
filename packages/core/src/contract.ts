import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * The shape of session data, typed once by declaration merging. Keys you declare are typed on
 * `get`/`set`; any other string key is still allowed and typed `unknown`, so that plugins such as
 * `@fastify/passport` and `@fastify/flash` keep working.
 *
 * @example
 * declare module '@sessionkit/core' {
 *   interface SessionData { userId: string; cart: { items: string[] } }
 * }
 * request.session.set('userId', 'u1')       // ok
 * request.session.set('userId', 42)         // type error
 * const cart = request.session.get('cart')  // { items: string[] } | undefined
 */
export interface SessionData {
  [key: string]: unknown
}

/** A key of {@link SessionData}. */
export type SessionKey = keyof SessionData & string

/**
 * The one `request.session` every sessionkit mechanism serves: cookie, header, query and JWT alike.
 * Values must survive JSON exactly: plain objects, arrays, strings, finite numbers, booleans, null.
 */
export interface Session {
  /**
   * An opaque handle for this session, fit for listing and revoking (`DELETE /sessions/:id`). It is
   * derived from the credential by a one-way hash and is never the credential itself: knowing it does
   * not let anyone use the session. `null` until the session is first saved.
   */
  readonly id: string | null
  /** True until the session has been saved once (a new visitor, or after `regenerate`/`destroy`). */
  readonly isNew: boolean
  /** True when something was set or deleted since the session was loaded or last saved. */
  readonly isModified: boolean
  /** When the session expires (epoch milliseconds), the sooner of the idle and absolute timeouts. */
  readonly expiresAt: number | null
  /** Reads a key; `undefined` when absent. */
  get<K extends SessionKey>(key: K): SessionData[K] | undefined
  /**
   * Sets a key; `undefined` deletes it. Throws `FST_SESSIONKIT_INVALID_VALUE` at the call for a value
   * that JSON cannot carry exactly (functions, BigInt, symbols, cycles, NaN, Dates, class instances) and
   * `FST_SESSIONKIT_RESERVED_KEY` for `__proto__`, `constructor`, `prototype` or an empty key.
   */
  set<K extends SessionKey>(key: K, value: SessionData[K] | undefined): void
  /** Whether a key is present. */
  has(key: SessionKey): boolean
  /** Deletes a key. */
  delete(key: SessionKey): void
  /** A plain deep copy of every key. */
  data(): Partial<SessionData>
  /** The same as `data()`, so that `JSON.stringify(request.session)` shows the data. */
  toJSON(): Partial<SessionData>
  /**
   * Issues a new credential and kills the old one at once (its server state is deleted or its token
   * revoked before this resolves). Only the keys listed in `keep` carry over: call it on login, logout
   * and every privilege change, so that nothing from before leaks across.
   */
  regenerate(keep?: readonly SessionKey[]): Promise<void>
  /** Deletes the server state (or revokes the token) and tells the client to forget the credential. */
  destroy(): Promise<void>
  /** Marks the session active, moving its idle expiry; throttled, and never rewrites data. */
  touch(): void
  /**
   * "Remember me": the session lives by the mechanism's longer `remember` lifetime from its next
   * save on, and a cookie that carries it outlives the browser session; `remember(false)` undoes it.
   * Kept across `regenerate()`, like the session's user.
   */
  remember(on?: boolean): void
  /** Whether the session lives by the `remember` lifetime (as saved, or as asked in this request). */
  readonly remembered: boolean
  /** Saves now rather than when the response is sent (for instance before a redirect). */
  save(): Promise<void>
  /**
   * Reads the session again, as other requests may have changed or ended it since this one loaded
   * it: from the store (server-side), or for a token its revocation and, with a user, its family's
   * newest data. This request's unsaved changes, a `remember()` included, are dropped. A session
   * that ended meanwhile (a logout, an expiry, a revocation) reloads as a new, empty one (`isNew`),
   * and nothing is said to the client. For long-lived routes (server-sent events, WebSockets) that
   * must notice a logout, and for a change that must start from what another request saved.
   */
  reload(): Promise<void>
}

/** A session as a store holds it. Timestamps are epoch milliseconds. */
export interface StoredSession {
  /** Starts at 1 and grows by one with every write; the basis of conditional writes. */
  version: number
  createdAt: number
  lastSeenAt: number
  /** The user this session belongs to, for the per-user index; `null` for anonymous sessions. */
  userId: string | null
  /**
   * The session lives by the `remember` timeouts (`session.remember()`). Absent is `false`; a store
   * keeps it through `merge` and `touch`, which never change it.
   */
  remembered?: boolean | undefined
  data: Record<string, unknown>
}

/** One session of a user, as listed by the per-user index. */
export interface SessionSummary {
  /** The session's opaque `id` (the store key), never the credential. */
  id: string
  createdAt: number
  lastSeenAt: number
}

/**
 * What a store that holds everything in this process (no I/O) answers at once: each method answers
 * as its async twin (`get` without copying), so that a request's session is read, and saved,
 * without a promise.
 */
export interface SyncAccess {
  /**
   * As `get`, except that the record's `data` may be the store's own, frozen: the engines read it
   * and copy what they change, and nothing else may hold on to it.
   */
  get(id: string): StoredSession | null
  isTokenRevoked(jti: string): boolean
  userGeneration(userId: string): number
  /** Optional, with `merge` and `touch`: the writes of a request. */
  set?(id: string, record: StoredSession, expectedVersion: number, ttl: number): boolean
  merge?(id: string, changes: ReadonlyMap<string, unknown>, meta: { lastSeenAt: number, userId?: string | null | undefined }, ttl: number): number | null
  touch?(id: string, lastSeenAt: number, ttl: number): boolean
}

/**
 * What every session store implements. Every method is async; every entry written carries a TTL; a
 * failure rejects (the engine turns it into a 503), while "not found" resolves `null`/`false`.
 */
export interface SessionStore {
  /** The record under `id`, or `null`. A copy: changing it changes nothing stored. */
  get(id: string): Promise<StoredSession | null>
  /**
   * Writes `record` under `id` only if the stored version is `expectedVersion` (0: only if absent),
   * with `record.version === expectedVersion + 1`. Resolves `false` on a version mismatch, and keeps the
   * per-user index in step with `record.userId`.
   */
  set(id: string, record: StoredSession, expectedVersion: number, ttl: number): Promise<boolean>
  /**
   * Optional. Applies key-level changes (`undefined` deletes the key) to an existing record in one
   * atomic step, with no version check, bumping its version and setting `lastSeenAt`, `userId` (when
   * given) and the TTL. Resolves the new version, or `null` when the record is gone (never
   * recreating it). A store that has it lets concurrent requests changing one session all land
   * without retries; without it the engine retries conditional `set`s.
   */
  merge?(id: string, changes: ReadonlyMap<string, unknown>, meta: { lastSeenAt: number, userId?: string | null | undefined }, ttl: number): Promise<number | null>
  /** Moves `lastSeenAt` and the TTL of an existing record without touching its data or version. */
  touch(id: string, lastSeenAt: number, ttl: number): Promise<boolean>
  /** Deletes the record (and its index entry). Deleting what is absent is not an error. */
  destroy(id: string): Promise<void>
  /** The live sessions of a user. */
  listUserSessions(userId: string): Promise<SessionSummary[]>
  /** Deletes every session of a user except `exceptId`; resolves how many were deleted. */
  destroyUserSessions(userId: string, exceptId?: string): Promise<number>
  /** Puts a token id on the denylist until `ttl` milliseconds from now. */
  revokeToken(jti: string, ttl: number): Promise<void>
  /** Whether a token id is on the denylist. */
  isTokenRevoked(jti: string): Promise<boolean>
  /**
   * Optional. `revokeToken`, in one atomic step, only if the id is not on the denylist yet:
   * resolves `true` when this call put it there, `false` when it was there already. It lets a JWT
   * session without a user be claimed against a logout landing at the same time (`regenerate(keep)`
   * carrying its keys over); without it the engine reads the denylist instead, and a logout landing
   * between that read and the new token is outlived.
   */
  revokeTokenOnce?(jti: string, ttl: number): Promise<boolean>
  /** A user's revocation generation (0 when never bumped). */
  userGeneration(userId: string): Promise<number>
  /** Bumps a user's generation, invalidating every token issued before; resolves the new value. */
  bumpUserGeneration(userId: string): Promise<number>
  /**
   * True when the store bounds the time of every call itself (a command timeout, or no I/O at all);
   * otherwise the engine races each call against its `storeTimeout`.
   */
  readonly boundedLatency?: boolean | undefined
  /**
   * Optional, for stores without I/O (the memory store): the reads every request makes, and
   * optionally its writes, answered synchronously. The engines use them instead of their async
   * twins when present; a throw is a store failure (503) as a rejection is.
   */
  readonly sync?: SyncAccess | undefined
}

/** What a transport reads from a request. */
export type CredentialReading =
  /** No credential in this channel. */
  | undefined
  /** A credential, not yet checked. */
  | string

/**
 * Where a credential travels: a cookie, a header, a query parameter. Transports only move strings;
 * the engine signs, checks, stores and expires.
 */
export interface Transport {
  /** A short name, for errors and logs: `cookie`, `header`, `query`. */
  readonly name: string
  /**
   * What happens when the credential presented is not a live session: `reject` answers 401
   * (`FST_SESSIONKIT_INVALID_CREDENTIAL`) with the credential cleared (`clear`), so that a client
   * tells a refused credential from any other 401; `anonymous` starts a new empty session and
   * leaves the client's credential alone until a save issues a new one (a client that applies every
   * answer, as a browser its cookies, could otherwise lose a credential a login just gave it).
   */
  readonly onInvalid: 'reject' | 'anonymous'
  /**
   * True when the client keeps the credential for a time of its own, counted from when it got it (a
   * cookie with a `Max-Age`): the server-side engine then hands the same credential out again
   * whenever the session's idle expiry moves (at most once per `touchInterval`), so that the
   * client's clock slides with activity as the server's does.
   */
  readonly refreshOnActivity?: boolean | undefined
  /** Called once at registration, in the plugin's context: add hooks, serializers, decorators. */
  setup?(fastify: FastifyInstance): void
  /**
   * The credential this request carries in this channel. Throws `FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL`
   * when the channel carries it twice.
   */
  read(request: FastifyRequest): CredentialReading
  /**
   * Whether a request without any credential asks for one in this channel (for ordered transports:
   * a new session is issued through the first transport that claims the request, else the first).
   */
  claims?(request: FastifyRequest): boolean
  /**
   * Hands a credential to the client. `expiresAt` is when the session expires at the latest.
   * `keepFor` (milliseconds), for a remembered session, is how long the client should keep the
   * credential across restarts (a cookie's `Max-Age`); absent, the transport's own default.
   */
  write(request: FastifyRequest, reply: FastifyReply, credential: string, expiresAt: number, keepFor?: number): void
  /** Tells the client to forget the credential. */
  clear(request: FastifyRequest, reply: FastifyReply): void
  /**
   * The bytes this transport would send to hand out `credential` (a whole Set-Cookie line, say), for
   * mechanisms whose credentials vary in size (tokens). Absent: the credential's own length.
   */
  measure?(request: FastifyRequest, credential: string): number
}
