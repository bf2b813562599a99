import type { SessionStore, SessionSummary, StoredSession, SyncAccess } from './contract.js'
import { errors } from './errors.js'
import { OldestKeys } from './oldest-keys.js'

export interface MemoryStoreOptions {
  /**
   * The most sessions kept at once; past it the least recently active is evicted.
   * @default 100000
   */
  maxEntries?: number | undefined
  /**
   * The most token revocations (the JWT denylist) kept at once, each until the token would have
   * expired. Past it a revocation fails (`FST_SESSIONKIT_STORE_FULL`, answered 503): none already
   * made is ever dropped, and memory stays bounded whatever clients send (about 240 bytes each).
   * @default 100000
   */
  maxRevocations?: number | undefined
  /**
   * How often expired entries are swept (milliseconds), whether or not anyone reads them.
   * @default 60000
   */
  sweepInterval?: number | undefined
  /** The clock, for tests. @default Date.now */
  now?: (() => number) | undefined
}

/** The unit a time is split at (see `Entry`): 2^30 ms, about 12 days. */
const SPLIT = 2 ** 30

/**
 * A stored session. Its three times (epoch milliseconds) are each kept as two small integers, the
 * time over and modulo 2^30: a field holding a number past V8's small integers is a heap number of
 * its own, so three more objects per session for the GC to copy and mark, and 48 bytes more
 * (`node --expose-gc bench/src/memory.js`). Read and written with `createdAt` and the rest.
 *
 * Made by one object literal (`entryOf`), not a class: V8 tracks where a literal's objects end up,
 * and once nearly all of them outlive the young generation (a stored session does) it allocates
 * them in the old one directly, so the GC no longer copies each entry out of the young generation
 * (`node --trace-gc-nvp bench/src/server.js sessionkit-cookie` under `POST /write`: 200 KB promoted
 * per scavenge, 348 KB with a class).
 */
interface Entry {
  /** The session id. */
  readonly id: string
  /** The next session whose id has the same slot (`slotOf`): rare, a chain of two at most, nearly always. */
  next: Entry | undefined
  /**
   * The record's data, a deep copy frozen all through: isolated from every caller's objects, and
   * read by the engines without a copy (`sync.get`).
   */
  readonly data: Readonly<Record<string, unknown>>
  readonly version: number
  readonly userId: string | null
  readonly remembered: boolean
  readonly createdHigh: number
  readonly createdLow: number
  seenHigh: number
  seenLow: number
  expiresHigh: number
  expiresLow: number
}

function entryOf (id: string, record: StoredSession, data: Readonly<Record<string, unknown>>, expires: number): Entry {
  const createdHigh = high(record.createdAt)
  const seenHigh = high(record.lastSeenAt)
  const expiresHigh = high(expires)
  return {
    id,
    next: undefined,
    data,
    version: record.version,
    userId: record.userId,
    remembered: record.remembered === true,
    createdHigh,
    createdLow: low(record.createdAt, createdHigh),
    seenHigh,
    seenLow: low(record.lastSeenAt, seenHigh),
    expiresHigh,
    expiresLow: low(expires, expiresHigh)
  }
}

const createdAt = (entry: Entry): number => entry.createdHigh * SPLIT + entry.createdLow
const lastSeenAt = (entry: Entry): number => entry.seenHigh * SPLIT + entry.seenLow
const expiresAt = (entry: Entry): number => entry.expiresHigh * SPLIT + entry.expiresLow

/** Moves a stored session's last activity and expiry (a touch). */
function touched (entry: Entry, seen: number, expires: number): void {
  entry.seenHigh = high(seen)
  entry.seenLow = low(seen, entry.seenHigh)
  entry.expiresHigh = high(expires)
  entry.expiresLow = low(expires, entry.expiresHigh)
}

/**
 * The high part of a time: a small integer for any safe integer, whose low part (`low`) is one too.
 * Anything else (a fraction, say) is all low part, kept exactly. (`| 0`: an arithmetic result is
 * stored as a heap number unless it is made an integer so.)
 */
function high (time: number): number {
  return Number.isSafeInteger(time) ? Math.floor(time / SPLIT) | 0 : 0
}

