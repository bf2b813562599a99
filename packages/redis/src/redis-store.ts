import { Redis, type Cluster, type RedisOptions } from 'ioredis'
import { errors, type SessionStore, type SessionSummary, type StoredSession } from '@sessionkit/core'
import { BUMP, DESTROY, INDEX_ADD, INDEX_LIST, INDEX_REMOVE, MERGE, SET_IF_VERSION, TOUCH } from './scripts.js'

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /**
   * A client of your own (`new Redis(...)` or `new Cluster(...)`). It is not closed by `close()`.
   * Create it with `enableOfflineQueue: false` and a `commandTimeout`, or the engine's
   * `storeTimeout` bounds each call instead.
   */
  client?: Redis | Cluster | undefined
  /**
   * Where to connect when no client is given: a `redis://` URL or ioredis options. The store then
   * owns the client: no offline queue, `commandTimeout`, automatic reconnection.
   * @default process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
   */
  connection?: string | RedisOptions | undefined
  /** Prepended to every key, so that apps sharing a Redis never see each other's sessions. @default 'sessionkit:' */
  prefix?: string | undefined
  /** Milliseconds before a command fails (owned client only). @default 500 */
  commandTimeout?: number | undefined
  /** A stored record larger than this is refused before parsing. @default 1048576 */
  maxRecordBytes?: number | undefined
  /** How long a user's revocation generation lives after its last bump (ms). @default 2592000000 (30 days) */
  generationTtl?: number | undefined
  /** Told of connection errors of an owned client (which reconnects by itself). @default ignore */
  onError?: ((err: Error) => void) | undefined
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/

interface ScriptedClient {
  skSet (key: string, ...args: Array<string | number>): Promise<[string] | null>
  skMerge (key: string, ...args: Array<string | number>): Promise<[number, string] | null>
  skTouch (key: string, ...args: Array<string | number>): Promise<[string] | null>
  skDestroy (key: string): Promise<[number, string]>
  skIndexAdd (key: string, ...args: Array<string | number>): Promise<number>
  skIndexRemove (key: string, ...ids: string[]): Promise<number>
  skIndexList (key: string): Promise<string[]>
  skBump (key: string, ttl: number): Promise<number>
}

/** A stored time: NaN when missing. */
function timeOf (field: string | null | undefined): number {
  return typeof field === 'string' ? Number(field) : NaN
}

/** Garbage of another type under a session key is no session to list; any other failure is the store's. */
function wrongTypeAsNull (err: unknown): null {
  if (String((err as Error).message).startsWith('WRONGTYPE')) return null
  throw err
}

/** Any string as a key part: base64url keeps `*`, `:`, `}`, spaces and newlines out of key syntax. */
function part (value: string): string {
  return Buffer.from(value).toString('base64url')
}

/**
 * Sessions, per-user indexes, the JWT denylist and user generations in Redis. Every key carries a
 * TTL; writes are conditional on the version, atomically, in a Lua script; each script touches one
 * key, with the key's own hash tag, so the store runs unchanged on a Redis Cluster.
 */
export class RedisStore implements SessionStore {
  readonly boundedLatency: boolean
  readonly client: Redis | Cluster
  readonly #owned: boolean
  readonly #prefix: string
  readonly #maxRecordBytes: number
  readonly #generationTtl: number
  readonly #scripts: ScriptedClient

