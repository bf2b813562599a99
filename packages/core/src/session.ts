import type { Session, SessionKey, StoredSession, Transport } from './contract.js'
import { SessionState } from './session-state.js'

/** What a server session asks of the engine that loaded it. */
export interface SessionBackend {
  /** The idle and absolute timeouts of a session, remembered or not. */
  timeouts (remembered: boolean): { readonly idleTimeout: number, readonly absoluteTimeout: number }
  destroyStored (id: string): Promise<void>
  /** The live record under `id`, read again; `null` when it ended (deleted, expired). */
  reread (id: string): Promise<StoredSession | null>
  /**
   * Claims the live record under `id` before it is ended (a write conditional on its version), so
   * that what a request carries over from it never outlives a logout landing meanwhile. The user
   * the kept keys carry, if any, with that user's generation read before the claim; `null` when the
   * session ended meanwhile.
   */
  carry (id: string, kept: Record<string, unknown>): Promise<{ user: Carried | null } | null>
  sign (token: string): string
  persist (session: ServerSession): Promise<void>
  /** Whether saving the session would move it to a new credential (a change of user). */
  movesUser (session: ServerSession): boolean
}

/** The user a `regenerate(keep)` carried over, and that user's generation when it did. */
export interface Carried { userId: string, generation: number }

/**
 * One request's view of a server-side session. It records what the request changed, key by key, so
 * that the engine can merge those changes into a newer version written meanwhile by another request.
 */
export class ServerSession extends SessionState {
  /** The record as loaded or last saved; `null` for a session not (or no longer) in the store. */
  record: StoredSession | null
  /** The credential's random part; `null` until issued. */
  token: string | null
  #id: string | null
  /** The signed credential, once computed (or handed over with a fresh token). */
  #credential: string | null = null
  readonly backend: SessionBackend
  /** The credential must be (re)written to the client at the end of the request. */
  issue = false
  touchRequested = false
  /** `lastSeenAt` as loaded: a record that no longer says so was seen by this request. */
  readonly loadedSeenAt: number | null
  /**
   * The user `regenerate(keep)` carried over into the session not saved yet: a revocation of that
   * user landing before the save ends it (see the engine's `persist`).
   */
  carried: Carried | null = null

  constructor (backend: SessionBackend, transport: Transport, loaded: { token: string, id: string, record: StoredSession } | null) {
    super(transport, loaded?.record.data ?? {})
    this.backend = backend
    this.record = loaded?.record ?? null
    this.loadedSeenAt = loaded?.record.lastSeenAt ?? null
    this.token = loaded?.token ?? null
    this.#id = loaded?.id ?? null
  }

  get id (): string | null {
    return this.#id
  }

  get isNew (): boolean {
    return this.record === null
  }

  get expiresAt (): number | null {
    const record = this.record
    if (record === null) return null
    const { idleTimeout, absoluteTimeout } = this.backend.timeouts(record.remembered === true)
    return Math.min(record.lastSeenAt + idleTimeout, record.createdAt + absoluteTimeout)
  }

  protected get savedRemembered (): boolean {
    return this.record?.remembered === true
  }

  /** The signed credential of a saved session; `null` before the first save. */
  credential (): string | null {
    if (this.token === null) return null
    this.#credential ??= this.backend.sign(this.token)
    return this.#credential
  }

  async regenerate (keep: readonly SessionKey[] = []): Promise<void> {
    this.assertOpen('regenerate')
    const kept = this.kept(keep)
    const remembered = this.remembered
    const id = this.#id
    // a login an earlier regenerate(keep) of this request carried over, not saved yet, stays carried
    let carried = this.carried
    if (id !== null && this.record !== null && Object.keys(kept).length > 0) {
      // kept keys come only from a session still live: one a logout ended while this request ran
      // carries nothing over (as a session moved by a change of user), and its client is told nothing
      const live = await this.backend.carry(id, kept)
      if (live === null) {
        this.gone(false)
        return
      }
      carried = live.user
    }
    await this.#end()
    this.carried = carried
    for (const key of Object.keys(kept)) this.set(key, kept[key])
    if (remembered) this.remember()
  }

  async destroy (): Promise<void> {
    this.assertOpen('destroy')
    await this.#end()
  }

  touch (): void {
    this.touchRequested = true
  }

  async save (): Promise<void> {
    this.assertOpen('save')
    await this.backend.persist(this)
  }

  async reload (): Promise<void> {
    this.assertOpen('reload')
    const id = this.#id
    if (id === null || this.record === null) {
      // never saved (or ended in this request): nothing stored to read, the changes go
      this.reset({})
      this.carried = null
      return
    }
    const record = await this.backend.reread(id)
    if (record === null) {
      // ended meanwhile: the client may hold a newer credential already, so it is told nothing
      this.gone(false)
      return
    }
    this.record = record
    this.reset(record.data)
  }

  /**
   * After a successful write: the record now stored, with nothing left to save. A new token may come
   * with its credential already signed.
   */
  saved (token: string, id: string, record: StoredSession, credential: string | null = null): void {
    if (this.token !== token) {
      this.issue = true
      this.#credential = credential
    }
    this.token = token
    this.#id = id
    this.record = record
    this.committed(record.data)
  }

  /**
   * The session is over for this request and is not written back. `forget`: the client is told to
   * forget its credential (this request ended the session), or told nothing (it ended elsewhere).
   */
  gone (forget: boolean): void {
    this.record = null
    this.token = null
    this.#credential = null
    this.#id = null
    this.reset({})
    this.issue = false
    this.carried = null
    this.clearClient = forget
  }

  async #end (): Promise<void> {
    const id = this.#id
    if (id !== null && this.record !== null) await this.backend.destroyStored(id)
    this.gone(true)
  }
}

/**
 * The credential of a saved server-side session, for transports that hand it out themselves (the
 * query transport builds links with it); `null` for a session not yet saved or not server-side.
 */
export function sessionCredential (session: Session | null): string | null {
  return session instanceof ServerSession ? session.credential() : null
}

/**
 * Whether the credential `sessionCredential` gives now will be replaced when the session is saved:
 * this request changed its user without `regenerate()`, so the session moves to a new credential
 * (and the current one dies) at the save. A link built with it now would lead nowhere.
 */
export function credentialWillChange (session: Session | null): boolean {
  return session instanceof ServerSession && session.record !== null && session.backend.movesUser(session)
}
