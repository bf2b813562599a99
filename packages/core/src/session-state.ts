import type { Session, SessionData, SessionKey, Transport } from './contract.js'
import { errors } from './errors.js'
import { assertKey, cloneStorable } from './values.js'

const hasOwn = Object.hasOwn
/** The changes of a session that has none: shared, never written to. */
const NO_CHANGES: ReadonlyMap<string, unknown> = new Map()

/**
 * The data side of `request.session`, shared by every mechanism: get, set, delete, copies, and a
 * key-by-key record of what this request changed (including changes made inside objects read with
 * `get`), so that a store can merge them into a newer version and a token can be re-issued only
 * when something changed. Mechanisms extend it with their lifecycle (`regenerate`, `destroy`, ...).
 */
export abstract class SessionState implements Session {
  /**
   * The data as loaded, then this request's changes applied. Until the first change it may be shared
   * (a store's frozen record, a verified token's claims) and is only read: the first change copies
   * it, and an object value is copied before it is handed out.
   */
  #data: Record<string, unknown>
  #owned = false
  /**
   * Keys set (value) or deleted (`undefined`) by this request; made at the first change, so that a
   * request that changes nothing allocates no map.
   */
  #changes: Map<string, unknown> | null = null
  /** JSON of object values handed out by `get`, to see changes made inside them; made at the first. */
  #snapshots: Map<string, string> | null = null
  /** The transport that carried the credential, or that will carry a new one. */
  readonly transport: Transport
  /** The client's credential must be cleared, unless a new one is issued. */
  clearClient = false
  /** The request failed: nothing is saved. */
  failed = false
  /** The response is under way: the session no longer changes. */
  closed = false
  /** What `remember()` asked in this request; `null` when it was not called. */
  #remember: boolean | null = null

  constructor (transport: Transport, data: Record<string, unknown>) {
    this.transport = transport
    this.#data = data
  }

  abstract readonly id: string | null
  abstract readonly isNew: boolean
  abstract readonly expiresAt: number | null
  abstract regenerate (keep?: readonly SessionKey[]): Promise<void>
  abstract destroy (): Promise<void>
  abstract touch (): void
  abstract save (): Promise<void>
  abstract reload (): Promise<void>
  /** Whether the session as saved (its record, its token) is remembered. */
  protected abstract readonly savedRemembered: boolean

  get remembered (): boolean {
    return this.#remember ?? this.savedRemembered
  }

  remember (on = true): void {
    this.assertOpen('remember')
    if (typeof on !== 'boolean') throw new errors.FST_SESSIONKIT_INVALID_VALUE('(remember)', 'remember() takes true or false')
    this.#remember = on
  }

  /** `remember()` asked for another lifetime than the saved one: the session must be written again. */
  get lifetimeChanged (): boolean {
    return this.#remember !== null && this.#remember !== this.savedRemembered
  }

  get isModified (): boolean {
    return this.collectChanges().size > 0
  }

  /** Keys set (value) or deleted (`undefined`) by this request, as recorded so far (see `collectChanges`). */
  get changes (): ReadonlyMap<string, unknown> {
    return this.#changes ?? NO_CHANGES
  }

  /** The working data, this request's changes applied. */
  get current (): Record<string, unknown> {
    return this.#data
  }

  get<K extends SessionKey> (key: K): SessionData[K] | undefined {
    if (!hasOwn(this.#data, key)) return undefined
    let value = this.#data[key]
    if (value !== null && typeof value === 'object' && !this.changes.has(key) && this.#snapshots?.has(key) !== true) {
      // this request's own copy: changes made inside it are found at the end, by its snapshot
      const snapshot = JSON.stringify(value)
      this.#watch(key, snapshot)
      value = JSON.parse(snapshot)
      this.#own()[key] = value
    }
    return value as SessionData[K]
  }

  set<K extends SessionKey> (key: K, value: SessionData[K] | undefined): void {
    assertKey(key)
    this.assertOpen('set')
    if (value === undefined) {
      this.delete(key)
      return
    }
    const copy = cloneStorable(key, value)
    this.#own()[key] = copy
    this.#record(key, copy)
    this.#snapshots?.delete(key)
  }

  has (key: SessionKey): boolean {
    return hasOwn(this.#data, key)
  }

  delete (key: SessionKey): void {
    assertKey(key)
    this.assertOpen('delete')
    if (!hasOwn(this.#data, key)) return
    delete this.#own()[key]
    this.#record(key, undefined)
    this.#snapshots?.delete(key)
  }

  data (): Partial<SessionData> {
    return JSON.parse(JSON.stringify(this.#data))
  }

  toJSON (): Partial<SessionData> {
    return this.data()
  }

  /**
   * Every change this request made: the keys it set or deleted, and the object values it read and
   * then changed in place.
   */
  collectChanges (): ReadonlyMap<string, unknown> {
    const snapshots = this.#snapshots
    if (snapshots === null) return this.changes
    for (const [key, before] of snapshots) {
      const value = this.#data[key]
      // re-validated here: an object changed in place never went through set(). The request keeps
      // its object, still watched (it may change it again); what is written is the copy.
      const copy = cloneStorable(key, value)
      const after = JSON.stringify(copy)
      if (after !== before) {
        this.#record(key, copy)
        snapshots.set(key, after)
      }
    }
    return this.changes
  }

  /** The copies of the listed keys, for `regenerate(keep)`. */
  kept (keep: readonly SessionKey[]): Record<string, unknown> {
    const kept: Record<string, unknown> = {}
    for (const key of keep) {
      assertKey(key)
      if (hasOwn(this.#data, key)) kept[key] = cloneStorable(key, this.#data[key])
    }
    return kept
  }

  /**
   * After a save: `data` is what was saved, and no change is left. An object the request may still
   * hold (read with `get`, or set) stays watched, so that a change made inside it after the save is
   * saved too.
   */
  committed (data: Record<string, unknown>): void {
    const watched = this.closed ? [] : [...this.#snapshots?.keys() ?? [], ...this.changes.keys()]
    this.reset(data)
    for (const key of watched) {
      const value = data[key]
      if (value !== null && typeof value === 'object') this.#watch(key, JSON.stringify(value))
    }
  }

  /** Replaces the data and forgets every change, a `remember()` included: after a save, or when the session ends. */
  reset (data: Record<string, unknown>): void {
    this.#data = data
    this.#owned = false
    this.#changes = null
    this.#snapshots = null
    this.#remember = null
  }

  /**
   * Puts the change of `key` back as it was before a `set()` that had to be refused: `change` is
   * what `changes.get(key)` gave before it, `changed` whether `changes.has(key)` did.
   */
  protected restoreChange (key: string, changed: boolean, change: unknown): void {
    if (changed) this.#record(key, change)
    else this.#changes?.delete(key)
  }

  #record (key: string, value: unknown): void {
    (this.#changes ??= new Map()).set(key, value)
  }

  #watch (key: string, snapshot: string): void {
    (this.#snapshots ??= new Map()).set(key, snapshot)
  }

  /** The data, copied first if it is not this session's own yet. */
  #own (): Record<string, unknown> {
    if (!this.#owned) {
      this.#data = { ...this.#data }
      this.#owned = true
    }
    return this.#data
  }

  assertOpen (what: string): void {
    if (this.closed) throw new errors.FST_SESSIONKIT_SESSION_CLOSED(`${what}() after the response was sent`)
  }
}