/** The rest of a time past its high part: 0 to 2^30 - 1 for a safe integer. */
function low (time: number, upper: number): number {
  const rest = time - upper * SPLIT
  return Number.isSafeInteger(time) ? rest | 0 : rest
}

/**
 * The embedded store: one process, nothing to run. Sessions, the per-user index and the revocation
 * lists live in maps that sweep themselves; use `@sessionkit/redis` as soon as two processes must
 * share sessions.
 */
export class MemoryStore implements SessionStore {
  readonly boundedLatency: boolean = true
  /**
   * The reads and writes of every request, answered at once. Absent on a subclass that overrides
   * any of them, so that its overrides are what the engines call.
   */
  readonly sync: SyncAccess | undefined = overridesAccess(this)
    ? undefined
    : {
        get: (id) => this.#get(id),
        isTokenRevoked: (jti) => this.#isTokenRevoked(jti),
        userGeneration: (userId) => this.#generations.get(userId) ?? 0,
        set: (id, record, expectedVersion, ttl) => this.#set(id, record, expectedVersion, ttl),
        merge: (id, changes, meta, ttl) => this.#merge(id, changes, meta, ttl),
        touch: (id, lastSeenAt, ttl) => this.#touch(id, lastSeenAt, ttl)
      }

  /**
   * The sessions by slot (`slotOf`), each slot the head of its chain (`Entry.next`). A small
   * integer key is found without reading the keys it is compared with: a write puts a new id into a
   * map of a hundred thousand, and with string keys each comparison along the way read a string from
   * somewhere in the heap, a cache miss each (`pnpm --filter @sessionkit/bench run native write bare
   * sessionkit-header`: 0.8 µs per write in the map's lookup, on a 2-core EPYC).
   */
  readonly #sessions = new Map<number, Entry>()
  /** How many sessions are held: the slots hold as many, or a few more in chains. */
  #count = 0
  /**
   * Map order is activity order (a written or touched session's slot is re-inserted): oldest first.
   * A slot of two sessions is as recent as the later of them, and is evicted whole: both are older
   * than any other.
   */
  readonly #leastActive = new OldestKeys(this.#sessions)
  /** User id to session id, or to a set of them: one string for the common one-session user. */
  readonly #users = new Map<string, string | Set<string>>()
  readonly #revoked = new Map<string, number>()
  readonly #generations = new Map<string, number>()
  readonly #maxEntries: number
  readonly #maxRevocations: number
  /** When the denylist, full, was last swept for expired entries (at most once a second). */
  #revokedSweptAt = -Infinity
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined

  constructor (options: MemoryStoreOptions = {}) {
    const { maxEntries = 100_000, maxRevocations = 100_000, sweepInterval = 60_000, now = Date.now } = options
    for (const [name, value] of [['maxEntries', maxEntries], ['maxRevocations', maxRevocations]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new errors.FST_SESSIONKIT_INVALID_OPTION(name, 'must be a positive integer')
    }
    if (!Number.isInteger(sweepInterval) || sweepInterval < 1) {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION('sweepInterval', 'must be a positive integer (milliseconds)')
    }
    if (typeof now !== 'function') {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION('now', 'must be a function returning epoch milliseconds')
    }
    this.#maxEntries = maxEntries
    this.#maxRevocations = maxRevocations
    this.#now = now
    this.#timer = setInterval(() => this.sweep(), sweepInterval).unref()
  }

  /** How many sessions are held, expired ones not yet swept included. */
  get size (): number {
    return this.#count
  }

  async get (id: string): Promise<StoredSession | null> {
    const record = this.#get(id)
    // the caller's own copy, to change as it likes
    if (record !== null) record.data = JSON.parse(JSON.stringify(record.data))
    return record
  }

  /** The record, its data the stored one: frozen, shared, read without a copy. */
  #get (id: string): StoredSession | null {
    const entry = this.#live(id)
    if (entry === undefined) return null
    return {
      version: entry.version,
      createdAt: createdAt(entry),
      lastSeenAt: lastSeenAt(entry),
      userId: entry.userId,
      remembered: entry.remembered,
      data: entry.data as Record<string, unknown>
    }
  }

