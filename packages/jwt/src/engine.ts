import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  applyChanges, createStoreGuard, errors as coreErrors, forbidStoring, generateToken, sessionIdOf,
  type StoreGuard, type StoredSession, type SyncAccess
} from '@sessionkit/core'
import { errors } from './errors.js'
import { familyOf, open, REFRESH_TOKEN, sameHash, seal, type FamilyData } from './family.js'
import type { ResolvedJwtOptions } from './options.js'
import { JwtSession, type TokenBackend } from './session.js'
import type { AccessClaims, TokenCodec } from './tokens.js'
import type { RefreshChannel } from './transports.js'
const seconds = (ms: number): number => Math.floor(ms / 1000)

/**
 * Token sessions: verifies the token and checks it against the denylist and the user's generation
 * on every request (cached or not), re-issues it when the session changed, and runs the refresh
 * families.
 */
export class JwtEngine implements TokenBackend {
  readonly options: ResolvedJwtOptions
  readonly codec: TokenCodec
  readonly call: StoreGuard
  /** Bytes a token takes besides its data, measured once with an empty session. */
  readonly #overhead: number
  /** Bytes of token per byte of session JSON. */
  readonly #growth: number
  /** Where refresh tokens travel; `null` when none are handed out. */
  readonly #refresh: RefreshChannel | null

  constructor (options: ResolvedJwtOptions, codec: TokenCodec, log: FastifyRequest['log'], refresh: RefreshChannel | null) {
    this.options = options
    this.codec = codec
    this.#refresh = refresh
    this.call = createStoreGuard(options.storeTimeout, log)
    const sample = codec.sign(this.#claims({}, 'u'.repeat(64), 0, 'f'.repeat(43), undefined, true))
    this.#overhead = sample.length + (options.transport.name === 'cookie' ? 300 : 0)
    this.#growth = options.encryption === null ? 4 / 3 : 16 / 9
  }

  /**
   * The session of a request: the token verified (or found in the cache of verified tokens) and
   * checked against the denylist and the user's generation, every time. Synchronous when the store
   * answers those reads synchronously (`store.sync`).
   */
  load (request: FastifyRequest, reply: FastifyReply): JwtSession | Promise<JwtSession> {
    const { transport, store } = this.options
    const token = transport.read(request)
    if (token === undefined) return new JwtSession(this, transport, null)
    const claims = token.length > this.options.maxTokenBytes ? null : this.codec.verify(token, this.options.now())
    if (claims === null) return this.#invalid(request, reply)
    if (store.sync !== undefined) {
      const { sync } = store
      return this.call.now(() => revokedNow(sync, claims)) ? this.#invalid(request, reply) : new JwtSession(this, transport, claims)
    }
    return this.#revoked(claims).then((revoked) => revoked ? this.#invalid(request, reply) : new JwtSession(this, transport, claims))
  }

  /**
   * A token that is no live session: refused (401, and the client told to forget it), or an
   * anonymous session that leaves the client's token alone until a new one replaces it (a request
   * sent with the token a login has just revoked must not take the new cookie away).
   */
  #invalid (request: FastifyRequest, reply: FastifyReply): JwtSession {
    const { transport } = this.options
    if (transport.onInvalid === 'reject') {
      transport.clear(request, reply)
      forbidStoring(reply)
      throw new coreErrors.FST_SESSIONKIT_INVALID_CREDENTIAL()
    }
    return new JwtSession(this, transport, null)
  }

