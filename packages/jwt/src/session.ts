import { SessionState, type SessionData, type SessionKey, type Transport } from '@sessionkit/core'
import type { AccessClaims } from './tokens.js'

/** What a token session asks of the engine that loaded it. */
export interface TokenBackend {
  /** Throws `FST_SESSIONKIT_TOKEN_TOO_LARGE` when this data could not fit the size budget. */
  checkBudget (data: Record<string, unknown>): void
  /** Revokes the current token (and its refresh family) now; `forget`: the client is told to forget them. */
  end (session: JwtSession, forget?: boolean): Promise<void>
  /**
   * Whether the session is still live, its family claimed so that a logout landing from now on is
   * seen: what `regenerate(keep)` carries over must never outlive a logout.
   */
  claim (session: JwtSession): Promise<boolean>
  /** Signs a token for the session as it is now, if it changed. */
  issue (session: JwtSession): Promise<void>
  /** Reads the session again: its revocation, and a family's newest data (see `Session.reload`). */
  reload (session: JwtSession): Promise<void>
}

/**
 * `request.session` over a JWT. The data lives in the token's `sk` claim; a changed session is
 * re-issued at the end of the request (and the token it replaces revoked).
 */
export class JwtSession extends SessionState {
  /** The claims of the token this request carried, or of the one it issued. */
  claims: AccessClaims | null
  /** The claims of the token this request carried, whatever happened since. */
  readonly loaded: AccessClaims | null
  readonly backend: TokenBackend
  /** A token to hand the client at the end of the request. */
  issued: string | null = null
  /** A refresh token to hand the client with it. */
  refreshToken: string | null = null
  /** The refresh family ended in this request (logout, regenerate): the client forgets its refresh token. */
  familyEnded = false
  /** How long the client keeps the refresh token handed out in this request (remembered families). */
  refreshKeepFor: number | undefined = undefined

  constructor (backend: TokenBackend, transport: Transport, claims: AccessClaims | null) {
    // verified claims are shared between requests: the session copies before it changes anything
    super(transport, claims === null ? {} : claims.sk)
    this.backend = backend
    this.claims = claims
    this.loaded = claims
  }

  /**
   * The refresh family when there is one (what `listUserSessions` lists), else the lineage: the
   * same for every token the session is issued as, until it ends or `regenerate()` starts another.
   */
  get id (): string | null {
    const claims = this.claims
    return claims === null ? null : claims.fam ?? claims.lin ?? claims.jti
  }

  get isNew (): boolean {
    return this.claims === null
  }

  get expiresAt (): number | null {
    return this.claims === null ? null : this.claims.exp * 1000
  }

  protected get savedRemembered (): boolean {
    return this.claims?.rem === true
  }

  override set<K extends SessionKey> (key: K, value: SessionData[K] | undefined): void {
    const had = this.has(key)
    const before = this.current[key]
    const changed = this.changes.has(key)
    const change = this.changes.get(key)
    super.set(key, value)
    try {
      this.backend.checkBudget(this.current)
    } catch (err) {
      // refused at the call, and the session is as it was
      if (had) this.current[key] = before
      else delete this.current[key]
      this.restoreChange(key, changed, change)
      throw err
    }
  }

  /** No token any more: none carried, none to hand out, no data. What ending or reloading an ended session leaves. */
  drop (): void {
    this.claims = null
    this.issued = null
    this.refreshToken = null
    this.refreshKeepFor = undefined
    this.reset({})
  }

  async regenerate (keep: readonly SessionKey[] = []): Promise<void> {
    this.assertOpen('regenerate')
    const kept = this.kept(keep)
    const remembered = this.remembered
    // kept keys come only from a session still live: one a logout ended while this request ran
    // carries nothing over, and its client is told nothing
    if (Object.keys(kept).length > 0 && !await this.backend.claim(this)) {
      await this.backend.end(this, false)
      return
    }
    await this.backend.end(this)
    for (const key of Object.keys(kept)) this.set(key, kept[key])
    if (remembered) this.remember()
  }

  async destroy (): Promise<void> {
    this.assertOpen('destroy')
    await this.backend.end(this)
  }

  /** A token session has no server-side idle expiry to move: nothing to do. */
  touch (): void {}

  async save (): Promise<void> {
    this.assertOpen('save')
    await this.backend.issue(this)
  }

  async reload (): Promise<void> {
    this.assertOpen('reload')
    await this.backend.reload(this)
  }
}