  async set (id: string, record: StoredSession, expectedVersion: number, ttl: number): Promise<boolean> {
    return this.#set(id, record, expectedVersion, ttl)
  }

  #set (id: string, record: StoredSession, expectedVersion: number, ttl: number): boolean {
    const slot = slotOf(id)
    const current = this.#live(id, slot)
    if ((current?.version ?? 0) !== expectedVersion) return false
    if (current === undefined && this.#count >= this.#maxEntries) this.#evict()
    this.#write(id, slot, record, frozenValue(record.data) as Readonly<Record<string, unknown>>, current, ttl)
    return true
  }

  #write (id: string, slot: number, record: StoredSession, data: Readonly<Record<string, unknown>>, current: Entry | undefined, ttl: number): void {
    const entry = entryOf(id, record, data, this.#now() + ttl)
    const head = this.#sessions.get(slot)
    if (head === undefined) {
      this.#sessions.set(slot, entry)
      this.#count++
    } else {
      if (current === undefined) this.#count++
      else if (current.userId !== entry.userId) this.#unindex(id, current.userId)
      // the new entry first, in place of the old one; the slot re-inserted, so that map order is
      // activity order and eviction takes the least recently active
      entry.next = current === undefined ? head : unlinked(head, current)
      this.#sessions.delete(slot)
      this.#sessions.set(slot, entry)
    }
    this.#index(id, entry.userId)
  }

  async merge (id: string, changes: ReadonlyMap<string, unknown>, meta: { lastSeenAt: number, userId?: string | null | undefined }, ttl: number): Promise<number | null> {
    return this.#merge(id, changes, meta, ttl)
  }

