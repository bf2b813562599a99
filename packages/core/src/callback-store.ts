import type { SessionStore, SessionSummary, StoredSession } from './contract.js'
import { errors } from './errors.js'
import { readRecord } from './record.js'
import { storeCallDeadline } from './store-guard.js'

type Callback<T = unknown> = (err?: unknown, value?: T) => void

/**
 * A store in the style of `express-session` and `@fastify/session`: `connect-redis`,
 * `connect-mongo`, `@fastify/session`'s `MemoryStore` and the rest.
 */
export interface CallbackStore {
  get (sid: string, callback: Callback): void
  set (sid: string, session: unknown, callback: Callback): void
  destroy (sid: string, callback: Callback): void
}

export interface CallbackStoreOptions {
  /**
   * How long (milliseconds) a user's revocation generation is kept after its last bump; keep it longer
   * than any token lives.
   * @default 2592000000 (30 days)
   */
  generationTtl?: number | undefined
  /** The clock (epoch milliseconds), for tests. @default Date.now */
  now?: (() => number) | undefined
}

interface Envelope {
  /** What callback stores read their TTL from (`connect-redis` reads `cookie.expires`). */
  cookie: { originalMaxAge: number, expires: string }
  sessionkit?: unknown
  index?: string[] | undefined
  until?: number | undefined
  generation?: number | undefined
}

/** A record that no longer reads as a session is as good as gone; any other failure is the store's. */
function corruptAsGone (err: unknown): null {
  if ((err as { code?: unknown }).code === 'FST_SESSIONKIT_CORRUPT_RECORD') return null
  throw err
}

const USER = 'sessionkit-user:'
const TOKEN = 'sessionkit-jti:'
const GENERATION = 'sessionkit-gen:'

/**
 * Serves an `express-session`-style callback store through sessionkit's store contract, so that the
 * existing store ecosystem plugs in.
 *
 * What such a store cannot give: its `get` then `set` are two calls, so a conditional write is a
 * read-compare-write that a concurrent writer can slip between (two requests that both change a
 * session in the same few milliseconds may lose one change); the per-user index and the denylist are
 * records in the same store, updated the same way; `touch` rewrites the record. Its latency is not
 * bounded by the store, so the engine races every call against `storeTimeout`; an operation the
 * engine stopped waiting for makes no further call (`storeCallDeadline`), so that a write answered
 * with 503 never lands later, when a slow store gets to it.
 */
