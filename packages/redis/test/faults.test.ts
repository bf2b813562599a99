import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { sessionkit } from '@sessionkit/core'
import { headerTransport } from './fixtures/transport.js'
import { RedisStore, type RedisStoreOptions } from '@sessionkit/redis'
import { NO_REDIS_SERVER, ownRedis } from './fixtures/redis-server.js'

const SECRET = 'redis-fault-secret-0123456789abcdef-012345678'
const transport = headerTransport()

async function build (t: Test, options: RedisStoreOptions): Promise<{ app: FastifyInstance, store: RedisStore }> {
  const store = new RedisStore(options)
  t.teardown(() => store.close())
  await store.ready()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkit, { secret: SECRET, store, transports: [transport] })
  app.post<{ Body: Record<string, unknown> }>('/set', async (request) => {
    for (const [key, value] of Object.entries(request.body ?? { n: 1 })) request.session.set(key, value)
    return { ok: true }
  })
  app.get('/read', async (request) => ({ data: request.session.data() }))
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  await app.ready()
  return { app, store }
}

async function create (app: FastifyInstance, data: Record<string, unknown>): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/set', payload: data })
  return String(response.headers['x-session-id'])
}

/** The first answer of 200 to a read, asked every 100 ms for up to 10 s; the last answer otherwise. */
async function recovery (app: FastifyInstance, headers: Record<string, string>): Promise<{ statusCode: number, json: () => { data: unknown } }> {
  for (let attempt = 1; ; attempt++) {
    const response = await app.inject({ method: 'GET', url: '/read', headers })
    if (response.statusCode === 200 || attempt === 100) return response
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function captureUnhandled (t: Test): unknown[] {
  const seen: unknown[] = []
  const listener = (err: unknown): void => { seen.push(err) }
  process.on('unhandledRejection', listener)
  t.teardown(() => process.off('unhandledRejection', listener))
  return seen
}

t.test('Redis killed mid-load: 503 fast, no hang, no unhandled rejection; the session comes back after restart', { skip: NO_REDIS_SERVER }, async (t) => {
  const unhandled = captureUnhandled(t)
  const server = await ownRedis(t)
  const { app } = await build(t, { connection: server.url, commandTimeout: 300 })
  const credential = await create(app, { cart: ['book'] })
  const headers = { 'x-session-id': credential }
  const statuses: number[] = []
  let slowest = 0
  for (let round = 0; round < 20; round++) {
    if (round === 10) await server.kill()
    const started = performance.now()
    const responses = await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: '/read', headers })))
    slowest = Math.max(slowest, performance.now() - started)
    for (const response of responses) {
      statuses.push(response.statusCode)
      if (response.statusCode === 503) t.equal(response.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
    }
  }
  t.same(new Set(statuses), new Set([200, 503]), 'served, then refused')
  t.equal(statuses.slice(100).filter((s) => s !== 503).length, 0, 'every request after the kill is a 503')
  t.ok(slowest < 5_000, `no round hung (slowest ${Math.round(slowest)} ms)`)
  await server.start()
  const recovered = await recovery(app, headers)
  t.equal(recovered.statusCode, 200, 'recovers without a restart of the app')
  t.same(recovered.json().data, { cart: ['book'] }, 'with its data')
  t.same(unhandled, [])
})

t.test('CLIENT PAUSE beyond the command timeout: 503, then recovery', { skip: NO_REDIS_SERVER }, async (t) => {
  const server = await ownRedis(t)
  const { app } = await build(t, { connection: server.url, commandTimeout: 200 })
  const credential = await create(app, { a: 1 })
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => admin.disconnect())
  await admin.client('PAUSE', 1_000, 'ALL')
  const paused = await app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': credential } })
  t.equal(paused.statusCode, 503)
  await admin.client('UNPAUSE')
  let status = 0
  for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
    status = (await app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': credential } })).statusCode
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200)
})

t.test('a stalled Redis under concurrent load: every request a 503 within twice the command timeout', { skip: NO_REDIS_SERVER }, async (t) => {
  // auto-pipelining queues the commands issued while a pipeline is in flight until it settles, so a
  // command can wait one timeout for the pipeline ahead of it and one for itself; without it, one
  for (const [autoPipelining, bound] of [[true, 2], [false, 1]] as const) {
    const server = await ownRedis(t)
    const commandTimeout = 200
    const { app, store } = await build(t, { connection: { host: '127.0.0.1', port: server.port, enableAutoPipelining: autoPipelining }, commandTimeout })
    t.equal(store.client.options.enableAutoPipelining, autoPipelining)
    const credential = await create(app, { a: 1 })
    const admin = new Redis(server.port, '127.0.0.1')
    t.teardown(() => admin.disconnect())
    await admin.client('PAUSE', 2_000, 'ALL')
    // five requests every 40 ms for 800 ms: four timeouts' worth of requests arriving behind each other
    const answers: Array<Promise<{ status: number, ms: number }>> = []
    for (let wave = 0; wave < 20; wave++) {
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        answers.push(app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': credential } })
          .then((response) => ({ status: response.statusCode, ms: performance.now() - started })))
      }
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    const settled = await Promise.all(answers)
    await admin.client('UNPAUSE')
    t.same(new Set(settled.map((answer) => answer.status)), new Set([503]), `auto-pipelining ${autoPipelining}: all 100 refused`)
    const slowest = Math.max(...settled.map((answer) => answer.ms))
    // the slack covers timers and a loaded machine, not another timeout
    t.ok(slowest < bound * commandTimeout + 150, `auto-pipelining ${autoPipelining}: slowest ${Math.round(slowest)} ms, bound ${bound} x ${commandTimeout} ms`)
    t.ok(slowest >= commandTimeout, 'the stall was real')
  }
})

