import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { StoredSession, SyncAccess, Transport } from './contract.js'
import { isWellFormedCredential, sessionIdOf } from './credential.js'
import { errors } from './errors.js'
import { forbidStoring } from './expose.js'
import type { ResolvedOptions } from './options.js'
import { ServerSession, type Carried, type SessionBackend } from './session.js'
import { applyChanges, readRecord } from './record.js'
import { createStoreGuard, type StoreGuard } from './store-guard.js'
import { VerifiedCache } from './verified-cache.js'

/** How often a conditional write is retried against a newer version before giving up. */
const WRITE_ATTEMPTS = 5
interface Verified { token: string, stale: boolean, id: string }
interface Fresh { token: string, id: string, credential: string }
/** How many new tokens are made (hashed, signed) at once. */
const FRESH_BATCH = 32

/**
 * The server-side engine: reads the credential through the transports, checks it, loads the record,
 * and at the end of the request writes back only what changed, conditionally on the version it read.
 */
export class SessionEngine implements SessionBackend {
  readonly options: ResolvedOptions
  /** Every store call goes through it: bounded in time, failures a coded 503. */
  readonly call: StoreGuard
  /**
   * Credentials whose signature checked out, with their session id. A signature's validity never
   * changes for a given ring, so this is safe; only good ones are kept (a flood of forged ones fills
   * nothing). Liveness is still read from the store. `null` with `credentialCache: 0`.
   */
  readonly #verified: VerifiedCache<Verified> | null
  /** New tokens not handed out yet (see `#fresh`). */
  readonly #pool: Fresh[] = []
  /** Whether any transport asks for its credential again on activity, decided once at registration. */
  readonly #refreshes: boolean

  constructor (options: ResolvedOptions, log: FastifyBaseLogger) {
    this.options = options
    this.call = createStoreGuard(options.storeTimeout, log)
    this.#verified = options.credentialCache === 0 ? null : new VerifiedCache(options.credentialCache)
    this.#refreshes = options.transports.some((transport) => transport.refreshOnActivity === true)
  }

  /**
   * The session of a request, or a coded error (400 ambiguous, 401 invalid, 503 store). Synchronous
   * when the store answers reads synchronously (`store.sync`) and nothing has to be deleted.
   */
  load (request: FastifyRequest, reply: FastifyReply): ServerSession | Promise<ServerSession> {
    const { transports } = this.options
    let credential: string | undefined
    let carrier: Transport | undefined
    // indexed loops here and in #issuer: an array iterator per request is an allocation per request
    for (let i = 0; i < transports.length; i++) {
      const transport = transports[i] as Transport
      const value = transport.read(request)
      if (value === undefined) continue
      if (credential !== undefined && value !== credential) throw new errors.FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL()
      credential ??= value
      carrier ??= transport
    }
    if (carrier === undefined) {
      return new ServerSession(this, this.#issuer(request), null)
    }
    const verified = this.#verify(credential as string)
    if (verified === null) return this.#invalid(carrier, request, reply)
    const { sync } = this.options.store
    if (sync !== undefined) {
      const raw = this.call.now(() => sync.get(verified.id))
      const record = raw === null ? null : readRecord(raw)
      // an expired record is deleted on sight, which waits on the store
      if (record === null || !this.#expired(record)) return this.#resume(carrier, verified, record, request, reply)
    }
    return this.#live(verified.id).then((record) => this.#resume(carrier, verified, record, request, reply))
  }

  /** The session for a verified credential: its record, or the credential's failure. */
  #resume (carrier: Transport, verified: Verified, record: StoredSession | null, request: FastifyRequest, reply: FastifyReply): ServerSession {
    if (record === null) return this.#invalid(carrier, request, reply)
    const session = new ServerSession(this, carrier, { token: verified.token, id: verified.id, record })
    // signed by an older secret: handed back under the current one
    session.issue = verified.stale
    return session
  }

  /**
   * A credential that is no live session, the same answer whatever was wrong with it: refused (401,
   * and the client told to forget it), or an anonymous session that leaves the client's credential
   * alone until a save replaces it. A browser applies every cookie it is sent, in the order the answers
   * arrive: a request sent with the credential a login has just replaced must not take the new one away.
   */
  #invalid (carrier: Transport, request: FastifyRequest, reply: FastifyReply): ServerSession {
    if (carrier.onInvalid === 'reject') {
      carrier.clear(request, reply)
      forbidStoring(reply)
      throw new errors.FST_SESSIONKIT_INVALID_CREDENTIAL()
    }
    return new ServerSession(this, carrier, null)
  }