  #merge (id: string, changes: ReadonlyMap<string, unknown>, meta: { lastSeenAt: number, userId?: string | null | undefined }, ttl: number): number | null {
    const slot = slotOf(id)
    const entry = this.#live(id, slot)
    if (entry === undefined) return null
    // the stored values are frozen already: only the changed ones are copied
    const data: Record<string, unknown> = { ...entry.data }
    for (const [key, value] of changes) {
      if (value === undefined) delete data[key]
      else data[key] = frozenValue(value)
    }
    Object.freeze(data)
    const record = { version: entry.version + 1, createdAt: createdAt(entry), lastSeenAt: meta.lastSeenAt, userId: meta.userId === undefined ? entry.userId : meta.userId, remembered: entry.remembered, data }
    this.#write(id, slot, record, data, entry, ttl)
    return record.version
  }

  async touch (id: string, lastSeenAt: number, ttl: number): Promise<boolean> {
    return this.#touch(id, lastSeenAt, ttl)
  }

  #touch (id: string, lastSeenAt: number, ttl: number): boolean {
    const slot = slotOf(id)
    const entry = this.#live(id, slot)
    if (entry === undefined) return false
    touched(entry, lastSeenAt, this.#now() + ttl)
    const head = this.#sessions.get(slot) as Entry
    this.#sessions.delete(slot)
    this.#sessions.set(slot, head)
    return true
  }

  async destroy (id: string): Promise<void> {
    this.#remove(id)
  }

  async listUserSessions (userId: string): Promise<SessionSummary[]> {
    const list: SessionSummary[] = []
    for (const id of this.#idsOf(userId)) {
      const entry = this.#live(id)
      if (entry !== undefined) list.push({ id, createdAt: createdAt(entry), lastSeenAt: lastSeenAt(entry) })
    }
    return list
  }

  async destroyUserSessions (userId: string, exceptId?: string): Promise<number> {
    let count = 0
    for (const id of this.#idsOf(userId)) {
      if (id === exceptId) continue
      // the index holds stored sessions alone; each is found once, and dropped whether live or
      // expired: an expired one is no session to count
      const slot = slotOf(id)
      const entry = this.#find(id, slot) as Entry
      if (expiresAt(entry) > this.#now()) count++
      this.#drop(entry, slot)
    }
    return count
  }

  async revokeToken (jti: string, ttl: number): Promise<void> {
    this.#revoke(jti, ttl)
  }

  #revoke (jti: string, ttl: number): void {
    const revoked = this.#revoked
    if (revoked.size >= this.#maxRevocations && !revoked.has(jti)) {
      // expired entries make room; looked for at most once a second, so that a full list costs a
      // revocation a lookup, not a walk of the whole list
      const now = this.#now()
      if (now - this.#revokedSweptAt >= 1_000) {
        this.#revokedSweptAt = now
        this.#sweepRevoked(now)
      }
      if (revoked.size >= this.#maxRevocations) throw new errors.FST_SESSIONKIT_STORE_FULL(this.#maxRevocations)
    }
    revoked.set(jti, this.#now() + ttl)
  }

  async isTokenRevoked (jti: string): Promise<boolean> {
    return this.#isTokenRevoked(jti)
  }

  async revokeTokenOnce (jti: string, ttl: number): Promise<boolean> {
    if (this.#isTokenRevoked(jti)) return false
    this.#revoke(jti, ttl)
    return true
  }

  #isTokenRevoked (jti: string): boolean {
    const until = this.#revoked.get(jti)
    if (until === undefined) return false
    if (until > this.#now()) return true
    this.#revoked.delete(jti)
    return false
  }

  async userGeneration (userId: string): Promise<number> {
    return this.#generations.get(userId) ?? 0
  }

  async bumpUserGeneration (userId: string): Promise<number> {
    const next = (this.#generations.get(userId) ?? 0) + 1
    this.#generations.set(userId, next)
    return next
  }

  /** Deletes every expired session and denylist entry, reading none of them. */
  sweep (): void {
    const now = this.#now()
    for (const [slot, head] of this.#sessions) {
      for (let entry: Entry | undefined = head; entry !== undefined; entry = entry.next) {
        if (expiresAt(entry) <= now) this.#drop(entry, slot)
      }
    }
    this.#sweepRevoked(now)
    // the map may now shrink and grow again below its cap, with nothing evicted to move the cursor
    this.#leastActive.release()
  }

  #sweepRevoked (now: number): void {
    for (const [jti, until] of this.#revoked) {
      if (until <= now) this.#revoked.delete(jti)
    }
  }

  /** Stops the sweep timer. The store keeps working; nothing is swept on a schedule any more. */
  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** The live session under `id` (in `slot`, its `slotOf`); an expired one is deleted on sight. */
  #live (id: string, slot = slotOf(id)): Entry | undefined {
    const entry = this.#find(id, slot)
    if (entry === undefined) return undefined
    if (expiresAt(entry) > this.#now()) return entry
    this.#drop(entry, slot)
    return undefined
  }

  #find (id: string, slot: number): Entry | undefined {
    let entry = this.#sessions.get(slot)
    while (entry !== undefined && entry.id !== id) entry = entry.next
    return entry
  }

  /** Evicts the least recently active slot, every session in it. */
  #evict (): void {
    const slot = this.#leastActive.next() as number
    const head = this.#sessions.get(slot) as Entry
    this.#sessions.delete(slot)
    for (let entry: Entry | undefined = head; entry !== undefined; entry = entry.next) {
      this.#count--
      this.#unindex(entry.id, entry.userId)
    }
  }

  #remove (id: string): void {
    const slot = slotOf(id)
    const entry = this.#find(id, slot)
    if (entry !== undefined) this.#drop(entry, slot)
  }

  /** Deletes a session found in `slot`. */
  #drop (entry: Entry, slot: number): void {
    const rest = unlinked(this.#sessions.get(slot) as Entry, entry)
    // the slot keeps its place in activity order while a session is left in it
    if (rest === undefined) this.#sessions.delete(slot)
    else this.#sessions.set(slot, rest)
    this.#count--
    this.#unindex(entry.id, entry.userId)
  }

  /** A copy of the user's session ids, safe to iterate while sessions are removed. */
  #idsOf (userId: string): string[] {
    const ids = this.#users.get(userId)
    return ids === undefined ? [] : typeof ids === 'string' ? [ids] : [...ids]
  }

  #index (id: string, userId: string | null): void {
    if (userId === null) return
    const ids = this.#users.get(userId)
    if (ids === undefined || ids === id) this.#users.set(userId, id)
    else if (typeof ids === 'string') this.#users.set(userId, new Set([ids, id]))
    else ids.add(id)
  }

  #unindex (id: string, userId: string | null): void {
    if (userId === null) return
    const ids = this.#users.get(userId)
    if (ids === id) {
      this.#users.delete(userId)
    } else if (typeof ids === 'object') {
      ids.delete(id)
      if (ids.size === 1) this.#users.set(userId, ids.values().next().value as string)
    }
  }
}