t.test('garbage under a session key: 503, no crash', { skip: NO_REDIS_SERVER }, async (t) => {
  const server = await ownRedis(t)
  const { app, store } = await build(t, { connection: server.url, prefix: 'g:', maxRecordBytes: 1_000 })
  const credential = await create(app, { a: 1 })
  const [key] = await store.client.keys('g:s:*') as [string]
  const garbage: Array<() => Promise<unknown>> = [
    () => store.client.hset(key, 'r', 'yes'),
    async () => { await store.client.hdel(key, 'r'); await store.client.hset(key, 'd:bad', '{') },
    async () => { await store.client.hdel(key, 'd:bad'); await store.client.hset(key, 'd:big', JSON.stringify('x'.repeat(2_000))) },
    async () => { await store.client.hdel(key, 'd:big'); await store.client.hdel(key, 'c') },
    async () => { await store.client.del(key); await store.client.set(key, 'not a hash') }
  ]
  for (const write of garbage) {
    await write()
    const response = await app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': credential } })
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'FST_SESSIONKIT_CORRUPT_RECORD')
  }
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { 'x-session-id': credential } })
  t.equal(logout.statusCode, 503, 'the garbage is not a session to log out of')
  await store.destroy(key.slice(5, -1))
  t.equal(await store.client.exists(key), 0, 'but destroy clears it')
})

