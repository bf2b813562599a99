import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore, type RedisStoreOptions } from '@sessionkit/redis'
import { NO_REDIS, NO_REDIS_SERVER, ownRedis, REDIS_URL, redisOptions } from './fixtures/redis-server.js'

const record = (userId: string | null) => ({ version: 1, createdAt: 1, lastSeenAt: 2, userId, data: { a: 1 } })

t.test('an id with *, ?, : or a newline reaches no Redis command', { skip: NO_REDIS_SERVER }, async (t) => {
  const server = await ownRedis(t)
  const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port } })
  t.teardown(() => store.close())
  await store.ready()
  await store.ready()
  // the eviction check made on connecting has been answered
  await store.client.ping()
  const processed = async (): Promise<number> => Number(/total_commands_processed:(\d+)/.exec(await store.client.info('stats'))?.[1])
  const before = await processed()
  for (const id of ['*', 'a?'.padEnd(43, 'x'), 'id:with:colons'.padEnd(43, 'x'), 'x'.repeat(42) + '\n', '']) {
    t.equal(await store.get(id), null)
    t.equal(await store.touch(id, 1, 1_000), false)
    t.equal(await store.merge(id, new Map([['a', 1]]), { lastSeenAt: 1 }, 1_000), null)
    await store.destroy(id)
    await t.rejects(store.set(id, record(null), 0, 1_000), { code: 'FST_SESSIONKIT_INVALID_CREDENTIAL' })
  }
  t.equal(await processed() - before, 1, 'only the INFO that counts')
})

t.test('user ids and token ids of any text stay inside their keys', { skip: NO_REDIS }, async (t) => {
  const prefix = `sk-keys-${Date.now()}:`
  const store = new RedisStore({ connection: REDIS_URL, prefix })
  t.teardown(() => store.close())
  await store.ready()
  const user = 'ev*l}:user\nname {x}'
  const id = 'k'.repeat(43)
  await store.set(id, record(user), 0, 10_000)
  t.same((await store.listUserSessions(user)).map((s) => s.id), [id])
  await store.revokeToken('jti:*}\n', 10_000)
  t.equal(await store.isTokenRevoked('jti:*}\n'), true)
  t.equal(await store.bumpUserGeneration(user), 1)
  // SCAN in batches, not KEYS: the shared Redis may hold many other keys
  const keys: string[] = []
  for await (const batch of (store.client as import('ioredis').Redis).scanStream({ match: `${prefix}*`, count: 1_000 })) keys.push(...batch as string[])
  keys.sort()
  t.equal(keys.length, 4)
  for (const key of keys) {
    t.match(key, /^sk-keys-\d+:[sugj]:\{[A-Za-z0-9_-]+\}$/, 'one hash tag of base64url per key')
    t.ok(await store.client.pttl(key) > 0, `${key} has a TTL`)
  }
  await store.destroyUserSessions(user)
  await store.client.del(...keys)
})

t.test('whole-record writes: thousands of keys, and nothing left of what was under the key before', { skip: NO_REDIS }, async (t) => {
  const prefix = `sk-whole-${Date.now()}:`
  const store = new RedisStore({ connection: REDIS_URL, prefix })
  t.teardown(() => store.close())
  await store.ready()
  const id = 'w'.repeat(43)
  const key = `${prefix}s:{${id}}`
  // more fields than one Lua unpack takes: written in several HSETs
  const many = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i]))
  t.equal(await store.set(id, { version: 1, createdAt: 1, lastSeenAt: 2, userId: null, data: many }, 0, 10_000), true)
  t.same((await store.get(id))?.data, many)
  t.equal(await store.set(id, { version: 2, createdAt: 1, lastSeenAt: 3, userId: null, data: { only: true } }, 1, 10_000), true)
  t.same(await store.get(id), { version: 2, createdAt: 1, lastSeenAt: 3, userId: null, remembered: false, data: { only: true } }, 'the 5,000 older fields are gone')
  await store.destroy(id)
  // a hash without a version is no record: a new one replaces it whole
  await store.client.hset(key, 'd:stale', '1', 'x', 'y')
  t.equal(await store.set(id, { version: 1, createdAt: 5, lastSeenAt: 5, userId: null, data: { n: 1 } }, 0, 10_000), true)
  t.same(await store.client.hgetall(key), { v: '1', c: '5', t: '5', u: '', 'd:n': '1' })
  t.ok(await store.client.pttl(key) > 0)
  // merges of thousands of keys, set then deleted, in several HSETs and HDELs
  const changes = new Map(Object.keys(many).map((name) => [name, 'x']))
  t.equal(await store.merge(id, changes, { lastSeenAt: 6 }, 10_000), 2)
  t.equal(Object.keys((await store.get(id))?.data ?? {}).length, 5_001)
  t.equal(await store.merge(id, new Map(Object.keys(many).map((name) => [name, undefined])), { lastSeenAt: 7 }, 10_000), 3)
  t.same(await store.get(id), { version: 3, createdAt: 5, lastSeenAt: 7, userId: null, remembered: false, data: { n: 1 } })
  await store.destroy(id)
  // every record has its user field: a hash without one is no record to merge into or touch
  await store.client.hset(key, 'v', '1', 'c', '1', 't', '1')
  t.equal(await store.merge(id, new Map([['n', 1]]), { lastSeenAt: 8 }, 10_000), null)
  t.equal(await store.touch(id, 8, 10_000), false)
  t.same(await store.client.hgetall(key), { v: '1', c: '1', t: '1' }, 'left as it was')
  await store.destroy(id)
})