/** base64url's 64 characters, by character code: their 6-bit values. */
const BASE64URL = new Uint8Array(128)
for (const [value, char] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) BASE64URL[char.charCodeAt(0)] = value

/** 30 bits of a base64url string from its five characters at `start`. */
function bits30 (id: string, start: number): number {
  return ((BASE64URL[id.charCodeAt(start) & 127] as number) << 24) | ((BASE64URL[id.charCodeAt(start + 1) & 127] as number) << 18) |
    ((BASE64URL[id.charCodeAt(start + 2) & 127] as number) << 12) | ((BASE64URL[id.charCodeAt(start + 3) & 127] as number) << 6) |
    (BASE64URL[id.charCodeAt(start + 4) & 127] as number)
}

/**
 * The slot of a session id: a small integer (0 to 2^30 - 1), what `#sessions` is keyed by. The ids
 * the engines store are base64url SHA-256 digests (43 characters): their first and last five
 * characters, 30 random bits each, are read directly. Any other id is hashed whole (FNV-1a). Two ids
 * may share a slot (about one new session in 10,000 at 100,000 held): they are chained, compared by
 * id. (A 43-character id that is no digest, alike others at both ends, shares their slot: it works,
 * only slower to find. The engines store digests alone.)
 */
export function slotOf (id: string): number {
  if (id.length === 43) return (bits30(id, 0) ^ bits30(id, 38))
  let hash = 0x811c9dc5
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193)
  return hash >>> 2
}

/** The chain from `head` without `entry` (which is in it). */
function unlinked (head: Entry, entry: Entry): Entry | undefined {
  if (head === entry) return entry.next
  let before = head
  while (before.next !== entry) before = before.next as Entry
  before.next = entry.next
  return head
}

/** How deep a copy goes before it leaves the value to JSON (which throws on a cycle). */
const MAX_DEPTH = 64
const NOT_PLAIN = Symbol('not plain JSON')

/** A frozen deep copy of `value`, holding exactly what JSON would. */
function frozenValue (value: unknown): unknown {
  const copy = plainFrozen(value, 0)
  return copy === NOT_PLAIN ? deepFreeze(JSON.parse(JSON.stringify(value))) : copy
}

/**
 * A frozen copy of a value made only of plain objects, arrays, strings, booleans, finite numbers
 * and null, or `NOT_PLAIN` for anything JSON would change or refuse (a date, `undefined`, a
 * `__proto__` key, a cycle): JSON then decides what is stored.
 */
function plainFrozen (value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : NOT_PLAIN
  if (typeof value !== 'object' || depth === MAX_DEPTH) return NOT_PLAIN
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) {
      const item = plainFrozen(value[i], depth + 1)
      if (item === NOT_PLAIN) return NOT_PLAIN
      out[i] = item
    }
    return Object.freeze(out)
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return NOT_PLAIN
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const item = plainFrozen((value as Record<string, unknown>)[key], depth + 1)
    if (item === NOT_PLAIN || key === '__proto__') return NOT_PLAIN
    out[key] = item
  }
  return Object.freeze(out)
}

/** What JSON.parse made, frozen all through. */
function deepFreeze (value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item)
    Object.freeze(value)
  }
  return value
}

const SYNC_METHODS = ['get', 'isTokenRevoked', 'userGeneration', 'set', 'merge', 'touch'] as const

function overridesAccess (store: MemoryStore): boolean {
  return SYNC_METHODS.some((name) => store[name] !== MemoryStore.prototype[name])
}