t.test('1,000 logouts raced against stale saves: the session never reappears', { skip: NO_REDIS_SERVER }, async (t) => {
  const server = await ownRedis(t)
  const { app } = await build(t, { connection: server.url })
  let reappeared = 0
  for (let batch = 0; batch < 20; batch++) {
    const credentials = await Promise.all(Array.from({ length: 50 }, (_, i) => create(app, { n: i })))
    await Promise.all(credentials.flatMap((credential) => [
      app.inject({ method: 'POST', url: '/set', headers: { 'x-session-id': credential }, payload: { stale: true } }),
      app.inject({ method: 'POST', url: '/logout', headers: { 'x-session-id': credential } })
    ]))
    const reads = await Promise.all(credentials.map((credential) => app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': credential } })))
    reappeared += reads.filter((response) => response.statusCode !== 401).length
  }
  t.equal(reappeared, 0)
})

t.test('a Redis that may evict keys under memory pressure is warned about, once; one that does not, or hides its configuration, is not', { skip: NO_REDIS_SERVER }, async (t) => {
  const warnings: Error[] = []
  const listener = (warning: Error): void => { if ((warning as { code?: string }).code === 'FST_SESSIONKIT_REDIS_EVICTION') warnings.push(warning) }
  process.on('warning', listener)
  t.teardown(() => process.off('warning', listener))
  /** The store connected and its check answered: commands on one connection answer in order. */
  async function settled (store: RedisStore): Promise<void> {
    await store.ready()
    await store.client.ping()
    await new Promise((resolve) => setImmediate(resolve))
  }

  const evicting = await ownRedis(t, ['--maxmemory-policy', 'allkeys-lru'])
  const owned = new RedisStore({ connection: evicting.url })
  t.teardown(() => owned.close())
  await settled(owned)
  t.equal(warnings.length, 1)
  t.match(warnings[0]?.message, /maxmemory-policy allkeys-lru\): an evicted denylist entry or user generation brings revoked tokens back/)
  // a client of the app's, already connected: checked at once
  const client = new Redis(evicting.url, { enableOfflineQueue: false, commandTimeout: 500 })
  t.teardown(() => client.disconnect())
  await new Promise((resolve) => client.once('ready', resolve))
  const given = new RedisStore({ client })
  await settled(given)
  t.equal(warnings.length, 2, 'once per store')
  await owned.client.set('probe', '1')
  await settled(owned)
  t.equal(warnings.length, 2, 'not again for the same store')
  // a client of the app's that maps RESP3 replies to objects: CONFIG GET answers with one
  const mapping = new Redis(evicting.url, { protocol: 3, replyMapping: 'resp3', enableOfflineQueue: false, commandTimeout: 500 })
  t.teardown(() => mapping.disconnect())
  await new Promise((resolve) => mapping.once('ready', resolve))
  t.same(await mapping.config('GET', 'maxmemory-policy'), { 'maxmemory-policy': 'allkeys-lru' }, 'an object indeed')
  await settled(new RedisStore({ client: mapping }))
  t.equal(warnings.length, 3, 'read from that object too')

  const strict = await ownRedis(t, ['--maxmemory-policy', 'noeviction'])
  const quiet = new RedisStore({ connection: strict.url })
  t.teardown(() => quiet.close())
  await settled(quiet)
  const hidden = await ownRedis(t, ['--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', '""'])
  const managed = new RedisStore({ connection: hidden.url })
  t.teardown(() => managed.close())
  await settled(managed)
  t.equal(warnings.length, 3, 'no warning for noeviction, nor where CONFIG cannot be read')
  await t.rejects(managed.client.config('GET', 'maxmemory-policy'), 'CONFIG is indeed refused there')
  t.equal(await managed.isTokenRevoked('j1'), false, 'and the store works')
})

t.test('a Redis out of memory under noeviction: reads and logouts go on, writes are 503s, nothing is lost', { skip: NO_REDIS_SERVER }, async (t) => {
  const server = await ownRedis(t, ['--maxmemory', '3mb', '--maxmemory-policy', 'noeviction'])
  const { app, store } = await build(t, { connection: server.url })
  const kept = await create(app, { a: 1 })
  const leaving = await create(app, { b: 2 })
  await store.revokeToken('before', 60_000)
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => admin.disconnect())
  // filled to its limit with keys of no one's
  let full = false
  for (let i = 0; i < 100_000 && !full; i++) {
    full = await admin.set(`filler:${i}`, 'x'.repeat(1_000)).then(() => false, (err: Error) => /^OOM /.test(err.message))
  }
  t.ok(full, 'Redis refuses writes')
  const read = await app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': kept } })
  t.same([read.statusCode, read.json().data], [200, { a: 1 }], 'a read goes on')
  const change = await app.inject({ method: 'POST', url: '/set', headers: { 'x-session-id': kept }, payload: { a: 2 } })
  t.same([change.statusCode, change.json().code], [503, 'FST_SESSIONKIT_STORE_UNAVAILABLE'], 'a change is a 503')
  t.equal((await app.inject({ method: 'POST', url: '/set', payload: { c: 3 } })).statusCode, 503, 'so is a new session')
  await t.rejects(store.revokeToken('after', 60_000), 'and a token revocation')
  t.equal(await store.isTokenRevoked('before'), true, 'an earlier one holds')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: { 'x-session-id': leaving } })).statusCode, 200, 'a logout only deletes: it goes on')
  t.equal((await app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': leaving } })).statusCode, 401, 'and holds')
  t.same((await app.inject({ method: 'GET', url: '/read', headers: { 'x-session-id': kept } })).json().data, { a: 1 }, 'the other session as it was')
})

/**
 * A TCP hop between the store and a real Redis (an on-path attacker, a compromised proxy): it
 * passes everything on, until armed, when it answers the next reply with `depth` RESP arrays nested
 * one in the other instead of Redis's own.
 */
async function tamperingHop (t: Test, upstreamPort: number, depth: number): Promise<{ url: string, arm: () => void }> {
  const nested = Buffer.concat([Buffer.from('*1\r\n'.repeat(depth)), Buffer.from(':1\r\n')])
  let armed = false
  const sockets = new Set<Socket>()
  const hop = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream)
    upstream.on('data', (reply: Buffer) => {
      if (!armed) {
        client.write(reply)
        return
      }
      armed = false
      client.write(nested)
    })
  })
  await new Promise<void>((resolve) => hop.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    hop.close(() => resolve())
  }))
  return { url: `redis://127.0.0.1:${(hop.address() as AddressInfo).port}`, arm: () => { armed = true } }
}

t.test('a reply nested 100,000 arrays deep from the Redis endpoint (the ioredis 5 advisory): a 503, no crash, then recovery', { skip: NO_REDIS_SERVER }, async (t) => {
  const unhandled = captureUnhandled(t)
  const server = await ownRedis(t)
  const hop = await tamperingHop(t, server.port, 100_000)
  const { app } = await build(t, { connection: hop.url, commandTimeout: 2_000 })
  const credential = await create(app, { cart: ['book'] })
  const headers = { 'x-session-id': credential }
  hop.arm()
  const tampered = await app.inject({ method: 'GET', url: '/read', headers })
  t.equal(tampered.statusCode, 503)
  t.equal(tampered.json().code, 'FST_SESSIONKIT_STORE_UNAVAILABLE')
  const recovered = await recovery(app, headers)
  t.equal(recovered.statusCode, 200, 'the client reconnects by itself')
  t.same(recovered.json().data, { cart: ['book'] }, 'with the data Redis kept')
  t.same(unhandled, [])
})