  /** At the end of a request: re-issues a changed session, or clears the client. Synchronous when nothing changed. */
  finish (request: FastifyRequest, reply: FastifyReply, session: JwtSession): void | Promise<void> {
    if (session.closed) return
    session.closed = true
    if (!session.failed && reply.statusCode < 500 && (session.collectChanges().size > 0 || session.lifetimeChanged)) {
      return this.issue(session).then(() => this.#deliver(request, reply, session))
    }
    this.#deliver(request, reply, session)
  }

  #deliver (request: FastifyRequest, reply: FastifyReply, session: JwtSession): void {
    if (session.issued !== null) {
      const { transport, maxTokenBytes } = this.options
      const size = transport.measure?.(request, session.issued) ?? session.issued.length
      if (size > maxTokenBytes) throw new errors.FST_SESSIONKIT_TOKEN_TOO_LARGE(size, maxTokenBytes)
      const expiresAt = session.expiresAt as number
      transport.write(request, reply, session.issued, expiresAt, this.#accessKeepFor(session.remembered, expiresAt))
      if (session.refreshToken !== null) this.#refresh?.write(request, reply, session.refreshToken, session.refreshKeepFor)
      else if (session.familyEnded) this.#refresh?.clear(request, reply)
      forbidStoring(reply)
    } else if (session.clearClient) {
      session.transport.clear(request, reply)
      if (session.familyEnded) this.#refresh?.clear(request, reply)
      forbidStoring(reply)
    }
  }

  checkBudget (data: Record<string, unknown>): void {
    // base64url of the JSON (twice over when the signed token is encrypted), plus what every token carries
    const estimate = this.#overhead + Math.ceil(Buffer.byteLength(JSON.stringify(data)) * this.#growth)
    if (estimate > this.options.maxTokenBytes) throw new errors.FST_SESSIONKIT_TOKEN_TOO_LARGE(estimate, this.options.maxTokenBytes)
  }

  /**
   * Ends the session: its token revoked, and its family (a session with a user) or its lineage (one
   * without: every token it was issued as); `forget` tells the client to forget them.
   */
  async end (session: JwtSession, forget = true): Promise<void> {
    const { claims } = session
    if (claims !== null) {
      if (claims.fam !== undefined) {
        await this.#revoke(claims.jti, claims.exp * 1000)
        await this.endFamily(claims.fam)
      } else {
        // a first token's jti is its lineage, revoked below for as long as any token of it may live
        if (claims.lin !== undefined) await this.#revoke(claims.jti, claims.exp * 1000)
        await this.call(() => this.options.store.revokeToken(lineageOf(claims), this.#lineageTtl(claims)))
      }
    }
    session.drop()
    session.clearClient = forget
    session.familyEnded = true
  }

  async claim (session: JwtSession): Promise<boolean> {
    const { claims } = session
    if (claims === null) return true
    // a session with a user has a family: claimed, as remember() does
    if (claims.fam !== undefined) return await this.#claim(claims.fam, this.options.now()) !== null
    // one without: its lineage revoked here (the session ends next), unless a logout did it first
    return await this.#endLineage(claims)
  }

  /**
   * Ends the lineage of a session without a user (every token it was issued as), unless a logout
   * did first: whether this call ended it. Atomic with the store's `revokeTokenOnce`; a store
   * without it is read first.
   */
  async #endLineage (claims: AccessClaims): Promise<boolean> {
    const { store } = this.options
    const { revokeTokenOnce } = store
    if (revokeTokenOnce !== undefined) return await this.call(() => revokeTokenOnce.call(store, lineageOf(claims), this.#lineageTtl(claims)))
    if (await this.#lineageEnded(claims)) return false
    await this.call(() => store.revokeToken(lineageOf(claims), this.#lineageTtl(claims)))
    return true
  }

  async reload (session: JwtSession): Promise<void> {
    const { claims } = session
    let data: Record<string, unknown> | null = claims === null ? {} : claims.sk
    if (claims !== null) {
      const family = claims.fam
      if (await this.#revoked(claims)) data = null
      else if (family !== undefined) {
        const record = await this.call(() => this.options.store.get(family))
        data = record === null ? null : familyOf(record).sk
      }
    }
    // ended meanwhile: nothing is issued, and the client (which may hold a newer token) is told nothing
    if (data === null) session.drop()
    else session.reset(data)
  }

  /**
   * How long a lineage stays on the denylist: as long as a token of it may live (`accessTokenTtl`
   * from now: no token issued before now lives longer), or this token if it lives longer still.
   */
  #lineageTtl (claims: AccessClaims): number {
    const now = this.options.now()
    return Math.max(this.options.accessTtl, claims.exp * 1000 - now) + this.options.clockTolerance
  }

  /** Whether a token without a family, or its lineage, is on the denylist. */
  async #lineageEnded (claims: AccessClaims): Promise<boolean> {
    const { store } = this.options
    const { lin } = claims
    const [denied, ended] = await Promise.all([
      this.call(() => store.isTokenRevoked(claims.jti)),
      lin === undefined ? false : this.call(() => store.isTokenRevoked(lin))
    ])
    return denied || ended
  }

  /**
   * The session ended while this request ran (a logout, a login, a revocation elsewhere): nothing is
   * issued, and the client is told nothing. It may hold the newer credential of a login already,
   * which an answer clearing its cookies, arriving after the login's, would take away; the token it
   * sent is dead either way.
   */
  async #endedMeanwhile (session: JwtSession): Promise<void> {
    await this.end(session, false)
  }

  async issue (session: JwtSession): Promise<void> {
    const changes = session.collectChanges()
    const changed = changes.size > 0 || session.lifetimeChanged
    let data = session.current
    if (!changed) return
    const previous = session.claims
    if (previous === null && Object.keys(data).length === 0) return
    const { store } = this.options
    // taken before the denylist is read: a logout ending the lineage after that read keeps it on
    // the denylist for longer than the new token, issued at `now`, lives
    const now = this.options.now()
    const userId = this.options.userIdOf(data)
    // a session without a user (one with a family is checked against its family below): revoked
    // while this request ran (a logout elsewhere), re-issuing would bring it back. One that a user
    // logs in to without regenerate() ends here, as a change of user ends a family (below): no token
    // it was issued as outlives the login, and a logout that landed first wins
    if (previous !== null && previous.fam === undefined) {
      const live = userId === null ? !await this.#lineageEnded(previous) : await this.#endLineage(previous)
      if (!live) {
        await this.#endedMeanwhile(session)
        return
      }
    }
    // a login carried over (the user of the token this request came with, through a change,
    // remember() or regenerate(keep)) keeps the generation it was granted under, which the load
    // found current: a revocation since ("sign out everywhere") fails its new token at once. Only a
    // new login takes the user's generation of now. (A token with a user always has its `gen`.)
    const loaded = session.loaded
    const carried = userId !== null && loaded?.sub === userId
    const generation = userId === null ? 0 : carried ? loaded.gen as number : await this.call(() => store.userGeneration(userId))
    let family = previous?.sub === userId ? previous?.fam : undefined
    let refreshToken: string | null = null
    if (family !== previous?.fam && previous?.fam !== undefined) {
      // a session that changed user without regenerate(): its old family ends here
      await this.endFamily(previous.fam)
    }
    // when the family starts: now, or at the login of a family started again below
    let createdAt = now
    if (family !== undefined && session.lifetimeChanged && this.#refresh !== null) {
      // remember() on a live session: a refresh cookie keeps its token for a time of its own (its
      // Max-Age), which only a new token can change, so the family starts again, from the same login
      const login = await this.#claim(family, now)
      if (login === null) {
        await this.#endedMeanwhile(session)
        return
      }
      createdAt = login.createdAt
      // what other requests changed in the family meanwhile goes on with it, if it still fits
      data = applyChanges(familyOf(login).sk, changes)
      this.checkBudget(data)
      await this.endFamily(family)
      family = undefined
    }
    const remembered = session.remembered
    // a session without a user, re-issued, stays in its lineage: a logout of any of its tokens,
    // even one landing after the read above, ends the new one too
    const lineage = userId === null && previous !== null && previous.fam === undefined ? lineageOf(previous) : undefined
    const claims = this.#claims(data, userId, generation, family, now, remembered, lineage)
    let refreshKeepFor: number | undefined
    if (userId !== null && family === undefined) {
      if (carried && await this.call(() => store.userGeneration(userId)) > generation) {
        // revoked since the load while its login was carried over: no family starts for it
        await this.#endedMeanwhile(session)
        return
      }
      const familyToken = generateToken()
      const secret = generateToken()
      family = sessionIdOf(familyToken)
      claims.fam = family
      const record: StoredSession = {
        version: 1,
        createdAt,
        lastSeenAt: now,
        userId,
        remembered,
        data: { cur: sessionIdOf(secret), prev: null, until: 0, box: null, exp: claims.exp * 1000, gen: generation, sk: data } satisfies FamilyData
      }
      const ttl = this.#familyTtl(createdAt, now, remembered)
      await this.call(() => store.set(family as string, record, 0, ttl))
      // without refresh tokens the family still lists and revokes the session
      if (this.#refresh !== null) {
        refreshToken = `${familyToken}.${secret}`
        refreshKeepFor = remembered ? ttl : undefined
      }
    } else if (family !== undefined) {
      const id = family
      if (!await this.#follow(id, claims, changes, now, remembered)) {
        // the family was revoked meanwhile: this session is over, nothing is issued
        await this.#endedMeanwhile(session)
        return
      }
    }
    // the token this one replaces stays valid until its own expiry (revoking it would fail the
    // session's other requests in flight); logout and revocation end the whole family at once
    const token = this.codec.sign(claims)
    session.claims = claims
    session.issued = token
    if (refreshToken !== null) {
      session.refreshToken = refreshToken
      session.refreshKeepFor = refreshKeepFor
    }
    session.committed(claims.sk)
  }

  /**
   * POST /refresh: rotates the refresh token, or revokes its family when a spent one comes back. A
   * refused one gets a 401 and nothing else: Bearer clients drop it on the 401, and a browser keeps
   * the refresh cookie it holds, which may be a newer one (a login's) than the refused one.
   */
  async refresh (request: FastifyRequest, reply: FastifyReply): Promise<{ expiresAt: number }> {
    const channel = this.#refresh as RefreshChannel
    const raw = channel.read(request)
    const answer = raw !== undefined && REFRESH_TOKEN.test(raw) ? await this.#rotate(raw, reply) : null
    if (answer !== null) return answer
    forbidStoring(reply)
    throw new coreErrors.FST_SESSIONKIT_INVALID_CREDENTIAL()
  }

  /** The new pair for a live refresh token (or the same answer within the grace window); `null` when refused. */
  async #rotate (raw: string, reply: FastifyReply): Promise<{ expiresAt: number } | null> {
    const [familyToken, secret] = raw.split('.') as [string, string]
    const id = sessionIdOf(familyToken)
    const hash = sessionIdOf(secret)
    const { store } = this.options
    for (let attempt = 0; attempt < 5; attempt++) {
      const record = await this.call(() => store.get(id))
      if (record === null) break
      const family = familyOf(record)
      const now = this.options.now()
      const userId = family.userId
      const generation = await this.call(() => store.userGeneration(userId))
      if (generation > family.gen) {
        await this.endFamily(id)
        break
      }
      const remembered = record.remembered === true
      // the refresh cookie of a remembered family lives as long as the family, not longer
      const keepFor = remembered ? this.#familyTtl(record.createdAt, now, true) : undefined
      if (sameHash(hash, family.cur)) {
        const nextSecret = generateToken()
        const claims = this.#claims(family.sk, userId, generation, id, now, remembered)
        const access = this.codec.sign(claims)
        const refresh = `${familyToken}.${nextSecret}`
        const { userId: _owner, ...stored } = family
        const next: StoredSession = {
          ...record,
          version: record.version + 1,
          lastSeenAt: now,
          data: { ...stored, cur: sessionIdOf(nextSecret), prev: hash, until: now + this.options.refreshGrace, box: seal({ access, refresh }, secret), exp: claims.exp * 1000 } satisfies FamilyData
        }
        if (await this.call(() => store.set(id, next, record.version, this.#familyTtl(record.createdAt, now, remembered)))) {
          return this.#answer(reply, access, refresh, claims.exp * 1000, keepFor)
        }
        continue
      }
      if (sameHash(hash, family.prev) && now <= family.until && family.box !== null) {
        // a parallel retry of the refresh that just happened: the same answer, not a lock-out
        const answer = open(family.box, secret)
        if (answer !== null) return this.#answer(reply, answer.access, answer.refresh, family.exp, keepFor)
      }
      // a spent refresh token came back: someone else holds the chain; end the whole family, and
      // say so (a sign of theft), with the user and a prefix of the family id, never a token
      reply.request.log.warn({ event: 'sessionkit.refresh-reuse', userId, family: id.slice(0, 8) }, 'a spent or unknown refresh token of a live family: the family is revoked')
      await this.endFamily(id)
      break
    }
    return null
  }

  #answer (reply: FastifyReply, access: string, refresh: string, expiresAt: number, keepFor: number | undefined): { expiresAt: number } {
    this.options.transport.write(reply.request, reply, access, expiresAt, this.#accessKeepFor(keepFor !== undefined, expiresAt))
    ;(this.#refresh as RefreshChannel).write(reply.request, reply, refresh, keepFor)
    forbidStoring(reply)
    return { expiresAt }
  }

  /** A remembered session's access cookie outlives the browser session too, until the token expires. */
  #accessKeepFor (remembered: boolean, expiresAt: number): number | undefined {
    return remembered ? Math.max(1, expiresAt - this.options.now()) : undefined
  }

  /**
   * Claims a live family before it is ended for a new one (`remember()` starting it again,
   * `regenerate(keep)` carrying its keys over): a write conditional on the version read, so that a
   * logout landing between the read and the new family makes it fail (the record is gone) and no
   * new family outlives the logout. The family's record as claimed; `null` when it ended meanwhile.
   */
  async #claim (id: string, now: number): Promise<StoredSession | null> {
    const { store } = this.options
    for (let attempt = 0; attempt < 5; attempt++) {
      const record = await this.call(() => store.get(id))
      if (record === null) return null
      const claimed: StoredSession = { ...record, version: record.version + 1 }
      if (await this.call(() => store.set(id, claimed, record.version, this.#familyTtl(record.createdAt, now, record.remembered === true)))) return record
    }
    throw new coreErrors.FST_SESSIONKIT_WRITE_CONFLICT(5)
  }

  /**
   * Records the newest access token in the family, and this request's changes, key by key, in the
   * family's data, which the token then carries: what other requests changed meanwhile (other keys)
   * is kept, in the store and in this token. `false` when the family is gone.
   */
  async #follow (id: string, claims: AccessClaims, changes: ReadonlyMap<string, unknown>, now: number, remembered: boolean): Promise<boolean> {
    const { store } = this.options
    for (let attempt = 0; attempt < 5; attempt++) {
      const record = await this.call(() => store.get(id))
      if (record === null) return false
      const { userId: _owner, ...family } = familyOf(record)
      claims.sk = applyChanges(family.sk, changes)
      // what other requests added meanwhile may not fit with this request's own: refused, unwritten
      this.checkBudget(claims.sk)
      const next: StoredSession = { ...record, version: record.version + 1, lastSeenAt: now, remembered, data: { ...family, exp: claims.exp * 1000, sk: claims.sk } }
      if (await this.call(() => store.set(id, next, record.version, this.#familyTtl(record.createdAt, now, remembered)))) return true
    }
    throw new coreErrors.FST_SESSIONKIT_WRITE_CONFLICT(5)
  }

  /**
   * A family lives `refreshTokenTtl` from login (`remember.refreshTokenTtl` when remembered); without
   * refresh tokens, as long as its latest access token.
   */
  #familyTtl (createdAt: number, now: number, remembered: boolean): number {
    const { refreshTtl, rememberTtl, accessTtl } = this.options
    const life = remembered ? rememberTtl : refreshTtl
    return life === null ? accessTtl : Math.max(1, createdAt + life - now)
  }

  /**
   * Ends a refresh family and every access token it issued: the record goes, and the family id goes
   * on the denylist for as long as any of its tokens can live.
   */
  async endFamily (id: string): Promise<void> {
    const { store, accessTtl, clockTolerance } = this.options
    await this.call(() => store.destroy(id))
    await this.call(() => store.revokeToken(id, accessTtl + clockTolerance))
  }

  /** Puts a token id on the denylist for the rest of its lifetime. */
  async #revoke (jti: string, expiresAt: number): Promise<void> {
    const ttl = expiresAt + this.options.clockTolerance - this.options.now()
    if (ttl > 0) await this.call(() => this.options.store.revokeToken(jti, ttl))
  }

  /** Checked on every request, whether the token came from the cache or not. */
  async #revoked (claims: AccessClaims): Promise<boolean> {
    const { store } = this.options
    const { sub } = claims
    // a token has a family (with a user) or, re-issued without one, a lineage; never both
    const group = claims.fam ?? claims.lin
    const [denied, ended, generation] = await Promise.all([
      this.call(() => store.isTokenRevoked(claims.jti)),
      group === undefined ? false : this.call(() => store.isTokenRevoked(group)),
      sub === undefined ? 0 : this.call(() => store.userGeneration(sub))
    ])
    return denied || ended || generation > (claims.gen ?? 0)
  }

  #claims (data: Record<string, unknown>, userId: string | null, generation: number, family: string | undefined, now = this.options.now(), remembered = false, lineage?: string): AccessClaims {
    const { issuer, audience, accessTtl } = this.options
    return {
      jti: generateToken(),
      iat: seconds(now),
      exp: seconds(now + accessTtl),
      ...(userId === null ? {} : { sub: userId, gen: generation }),
      ...(family === undefined ? {} : { fam: family }),
      ...(lineage === undefined ? {} : { lin: lineage }),
      ...(remembered ? { rem: true as const } : {}),
      ...(issuer === undefined ? {} : { iss: issuer }),
      ...(audience === undefined ? {} : { aud: audience }),
      sk: data
    }
  }
}

/** `#revoked` for a store that answers at once. */
function revokedNow (sync: SyncAccess, claims: AccessClaims): boolean {
  const { sub } = claims
  const group = claims.fam ?? claims.lin
  // a token with a `sub` always carries its `gen` (verify refuses one without)
  return sync.isTokenRevoked(claims.jti) || (group !== undefined && sync.isTokenRevoked(group)) ||
    (sub !== undefined && sync.userGeneration(sub) > (claims.gen as number))
}

/** The lineage of a token without a family: the `jti` of the session's first token. */
function lineageOf (claims: AccessClaims): string {
  return claims.lin ?? claims.jti
}