  constructor (options: RedisStoreOptions = {}) {
    const {
      client, connection = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix = 'sessionkit:',
      commandTimeout = 500, maxRecordBytes = 1_048_576, generationTtl = 30 * 86_400_000, onError = () => {}
    } = options
    if (typeof prefix !== 'string' || /[{}\s]/.test(prefix)) {
      throw new errors.FST_SESSIONKIT_INVALID_OPTION('prefix', 'must be a string without braces or whitespace')
    }
    for (const [name, value] of [['commandTimeout', commandTimeout], ['maxRecordBytes', maxRecordBytes], ['generationTtl', generationTtl]] as const) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new errors.FST_SESSIONKIT_INVALID_OPTION(name, 'must be a positive integer')
    }
    if (client !== undefined) {
      this.client = client
      this.#owned = false
      // bounded only when the client neither queues while offline nor waits without limit
      const settings = client.options as { enableOfflineQueue?: boolean, commandTimeout?: number, redisOptions?: { commandTimeout?: number } }
      const timeout = settings.commandTimeout ?? settings.redisOptions?.commandTimeout
      this.boundedLatency = settings.enableOfflineQueue === false && typeof timeout === 'number'
    } else {
      const base = typeof connection === 'string' ? {} : connection
      // auto-pipelining (on unless `connection` turns it off): the commands of concurrent requests
      // issued in one turn of the event loop go out in one write and come back in one read
      // replies in the shapes the store reads (RESP2's, whichever protocol the connection speaks)
      const settings = { enableAutoPipelining: true, ...base, enableOfflineQueue: false, commandTimeout, maxRetriesPerRequest: 0, replyMapping: 'legacy' as const }
      this.client = typeof connection === 'string' ? new Redis(connection, settings) : new Redis(settings)
      this.client.on('error', onError)
      this.#owned = true
      this.boundedLatency = true
    }
    this.#prefix = prefix
    this.#maxRecordBytes = maxRecordBytes
    this.#generationTtl = generationTtl
    const scripts = { skSet: SET_IF_VERSION, skMerge: MERGE, skTouch: TOUCH, skDestroy: DESTROY, skIndexAdd: INDEX_ADD, skIndexRemove: INDEX_REMOVE, skIndexList: INDEX_LIST, skBump: BUMP }
    for (const [name, lua] of Object.entries(scripts)) {
      if (!(name in this.client)) this.client.defineCommand(name, { numberOfKeys: 1, lua })
    }
    this.#scripts = this.client as unknown as ScriptedClient
    if (this.client.status === 'ready') this.#checkEviction()
    else this.client.once('ready', () => { this.#checkEviction() })
  }

  /**
   * Warns, once, when Redis may evict keys under memory pressure (any `maxmemory-policy` but
   * `noeviction`: every key here has a TTL, so the `volatile-*` policies choose among them too).
   * An evicted denylist entry or generation brings revoked tokens back. A Redis that does not let
   * its configuration be read (a managed one, `CONFIG` renamed) is taken as it is.
   */
  #checkEviction (): void {
    this.client.config('GET', 'maxmemory-policy').then((reply: unknown) => {
      // a flat [name, value] list, or an object from a client of your own that maps RESP3 replies
      const policy = Array.isArray(reply) ? reply[1] : (reply as Record<string, unknown> | null)?.['maxmemory-policy']
      if (typeof policy === 'string' && policy !== 'noeviction') {
        process.emitWarning(
          `Redis evicts keys under memory pressure (maxmemory-policy ${policy}): an evicted denylist entry or user generation brings revoked tokens back, an evicted session logs its user out. Set maxmemory-policy noeviction on the Redis that holds sessions.`,
          { code: 'FST_SESSIONKIT_REDIS_EVICTION' }
        )
      }
    }, () => {})
  }

  /** Resolves once the client is connected (an owned client connects by itself). */
  async ready (): Promise<void> {
    if (this.client.status === 'ready') return
    await new Promise<void>((resolve) => this.client.once('ready', resolve))
  }