export function callbackStore (store: CallbackStore, options: CallbackStoreOptions = {}): SessionStore {
  if (store === null || typeof store !== 'object' ||
    typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function') {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('store', 'must have get(sid, cb), set(sid, session, cb) and destroy(sid, cb)')
  }
  const { generationTtl = 30 * 86_400_000, now = Date.now } = options
  if (!Number.isSafeInteger(generationTtl) || generationTtl <= 0) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION('generationTtl', 'must be a positive integer (milliseconds)')
  }

  /**
   * One call to the wrapped store, unless the engine has stopped waiting for the operation it is
   * part of (`deadline`, from `storeCallDeadline()` on entry): the client was told 503, so nothing
   * more is read or written for it; operations queued behind a slow one end at once.
   */
  function call<T> (deadline: number | undefined, method: 'get' | 'set' | 'destroy', ...args: unknown[]): Promise<T> {
    if (deadline !== undefined && performance.now() >= deadline) {
      return Promise.reject(new Error(`store operation abandoned: the engine stopped waiting for it (storeTimeout) before its ${method}`))
    }
    return new Promise<T>((resolve, reject) => {
      const done: Callback<T> = (err, value) => { if (err) reject(err); else resolve(value as T) }
      const fn = store[method] as (...rest: unknown[]) => unknown
      const result = fn.call(store, ...args, done)
      // stores that answer with a promise as well as the callback: a rejection must not go unhandled
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).catch === 'function') {
        (result as Promise<unknown>).catch(reject)
      }
    })
  }
  function envelope (ttl: number, body: Omit<Envelope, 'cookie'>): Envelope {
    return structuredClone({ cookie: { originalMaxAge: ttl, expires: new Date(now() + ttl).toISOString() }, ...body })
  }
  async function read (deadline: number | undefined, sid: string): Promise<Envelope | null> {
    const value = await call<Envelope | null | undefined>(deadline, 'get', sid)
    if (value === null || value === undefined) return null
    if (typeof value !== 'object' || value.cookie === null || typeof value.cookie !== 'object') {
      throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
    }
    // not every callback store expires entries by itself (@fastify/session's MemoryStore does not)
    if (Date.parse(value.cookie.expires) <= now()) {
      await call(deadline, 'destroy', sid)
      return null
    }
    // copied: a store that keeps objects by reference must not share them with callers
    return structuredClone(value)
  }
  async function getRecord (deadline: number | undefined, sid: string): Promise<StoredSession | null> {
    const value = await read(deadline, sid)
    return value === null ? null : readRecord(value.sessionkit)
  }
  async function index (deadline: number | undefined, userId: string): Promise<string[]> {
    return (await read(deadline, USER + userId))?.index ?? []
  }
  // read-compare-write made atomic within this process: one operation per key at a time
  const queues = new Map<string, Promise<unknown>>()
  function exclusive<T> (key: string, operation: () => Promise<T>): Promise<T> {
    const previous = queues.get(key) ?? Promise.resolve()
    const next = previous.then(operation, operation)
    const settled = next.then(() => undefined, () => undefined)
    queues.set(key, settled)
    settled.then(() => { if (queues.get(key) === settled) queues.delete(key) })
    return next
  }

  function updateIndex (deadline: number | undefined, userId: string, change: (ids: string[]) => string[] | Promise<string[]>): Promise<void> {
    return exclusive(USER + userId, async () => {
      const ids = await change(await index(deadline, userId))
      if (ids.length === 0) await call(deadline, 'destroy', USER + userId)
      else await call(deadline, 'set', USER + userId, envelope(generationTtl, { index: ids }))
    })
  }

  /**
   * A user's index as it grows: an expired session leaves its id behind (the store forgets the
   * session, not the index), so each time the index reaches a power of two from 16 on, the ids of
   * sessions that are gone are dropped: the index stays about the size of the user's live sessions,
   * for about one read per login.
   */
  async function pruned (deadline: number | undefined, ids: string[]): Promise<string[]> {
    if (ids.length < 16 || (ids.length & (ids.length - 1)) !== 0) return ids
    // garbage under an old id is no session either; a store that fails fails the write
    const live = await Promise.all(ids.map(async (sid) => await getRecord(deadline, sid).catch(corruptAsGone) !== null))
    return ids.filter((_, i) => live[i])
  }

  return {
    boundedLatency: false,
    get: (id) => getRecord(storeCallDeadline(), id),
    set (id, record, expectedVersion, ttl) {
      const deadline = storeCallDeadline()
      return exclusive(id, async () => {
        const current = await getRecord(deadline, id)
        if ((current?.version ?? 0) !== expectedVersion) return false
        await call(deadline, 'set', id, envelope(ttl, { sessionkit: record }))
        const before = current?.userId ?? null
        if (before !== record.userId) {
          if (before !== null) await updateIndex(deadline, before, (ids) => ids.filter((sid) => sid !== id))
          if (record.userId !== null) await updateIndex(deadline, record.userId, async (ids) => [...await pruned(deadline, ids), id])
        }
        return true
      })
    },
    touch (id, lastSeenAt, ttl) {
      const deadline = storeCallDeadline()
      return exclusive(id, async () => {
        const current = await getRecord(deadline, id)
        if (current === null) return false
        await call(deadline, 'set', id, envelope(ttl, { sessionkit: { ...current, lastSeenAt } }))
        return true
      })
    },
    destroy (id) {
      const deadline = storeCallDeadline()
      return exclusive(id, async () => {
        const current = await getRecord(deadline, id)
        await call(deadline, 'destroy', id)
        if (current !== null && current.userId !== null) await updateIndex(deadline, current.userId, (ids) => ids.filter((sid) => sid !== id))
      })
    },
    async listUserSessions (userId) {
      const deadline = storeCallDeadline()
      const ids = await index(deadline, userId)
      const records = await Promise.all(ids.map((id) => getRecord(deadline, id)))
      const list: SessionSummary[] = []
      for (const [i, record] of records.entries()) {
        if (record !== null) list.push({ id: ids[i] as string, createdAt: record.createdAt, lastSeenAt: record.lastSeenAt })
      }
      return list
    },
    async destroyUserSessions (userId, exceptId) {
      const deadline = storeCallDeadline()
      let count = 0
      for (const id of await index(deadline, userId)) {
        if (id === exceptId) continue
        if (await getRecord(deadline, id) !== null) count++
        await call(deadline, 'destroy', id)
      }
      await updateIndex(deadline, userId, (ids) => ids.filter((sid) => sid === exceptId))
      return count
    },
    async revokeToken (jti, ttl) {
      await call(storeCallDeadline(), 'set', TOKEN + jti, envelope(ttl, { until: now() + ttl }))
    },
    async isTokenRevoked (jti) {
      return await read(storeCallDeadline(), TOKEN + jti) !== null
    },
    async userGeneration (userId) {
      return (await read(storeCallDeadline(), GENERATION + userId))?.generation ?? 0
    },
    bumpUserGeneration (userId) {
      const deadline = storeCallDeadline()
      return exclusive(GENERATION + userId, async () => {
        const next = ((await read(deadline, GENERATION + userId))?.generation ?? 0) + 1
        await call(deadline, 'set', GENERATION + userId, envelope(generationTtl, { generation: next }))
        return next
      })
    }
  }
}