t.test('options are validated', async (t) => {
  const cases: Array<[RedisStoreOptions, string]> = [
    [{ prefix: 'a{b' }, 'Invalid option "prefix": must be a string without braces or whitespace'],
    [{ commandTimeout: 0 }, 'Invalid option "commandTimeout": must be a positive integer'],
    [{ maxRecordBytes: 1.5 }, 'Invalid option "maxRecordBytes": must be a positive integer'],
    [{ generationTtl: -1 }, 'Invalid option "generationTtl": must be a positive integer']
  ]
  for (const [options, message] of cases) {
    t.throws(() => new RedisStore({ ...options, connection: { lazyConnect: true } }), { code: 'FST_SESSIONKIT_INVALID_OPTION', message })
  }
})

t.test('an owned client pipelines the commands of one turn of the event loop, unless told not to', { skip: NO_REDIS }, async (t) => {
  const prefix = `sk-pipe-${Date.now()}:`
  const ids = ['p', 'q', 'r'].map((c) => c.repeat(43))
  for (const [connection, queued] of [[REDIS_URL, 3], [{ ...redisOptions(REDIS_URL), enableAutoPipelining: false }, 0]] as const) {
    const store = new RedisStore({ connection, prefix })
    t.teardown(() => store.close())
    await store.ready()
    // the eviction check made on connecting has been answered
    await store.client.ping()
    const reads = ids.map((id) => store.get(id))
    t.equal((store.client as Redis).autoPipelineQueueSize, queued, `${queued} commands waiting to go out together`)
    t.same(await Promise.all(reads), [null, null, null])
  }
})

t.test('a client of your own: latency bounded only if it fails fast, and never closed by the store', { skip: NO_REDIS }, async (t) => {
  const queued = new Redis(REDIS_URL)
  const bounded = new Redis(REDIS_URL, { enableOfflineQueue: false, commandTimeout: 200 })
  t.teardown(() => { queued.disconnect(); bounded.disconnect() })
  const loose = new RedisStore({ client: queued, prefix: 'own1:' })
  t.equal(loose.boundedLatency, false)
  const tight = new RedisStore({ client: bounded, prefix: 'own2:' })
  t.equal(tight.boundedLatency, true)
  const again = new RedisStore({ client: bounded, prefix: 'own3:' })
  t.equal(again.client, bounded, 'a second store on one client reuses its scripts')
  await new Promise((resolve) => bounded.status === 'ready' ? resolve(null) : bounded.once('ready', resolve))
  await tight.close()
  t.equal(await bounded.ping(), 'PONG', 'still open')
})

t.test('close() of an owned client that is already gone does not throw', { skip: NO_REDIS_SERVER }, async (t) => {
  const server = await ownRedis(t)
  const errors: Error[] = []
  const store = new RedisStore({ connection: server.url, onError: (err) => errors.push(err) })
  await store.ready()
  // the client's reconnection fails on its own schedule: the first error it emits, however late
  const failed = new Promise((resolve) => store.client.once('error', resolve))
  await server.kill()
  await failed
  await t.resolves(store.close())
  t.ok(errors.length > 0, 'connection errors reach onError')
})

t.test('an owned client with no onError: connection errors are absorbed, not thrown', async (t) => {
  const store = new RedisStore({ connection: 'redis://127.0.0.1:1' })
  const seen = await new Promise<Error>((resolve) => store.client.once('error', resolve))
  t.match(seen.message, /ECONNREFUSED/)
  await store.close()
})

t.test('a user\'s list leaves out a record that no longer reads as a session', { skip: NO_REDIS }, async (t) => {
  const prefix = `sk-list-${Date.now()}:`
  const store = new RedisStore({ connection: REDIS_URL, prefix })
  t.teardown(() => store.close())
  await store.ready()
  const [good, bad] = ['g'.repeat(43), 'b'.repeat(43)]
  await store.set(good, record('lee'), 0, 10_000)
  await store.set(bad, record('lee'), 0, 10_000)
  await store.client.hdel(`${prefix}s:{${bad}}`, 'c')
  t.same((await store.listUserSessions('lee')).map((s) => s.id), [good])
  await store.client.hset(`${prefix}s:{${bad}}`, 'c', 'yesterday')
  t.same((await store.listUserSessions('lee')).map((s) => s.id), [good], 'a time that is no number')
  await store.client.hset(`${prefix}s:{${bad}}`, 'c', '1')
  await store.client.hdel(`${prefix}s:{${bad}}`, 't')
  t.same((await store.listUserSessions('lee')).map((s) => s.id), [good], 'no lastSeenAt')
  await store.client.del(`${prefix}s:{${bad}}`)
  await store.client.set(`${prefix}s:{${bad}}`, 'not a hash')
  t.same(await store.listUserSessions('lee'), [{ id: good, createdAt: 1, lastSeenAt: 2 }], 'a key of another type')
  await store.destroyUserSessions('lee')
})

t.test('any other failure while listing is the store failing, not a shorter list', { skip: NO_REDIS }, async (t) => {
  const store = new RedisStore({ connection: REDIS_URL, prefix: `sk-flaky-${Date.now()}:` })
  t.teardown(() => store.close())
  await store.ready()
  await store.set('f'.repeat(43), record('flo'), 0, 10_000)
  // the real client, failing the one command listing sends per session
  const hmget = store.client.hmget
  store.client.hmget = (async () => { throw new Error('connection lost') }) as unknown as typeof hmget
  await t.rejects(store.listUserSessions('flo'), { message: 'connection lost' })
  store.client.hmget = hmget
  await store.destroyUserSessions('flo')
})