  /** Closes an owned client; a client you passed in stays yours to close. */
  async close (): Promise<void> {
    if (this.#owned) await this.client.quit().catch(() => this.client.disconnect())
  }

  #session (id: string): string { return `${this.#prefix}s:{${id}}` }
  #user (userId: string): string { return `${this.#prefix}u:{${part(userId)}}` }

  async get (id: string): Promise<StoredSession | null> {
    if (!SESSION_ID.test(id)) return null
    let fields: Record<string, string>
    try {
      fields = await this.client.hgetall(this.#session(id))
    } catch (err) {
      if (String((err as Error).message).startsWith('WRONGTYPE')) throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
      throw err
    }
    const { v: version, c: createdAt, t: lastSeenAt, u: userId, r: remembered } = fields
    if (version === undefined && createdAt === undefined) return null
    // sized before anything is parsed
    let size = 0
    for (const name in fields) size += name.length + (fields[name] as string).length
    if (size > this.#maxRecordBytes || version === undefined || createdAt === undefined || lastSeenAt === undefined ||
      (remembered !== undefined && remembered !== '1')) {
      throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
    }
    const data: Record<string, unknown> = {}
    try {
      for (const name in fields) {
        if (name.startsWith('d:')) data[name.slice(2)] = JSON.parse(fields[name] as string)
      }
    } catch {
      throw new errors.FST_SESSIONKIT_CORRUPT_RECORD()
    }
    return { version: Number(version), createdAt: Number(createdAt), lastSeenAt: Number(lastSeenAt), userId: userId === '' || userId === undefined ? null : userId, remembered: remembered === '1', data }
  }

  async set (id: string, record: StoredSession, expectedVersion: number, ttl: number): Promise<boolean> {
    if (!SESSION_ID.test(id)) throw new errors.FST_SESSIONKIT_INVALID_CREDENTIAL()
    const pairs: Array<string | number> = ['v', record.version, 'c', record.createdAt, 't', record.lastSeenAt, 'u', record.userId ?? '']
    if (record.remembered === true) pairs.push('r', '1')
    for (const [key, value] of Object.entries(record.data)) pairs.push('d:' + key, JSON.stringify(value))
    const result = await this.#scripts.skSet(this.#session(id), expectedVersion, ttl, ...pairs)
    if (result === null) return false
    await this.#reindex(id, result[0], record.userId, ttl)
    return true
  }

  async merge (id: string, changes: ReadonlyMap<string, unknown>, meta: { lastSeenAt: number, userId?: string | null | undefined }, ttl: number): Promise<number | null> {
    if (!SESSION_ID.test(id)) return null
    const pairs: string[] = []
    // an empty value deletes: no JSON text is empty
    for (const [key, value] of changes) pairs.push('d:' + key, value === undefined ? '' : JSON.stringify(value))
    const userId = meta.userId === undefined ? '\0' : meta.userId ?? ''
    const result = await this.#scripts.skMerge(this.#session(id), meta.lastSeenAt, userId, ttl, ...pairs)
    if (result === null) return null
    const [version, previous] = result
    await this.#reindex(id, previous, meta.userId === undefined ? (previous === '' ? null : previous) : meta.userId, ttl)
    return Number(version)
  }

  /** Keeps the user index in step: off the previous user, onto the current one (moving its expiry). */
  async #reindex (id: string, previous: string, userId: string | null, ttl: number): Promise<void> {
    if (previous !== '' && previous !== userId) await this.#scripts.skIndexRemove(this.#user(previous), id)
    if (userId !== null) await this.#scripts.skIndexAdd(this.#user(userId), id, ttl)
  }

  async touch (id: string, lastSeenAt: number, ttl: number): Promise<boolean> {
    if (!SESSION_ID.test(id)) return false
    const result = await this.#scripts.skTouch(this.#session(id), lastSeenAt, ttl)
    if (result === null) return false
    if (result[0] !== '') await this.#scripts.skIndexAdd(this.#user(result[0]), id, ttl)
    return true
  }

  async destroy (id: string): Promise<void> {
    if (!SESSION_ID.test(id)) return
    const [, userId] = await this.#scripts.skDestroy(this.#session(id))
    if (userId !== '') await this.#scripts.skIndexRemove(this.#user(userId), id)
  }

  async listUserSessions (userId: string): Promise<SessionSummary[]> {
    const ids = await this.#scripts.skIndexList(this.#user(userId))
    const list: SessionSummary[] = []
    // one command each (on a Cluster the sessions live in different slots), and only the fields a
    // summary needs: listing a user's sessions never sends their data
    const rows = await Promise.all(ids.map((id) => this.client.hmget(this.#session(id), 'c', 't', 'u').catch(wrongTypeAsNull)))
    for (const [i, row] of rows.entries()) {
      const [createdAt, lastSeenAt] = [timeOf(row?.[0]), timeOf(row?.[1])]
      // a record that no longer reads as a session is left out of the list, not fatal to it
      if (row?.[2] !== userId || !Number.isFinite(createdAt) || !Number.isFinite(lastSeenAt)) continue
      list.push({ id: ids[i] as string, createdAt, lastSeenAt })
    }
    return list
  }

  async destroyUserSessions (userId: string, exceptId?: string): Promise<number> {
    const ids = (await this.#scripts.skIndexList(this.#user(userId))).filter((id) => id !== exceptId)
    if (ids.length === 0) return 0
    const results = await Promise.all(ids.map((id) => this.#scripts.skDestroy(this.#session(id))))
    await this.#scripts.skIndexRemove(this.#user(userId), ...ids)
    return results.filter(([existed]) => existed === 1).length
  }

  async revokeToken (jti: string, ttl: number): Promise<void> {
    await this.client.set(`${this.#prefix}j:{${part(jti)}}`, '1', 'PX', ttl)
  }

  async revokeTokenOnce (jti: string, ttl: number): Promise<boolean> {
    return await this.client.set(`${this.#prefix}j:{${part(jti)}}`, '1', 'PX', ttl, 'NX') === 'OK'
  }

  async isTokenRevoked (jti: string): Promise<boolean> {
    return await this.client.exists(`${this.#prefix}j:{${part(jti)}}`) === 1
  }

  async userGeneration (userId: string): Promise<number> {
    return Number(await this.client.get(`${this.#prefix}g:{${part(userId)}}`) ?? 0)
  }

  async bumpUserGeneration (userId: string): Promise<number> {
    return this.#scripts.skBump(`${this.#prefix}g:{${part(userId)}}`, this.#generationTtl)
  }
}
