import type { Session, SessionData, SessionKey, StoredSession, Transport } from './contract.js'
import { errors } from './errors.js'
import { assertKey, cloneStorable } from './values.js'

/** What a server session asks of the engine that loaded it. */
export interface SessionBackend {
  readonly idleTimeout: number
  readonly absoluteTimeout: number
  destroyStored (id: string): Promise<void>
  sign (token: string): string
  persist (session: ServerSession): Promise<void>
}

const hasOwn = Object.hasOwn

/**
 * One request's view of a server-side session. It records what the request changed, key by key, so
 * that the engine can merge those changes into a newer version written meanwhile by another request.
 */
export class ServerSession implements Session {
  /** The record as loaded or last saved; `null` for a session not (or no longer) in the store. */
  record: StoredSession | null
  /** The credential's random part; `null` until issued. */
  token: string | null
  #id: string | null
  #data: Record<string, unknown>
  /** Keys set (value) or deleted (`undefined`) by this request. */
  readonly changes = new Map<string, unknown>()
  /** JSON of object values handed out by `get`, to see changes made inside them. */
  readonly #snapshots = new Map<string, string>()
  readonly backend: SessionBackend
  /** The transport that carried the credential, or that will carry a new one. */
  readonly transport: Transport
  /** The credential must be (re)written to the client at the end of the request. */
  issue = false
  /** The client's credential must be cleared, unless a new one is issued. */
  clearClient = false
  touchRequested = false
  /** The request failed: nothing is saved. */
  failed = false
  /** The response is under way: the session no longer changes. */
  closed = false

  constructor (backend: SessionBackend, transport: Transport, loaded: { token: string, id: string, record: StoredSession } | null) {
    this.backend = backend
    this.transport = transport
    this.record = loaded?.record ?? null
    this.token = loaded?.token ?? null
    this.#id = loaded?.id ?? null
    this.#data = loaded?.record.data ?? {}
  }

  get id (): string | null {
    return this.#id
  }

  get isNew (): boolean {
    return this.record === null
  }

  get isModified (): boolean {
    return this.collectChanges().size > 0
  }

  get expiresAt (): number | null {
    const record = this.record
    if (record === null) return null
    return Math.min(record.lastSeenAt + this.backend.idleTimeout, record.createdAt + this.backend.absoluteTimeout)
  }

  /** The signed credential of a saved session; `null` before the first save. */
  credential (): string | null {
    return this.token === null ? null : this.backend.sign(this.token)
  }

  /** The working data, this request's changes applied. */
  get current (): Record<string, unknown> {
    return this.#data
  }

  get<K extends SessionKey> (key: K): SessionData[K] | undefined {
    if (!hasOwn(this.#data, key)) return undefined
    const value = this.#data[key]
    if (value !== null && typeof value === 'object' && !this.changes.has(key) && !this.#snapshots.has(key)) {
      this.#snapshots.set(key, JSON.stringify(value))
    }
    return value as SessionData[K]
  }

  set<K extends SessionKey> (key: K, value: SessionData[K] | undefined): void {
    assertKey(key)
    this.#assertOpen('set')
    if (value === undefined) {
      this.delete(key)
      return
    }
    const copy = cloneStorable(key, value)
    this.#data[key] = copy
    this.changes.set(key, copy)
    this.#snapshots.delete(key)
  }

  has (key: SessionKey): boolean {
    return hasOwn(this.#data, key)
  }

  delete (key: SessionKey): void {
    assertKey(key)
    this.#assertOpen('delete')
    if (!hasOwn(this.#data, key)) return
    delete this.#data[key]
    this.changes.set(key, undefined)
    this.#snapshots.delete(key)
  }

  data (): Partial<SessionData> {
    return JSON.parse(JSON.stringify(this.#data))
  }

  toJSON (): Partial<SessionData> {
    return this.data()
  }

  async regenerate (keep: readonly SessionKey[] = []): Promise<void> {
    this.#assertOpen('regenerate')
    const kept: Record<string, unknown> = {}
    for (const key of keep) {
      assertKey(key)
      if (hasOwn(this.#data, key)) kept[key] = cloneStorable(key, this.#data[key])
    }
    await this.#end()
    for (const key of Object.keys(kept)) this.set(key, kept[key])
  }

  async destroy (): Promise<void> {
    this.#assertOpen('destroy')
    await this.#end()
  }

  touch (): void {
    this.touchRequested = true
  }

  async save (): Promise<void> {
    this.#assertOpen('save')
    await this.backend.persist(this)
  }

  /**
   * Every change this request made: the keys it set or deleted, and the object values it read and
   * then changed in place.
   */
  collectChanges (): Map<string, unknown> {
    if (this.#snapshots.size === 0) return this.changes
    for (const [key, before] of this.#snapshots) {
      const value = this.#data[key]
      // re-validated here: an object changed in place never went through set()
      const copy = cloneStorable(key, value)
      if (JSON.stringify(copy) !== before) {
        this.#data[key] = copy
        this.changes.set(key, copy)
        this.#snapshots.delete(key)
      }
    }
    return this.changes
  }

  /** After a successful write: the record now stored, with nothing left to save. */
  saved (token: string, id: string, record: StoredSession): void {
    if (this.token !== token) this.issue = true
    this.token = token
    this.#id = id
    this.record = record
    this.#data = record.data
    this.changes.clear()
    this.#snapshots.clear()
  }

  /** The session ended elsewhere while this request ran: it is not written back. */
  gone (): void {
    this.record = null
    this.token = null
    this.#id = null
    this.#data = {}
    this.changes.clear()
    this.#snapshots.clear()
    this.issue = false
    this.clearClient = true
  }

  async #end (): Promise<void> {
    if (this.#id !== null && this.record !== null) await this.backend.destroyStored(this.#id)
    this.gone()
  }

  #assertOpen (what: string): void {
    if (this.closed) throw new errors.FST_SESSIONKIT_SESSION_CLOSED(`${what}() after the response was sent`)
  }
}

/**
 * The credential of a saved server-side session, for transports that hand it out themselves (the
 * query transport builds links with it); `null` for a session not yet saved or not server-side.
 */
export function sessionCredential (session: Session | null): string | null {
  return session instanceof ServerSession ? session.credential() : null
}
