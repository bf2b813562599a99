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

/** One operation on the wrapped store: when the engine stops waiting for it, and whether it has sent a write. */
interface Step {
  readonly deadline: number | undefined
  wrote: boolean
}

/** A key's operations, one at a time: the last one queued, the one running, which run of them this is. */
interface Queue {
  tail: Promise<void>
  running: Step | null
  epoch: number
}

/** The step of an operation the engine is calling now (`storeCallDeadline` is read on entry). */
function begin (): Step {
  return { deadline: storeCallDeadline(), wrote: false }
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
   * part of (its step's deadline, from `storeCallDeadline()` on entry): the client was told 503, so
   * nothing more is read or written for it. A write sent is noted on the step (see `exclusive`).
   */
  function call<T> (step: Step, method: 'get' | 'set' | 'destroy', ...args: unknown[]): Promise<T> {
    if (step.deadline !== undefined && performance.now() >= step.deadline) {
      return Promise.reject(new Error(`store operation abandoned: the engine stopped waiting for it (storeTimeout) before its ${method}`))
    }
    if (method !== 'get') step.wrote = true
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
  async function read (step: Step, sid: string): Promise<Envelope | null> {
    const value = await call<Envelope | null | undefined>(step, 'get', sid)
    if (value === null || value === undefined) return null
    if (typeof value !== 'object' || value.cookie === null || typeof value.cookie !== 'object') {
      throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
    }
    // not every callback store expires entries by itself (@fastify/session's MemoryStore does not)
    if (Date.parse(value.cookie.expires) <= now()) {
      await call(step, 'destroy', sid)
      return null
    }
    // copied: a store that keeps objects by reference must not share them with callers
    return structuredClone(value)
  }
  async function getRecord (step: Step, sid: string): Promise<StoredSession | null> {
    const value = await read(step, sid)
    return value === null ? null : readRecord(value.sessionkit)
  }
  async function index (step: Step, userId: string): Promise<string[]> {
    return (await read(step, USER + userId))?.index ?? []
  }
  // read-compare-write made atomic within this process: one operation per key at a time
  const queues = new Map<string, Queue>()
  /**
   * Runs `operation` once the key's earlier operations are done. One that holds the key past its
   * deadline without having sent a write (its store's answer lost, say) frees it: it can send
   * nothing any more (`call` checks), so the next operation need not wait for an answer that may
   * never come, and those queued behind it end, unrun, if it ever does.
   */
  function exclusive<T> (key: string, step: Step, operation: () => Promise<T>): Promise<T> {
    let queue = queues.get(key)
    if (queue === undefined) {
      queue = { tail: Promise.resolve(), running: null, epoch: 0 }
      queues.set(key, queue)
    }
    const { running } = queue
    if (running !== null && !running.wrote && running.deadline !== undefined && performance.now() >= running.deadline) {
      queue.epoch++
      queue.tail = Promise.resolve()
      queue.running = null
    }
    const held = queue
    const epoch = held.epoch
    const run = (): Promise<T> => {
      if (held.epoch !== epoch) return Promise.reject(new Error('store operation abandoned: an earlier one on its key was given up on'))
      held.running = step
      return operation()
    }
    const next = held.tail.then(run, run)
    const settled = next.then(() => undefined, () => undefined).then(() => {
      if (held.running === step) held.running = null
    })
    held.tail = settled
    settled.then(() => { if (queues.get(key) === held && held.tail === settled) queues.delete(key) })
    return next
  }

  function updateIndex (outer: Step, userId: string, change: (ids: string[]) => string[] | Promise<string[]>): Promise<void> {
    const step: Step = { deadline: outer.deadline, wrote: false }
    return exclusive(USER + userId, step, async () => {
      const ids = await change(await index(step, userId))
      if (ids.length === 0) await call(step, 'destroy', USER + userId)
      else await call(step, 'set', USER + userId, envelope(generationTtl, { index: ids }))
    })
  }

  /**
   * A user's index as it grows: an expired session leaves its id behind (the store forgets the
   * session, not the index), so each time the index reaches a power of two from 16 on, the ids of
   * sessions that are gone are dropped: the index stays about the size of the user's live sessions,
   * for about one read per login.
   */
  async function pruned (step: Step, ids: string[]): Promise<string[]> {
    if (ids.length < 16 || (ids.length & (ids.length - 1)) !== 0) return ids
    // garbage under an old id is no session either; a store that fails fails the write
    const live = await Promise.all(ids.map(async (sid) => await getRecord(step, sid).catch(corruptAsGone) !== null))
    return ids.filter((_, i) => live[i])
  }

  return {
    boundedLatency: false,
    get: (id) => getRecord(begin(), id),
    set (id, record, expectedVersion, ttl) {
      const step = begin()
      return exclusive(id, step, async () => {
        const current = await getRecord(step, id)
        if ((current?.version ?? 0) !== expectedVersion) return false
        await call(step, 'set', id, envelope(ttl, { sessionkit: record }))
        const before = current?.userId ?? null
        if (before !== record.userId) {
          if (before !== null) await updateIndex(step, before, (ids) => ids.filter((sid) => sid !== id))
          if (record.userId !== null) await updateIndex(step, record.userId, async (ids) => [...await pruned(step, ids), id])
        }
        return true
      })
    },
    touch (id, lastSeenAt, ttl) {
      const step = begin()
      return exclusive(id, step, async () => {
        const current = await getRecord(step, id)
        if (current === null) return false
        await call(step, 'set', id, envelope(ttl, { sessionkit: { ...current, lastSeenAt } }))
        return true
      })
    },
    destroy (id) {
      const step = begin()
      return exclusive(id, step, async () => {
        const current = await getRecord(step, id)
        await call(step, 'destroy', id)
        if (current !== null && current.userId !== null) await updateIndex(step, current.userId, (ids) => ids.filter((sid) => sid !== id))
      })
    },
    async listUserSessions (userId) {
      const step = begin()
      const ids = await index(step, userId)
      const records = await Promise.all(ids.map((id) => getRecord(step, id)))
      const list: SessionSummary[] = []
      for (const [i, record] of records.entries()) {
        if (record !== null) list.push({ id: ids[i] as string, createdAt: record.createdAt, lastSeenAt: record.lastSeenAt })
      }
      return list
    },
    async destroyUserSessions (userId, exceptId) {
      const step = begin()
      let count = 0
      for (const id of await index(step, userId)) {
        if (id === exceptId) continue
        if (await getRecord(step, id) !== null) count++
        await call(step, 'destroy', id)
      }
      await updateIndex(step, userId, (ids) => ids.filter((sid) => sid === exceptId))
      return count
    },
    async revokeToken (jti, ttl) {
      await call(begin(), 'set', TOKEN + jti, envelope(ttl, { until: now() + ttl }))
    },
    revokeTokenOnce (jti, ttl) {
      const step = begin()
      // atomic against the other revokeTokenOnce calls of this process; a revokeToken landing
      // between its read and its write writes the same entry, as if it had come just after
      return exclusive(TOKEN + jti, step, async () => {
        if (await read(step, TOKEN + jti) !== null) return false
        await call(step, 'set', TOKEN + jti, envelope(ttl, { until: now() + ttl }))
        return true
      })
    },
    async isTokenRevoked (jti) {
      return await read(begin(), TOKEN + jti) !== null
    },
    async userGeneration (userId) {
      return (await read(begin(), GENERATION + userId))?.generation ?? 0
    },
    bumpUserGeneration (userId) {
      const step = begin()
      return exclusive(GENERATION + userId, step, async () => {
        const next = ((await read(step, GENERATION + userId))?.generation ?? 0) + 1
        await call(step, 'set', GENERATION + userId, envelope(generationTtl, { generation: next }))
        return next
      })
    }
  }
}