  #verify (credential: string): Verified | null {
    const cache = this.#verified
    const known = cache?.get(credential)
    if (known !== undefined) return known
    const checked = isWellFormedCredential(credential) ? this.options.ring.verify(credential) : null
    if (checked === null) return null
    const verified = { token: checked.token, stale: checked.stale, id: sessionIdOf(checked.token) }
    cache?.set(credential, verified)
    return verified
  }

  /**
   * At the end of a request: save what changed, move the idle expiry, tell the client. Synchronous
   * when there is nothing to write.
   */
  finish (request: FastifyRequest, reply: FastifyReply, session: ServerSession): void | Promise<void> {
    if (session.closed) return
    session.closed = true
    if (!session.failed && reply.statusCode < 500 && (this.#unsaved(session) || this.#touchDue(session))) {
      const { sync } = this.options.store
      // a new lifetime is a conditional rewrite of the whole record, which may have to retry
      if (sync?.set === undefined || sync.merge === undefined || sync.touch === undefined || session.lifetimeChanged || session.carried !== null || this.#movesUser(session)) {
        return this.#save(session).then(() => this.#deliver(request, reply, session))
      }
      this.#saveNow(session, sync as Required<SyncAccess>)
    }
    this.#deliver(request, reply, session)
  }

  /**
   * `#save` for a store that writes synchronously: the same writes, with no promise. A saved
   * session was just seen, and a new one has nothing to touch, so a touch only follows no save.
   */
  #saveNow (session: ServerSession, sync: Required<SyncAccess>): void {
    const now = this.options.now()
    const previous = session.record
    const { call } = this
    if (previous === null) {
      const { fresh, record } = this.#creation(session, now)
      if (!call.now(() => sync.set(fresh.id, record, 0, this.#ttl(record, now)))) throw new errors.FST_SESSIONKIT_WRITE_CONFLICT(1)
      session.saved(fresh.token, fresh.id, record, fresh.credential)
    } else if (session.changes.size > 0) {
      // collected by #unsaved just before; the user is the same (finish sent a change of it to #rotate)
      const id = session.id as string
      const version = call.now(() => sync.merge(id, session.changes, { lastSeenAt: now }, this.#ttl(previous, now)))
      if (version === null) this.#ended(session)
      else this.#merged(session, previous, version, now)
    } else {
      this.#touched(session, call.now(() => sync.touch(session.id as string, now, this.#ttl(previous, now))), now)
    }
  }

  async #save (session: ServerSession): Promise<void> {
    await this.persist(session)
    await this.#touch(session)
  }

  /** Whether `persist` has anything to write. */
  #unsaved (session: ServerSession): boolean {
    return session.record === null ? hasData(session.current) : session.collectChanges().size > 0 || session.lifetimeChanged
  }

  /** Hands the client its new credential, or tells it to forget the old one. */
  #deliver (request: FastifyRequest, reply: FastifyReply, session: ServerSession): void {
    if ((session.issue || this.#renewed(session)) && session.token !== null) {
      const record = session.record as StoredSession
      const keepFor = record.remembered === true
        ? Math.max(1, record.createdAt + this.options.remember.absoluteTimeout - this.options.now())
        : undefined
      session.transport.write(request, reply, session.credential() as string, session.expiresAt as number, keepFor)
      forbidStoring(reply)
    } else if (session.clearClient) {
      session.transport.clear(request, reply)
      forbidStoring(reply)
    }
  }

  /**
   * Whether a client that keeps the credential for a time of its own (`refreshOnActivity`) gets it
   * again: this request moved the session's idle expiry (a touch or a write).
   */
  #renewed (session: ServerSession): boolean {
    return this.#refreshes && session.transport.refreshOnActivity === true && session.record !== null && session.record.lastSeenAt !== session.loadedSeenAt
  }

  /** Writes the session's changes: a new record, or a merge into the newest version. */
  async persist (session: ServerSession): Promise<void> {
    const changes = session.collectChanges()
    const now = this.options.now()
    let base = session.record
    if (base === null) {
      if (!hasData(session.current)) return
      const { fresh, record } = await this.#create(session, now)
      if (await this.#revokedSince(session.carried, record)) {
        // the user regenerate(keep) carried over was signed out everywhere meanwhile, the old
        // session with the others: the new one, written after them, goes too
        await this.destroyStored(fresh.id)
        session.gone(false)
        return
      }
      session.carried = null
      session.saved(fresh.token, fresh.id, record, fresh.credential)
      return
    }
    const lifetimeChanged = session.lifetimeChanged
    if (changes.size === 0 && !lifetimeChanged) return
    const id = session.id as string
    if (this.#movesUser(session)) return this.#rotate(session, id, changes, now)
    const { store } = this.options
    if (store.merge !== undefined && !lifetimeChanged) {
      // one atomic key-level write: concurrent requests on this session never make each other retry
      const previous = base
      const version = await this.call(() => (store.merge as NonNullable<typeof store.merge>)(id, changes, { lastSeenAt: now }, this.#ttl(previous, now)))
      if (version === null) this.#ended(session)
      else this.#merged(session, previous, version, now)
      return
    }
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const data = attempt === 1 ? session.current : applyChanges(base.data, changes)
      const record: StoredSession = {
        version: base.version + 1,
        createdAt: base.createdAt,
        lastSeenAt: now,
        userId: this.options.userIdOf(data),
        remembered: session.remembered,
        data
      }
      const expected = base.version
      if (await this.call(() => this.options.store.set(id, record, expected, this.#ttl(record, now)))) {
        // a new lifetime reaches a cookie only with the credential written again
        if (lifetimeChanged) session.issue = true
        session.saved(session.token as string, id, record)
        return
      }
      const fresh = await this.#live(id)
      if (fresh === null) {
        // ended by a logout or regenerate meanwhile: writing it back would resurrect it
        this.#ended(session)
        return
      }
      base = fresh
    }
    throw new errors.FST_SESSIONKIT_WRITE_CONFLICT(WRITE_ATTEMPTS)
  }

  /** `#movesUser` for code outside the end of the request: changes made inside objects read with `get` are collected first. */
  movesUser (session: ServerSession): boolean {
    session.collectChanges()
    return this.#movesUser(session)
  }

  /**
   * Whether this request's changes give a stored session another user (a login, a logout by deleting
   * the user key, a switch) without `regenerate()`: the session then moves to a new credential.
   * Collected changes are read (`#unsaved` or `persist` collected them just before).
   */
  #movesUser (session: ServerSession): boolean {
    const record = session.record
    return record !== null && session.changes.size > 0 && this.options.userIdOf(session.current) !== record.userId
  }

  /**
   * A change of user without `regenerate()`: the session, every key kept, goes to a new credential
   * and the old one is deleted, so that a credential known before a login (planted in a link or a
   * cookie: fixation) never carries the user. Claimed first (`#claim`), so that changes other
   * requests merged meanwhile are kept, and one ended meanwhile (a logout, even one landing after
   * the read, or the same login sent twice, whose first request moved it) is not brought back: what
   * this request set starts a session of its own, as `regenerate()` and then `set()` would have.
   */
  async #rotate (session: ServerSession, id: string, changes: ReadonlyMap<string, unknown>, now: number): Promise<void> {
    const current = await this.#claim(id, now)
    const data = applyChanges(current?.data ?? {}, changes)
    if (!hasData(data)) {
      // the user key was all it held: a logout, which ends it here
      if (current !== null) await this.destroyStored(id)
      session.gone(true)
      return
    }
    const { fresh, record } = await this.#create(session, now, data)
    if (current !== null) await this.destroyStored(id)
    session.saved(fresh.token, fresh.id, record, fresh.credential)
  }

  /**
   * The live record under `id`, claimed before it is ended: written back unchanged but for its
   * version, conditionally on the version read. A logout landing after the read makes the write
   * fail and is seen when the record is read again (`null`: ended meanwhile); a change another
   * request made there is read with it. A coded 409 after `WRITE_ATTEMPTS` tries.
   */
  async #claim (id: string, now: number): Promise<StoredSession | null> {
    const { store } = this.options
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const current = await this.#live(id)
      if (current === null) return null
      if (await this.call(() => store.set(id, { ...current, version: current.version + 1 }, current.version, this.#ttl(current, now)))) return current
    }
    throw new errors.FST_SESSIONKIT_WRITE_CONFLICT(WRITE_ATTEMPTS)
  }

  async carry (id: string, kept: Record<string, unknown>): Promise<{ user: Carried | null } | null> {
    const userId = this.options.userIdOf(kept)
    // read before the claim: a revocation of the user from then on moves it (`#revokedSince`)
    const user = userId === null ? null : { userId, generation: await this.call(() => this.options.store.userGeneration(userId)) }
    return await this.#claim(id, this.options.now()) === null ? null : { user }
  }

  /**
   * Whether the user `regenerate(keep)` carried into this new record was revoked since
   * (`revokeUserSessions`: its generation moved): read after the record is written, so that a
   * revocation either deletes the record or is seen here. Only for a record of that same user.
   */
  async #revokedSince (carried: Carried | null, record: StoredSession): Promise<boolean> {
    if (carried === null || record.userId !== carried.userId) return false
    return await this.call(() => this.options.store.userGeneration(carried.userId)) > carried.generation
  }

  /**
   * A new session's first record, under a new token. 256 random bits: a taken id (a failed write)
   * means a broken random source, not bad luck.
   */
  #creation (session: ServerSession, now: number, data = session.current): { fresh: Fresh, record: StoredSession } {
    return { fresh: this.#fresh(), record: { version: 1, createdAt: now, lastSeenAt: now, userId: this.options.userIdOf(data), remembered: session.remembered, data } }
  }

  /** `#creation`, written to the store (where it may not be taken). */
  async #create (session: ServerSession, now: number, data = session.current): Promise<{ fresh: Fresh, record: StoredSession }> {
    const created = this.#creation(session, now, data)
    const { fresh, record } = created
    if (!await this.call(() => this.options.store.set(fresh.id, record, 0, this.#ttl(record, now)))) {
      throw new errors.FST_SESSIONKIT_WRITE_CONFLICT(1)
    }
    return created
  }

  /**
   * After a merge: the session saved at `version`. A merge never changes the user (a change of user
   * moves the session instead: `#rotate`).
   */
  #merged (session: ServerSession, previous: StoredSession, version: number, now: number): void {
    session.saved(session.token as string, session.id as string, { ...previous, version, lastSeenAt: now, data: session.current })
  }

  /**
   * The session ended while the request ran (a logout, a login, in another tab): nothing is written
   * back, and the client is told nothing. It may hold a newer credential already (a login's, even
   * one that followed a logout), which a late "forget it" (a cookie cleared, an empty header) would
   * take away; the credential it sent is dead either way, and its next request is answered as any
   * dead credential is.
   */
  #ended (session: ServerSession): void {
    session.gone(false)
  }

  /**
   * A new token with its session id and signed credential. Made in batches: hashing and signing
   * many in a row costs about half as much each as one at a time between requests.
   */
  #fresh (): Fresh {
    const pool = this.#pool
    if (pool.length === 0) {
      const { ring } = this.options
      for (let i = 0; i < FRESH_BATCH; i++) {
        const { token, credential } = ring.issue()
        pool.push({ token, id: sessionIdOf(token), credential })
      }
    }
    return pool.pop() as Fresh
  }

  sign (token: string): string {
    return this.options.ring.sign(token)
  }

  reread (id: string): Promise<StoredSession | null> {
    return this.#live(id)
  }

  async destroyStored (id: string): Promise<void> {
    await this.call(() => this.options.store.destroy(id))
  }

  /** The live record under `id`; an expired one is deleted on sight. */
  async #live (id: string): Promise<StoredSession | null> {
    const raw = await this.call(() => this.options.store.get(id))
    if (raw === null) return null
    const record = readRecord(raw)
    if (this.#expired(record)) {
      await this.destroyStored(id)
      return null
    }
    return record
  }

  #expired (record: StoredSession): boolean {
    const now = this.options.now()
    const { idleTimeout, absoluteTimeout } = this.timeouts(record.remembered === true)
    return now - record.lastSeenAt >= idleTimeout || now - record.createdAt >= absoluteTimeout
  }

  timeouts (remembered: boolean): { readonly idleTimeout: number, readonly absoluteTimeout: number } {
    return remembered ? this.options.remember : this.options
  }

  /** Whether the idle expiry is due to move (rolling sessions, or `touch()`), at most once per `touchInterval`. */
  #touchDue (session: ServerSession): boolean {
    const record = session.record
    if (record === null) return false
    if (this.options.now() - record.lastSeenAt < this.options.touchInterval) return false
    return this.options.rolling || session.touchRequested
  }

  async #touch (session: ServerSession): Promise<void> {
    if (!this.#touchDue(session)) return
    const record = session.record as StoredSession
    const now = this.options.now()
    this.#touched(session, await this.call(() => this.options.store.touch(session.id as string, now, this.#ttl(record, now))), now)
  }

  /**
   * After a touch: the session was seen now, or its record is gone (a logout, a login elsewhere, while
   * this request ran). Then its credential is handed out again neither for `refreshOnActivity` nor
   * re-signed under the current secret: arriving after the answer that replaced it, it would take the
   * client's new credential away.
   */
  #touched (session: ServerSession, found: boolean, now: number): void {
    if (found) (session.record as StoredSession).lastSeenAt = now
    else session.issue = false
  }

  /** Time to live: the sooner of the idle and the absolute expiry, at least 1 ms. */
  #ttl (record: StoredSession, now: number): number {
    const { idleTimeout, absoluteTimeout } = this.timeouts(record.remembered === true)
    return Math.max(1, Math.min(idleTimeout, record.createdAt + absoluteTimeout - now))
  }

  /** The transport a new session is issued through. */
  #issuer (request: FastifyRequest): Transport {
    const { transports } = this.options
    for (let i = 0; i < transports.length; i++) {
      const transport = transports[i] as Transport
      if (transport.claims?.(request) === true) return transport
    }
    return transports[0] as Transport
  }
}

/** Whether a session's data holds any key, without the array `Object.keys` would allocate. */
function hasData (data: Record<string, unknown>): boolean {
  for (const key in data) {
    if (Object.hasOwn(data, key)) return true
  }
  return false
}
