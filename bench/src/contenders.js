// Every contender: how to register it, and the three session routes written against its API.
// Plain JavaScript on purpose: the anchors each declare `request.session` with their own type, and
// no TypeScript program can hold them together (the very problem sessionkit's one contract solves).
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifySecureSession from '@fastify/secure-session'
import fastifyJwt from '@fastify/jwt'
import mgcreaSession from '@mgcrea/fastify-session'
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import { createClient } from 'redis'
import { MemoryStore } from '@sessionkit/core'
import { sessionkitCookie } from '@sessionkit/cookie'
import { sessionkitHeader } from '@sessionkit/header'
import { sessionkitQuery } from '@sessionkit/query'
import { sessionkitJwt } from '@sessionkit/jwt'
import { RedisStore } from '@sessionkit/redis'
import { join, resolve } from 'node:path'
import { byHand } from './by-hand.js'

const SECRET = 'bench-secret-0123456789abcdef-0123456789abcdef'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Session routes for plugins with a get/set session (@fastify/session, @fastify/secure-session, @mgcrea, sessionkit). */
function getSetRoutes (app) {
  app.get('/read', async (request) => ({ n: request.session.get('n') ?? null }))
  app.post('/write', async (request) => {
    request.session.set('n', 1)
    return { ok: true }
  })
  app.post('/update', async (request) => {
    request.session.set('n', Math.random())
    return { ok: true }
  })
}

const JWT_KEYS = [{ kid: 'b1', algorithm: 'HS256', secret: SECRET }]
/**
 * The JWT options: signed tokens; or, with BENCH_SEALED=1 in the environment (`pair read
 * sessionkit-jwt:BENCH_SEALED`), tokens encrypted too (`encryptionKeys`).
 */
const JWT_OPTIONS = { keys: JWT_KEYS, ...(process.env.BENCH_SEALED === undefined ? {} : { encryptionKeys: [{ kid: 'e1', secret: SECRET.split('').reverse().join('') }] }) }

/** A sessionkit mechanism on a memory store of its own, with the get/set routes. */
function onMemory (Store, plugin, options = { secret: SECRET }) {
  return async function build (app) {
    await app.register(plugin, { ...options, store: own(app, await memoryStore(Store)) })
    getSetRoutes(app)
  }
}

/** The memory store's default cap on sessions. */
const DEFAULT_CAP = 100_000

/**
 * A memory store whose cap no run reaches, so that a write only adds; or, with BENCH_AT_CAP=1 in
 * the environment (`pair write sessionkit-header:BENCH_AT_CAP`), one with the default cap and full
 * before the first request, so that every session written evicts the least recently active one:
 * the steady state of a server that has been up for a while.
 */
async function memoryStore (Store) {
  if (process.env.BENCH_AT_CAP === undefined) return new Store({ maxEntries: 2_000_000 })
  const store = new Store()
  const now = Date.now()
  for (let i = 0; i < DEFAULT_CAP; i++) {
    await store.set(`seed-${i}`, { version: 1, createdAt: now, lastSeenAt: now, userId: null, data: { n: 1 } }, 0, 86_400_000)
  }
  return store
}

/** A sessionkit mechanism on Redis under a prefix of its own, deleted when the server closes. */
function onRedis (prefix, plugin, options, Store = RedisStore) {
  return async function build (app) {
    const store = new Store({ connection: REDIS_URL, prefix: `${prefix}-${process.pid}:` })
    await store.ready()
    app.addHook('onClose', async () => { await sweep(store.client, `${prefix}-${process.pid}:*`); await store.close() })
    await app.register(plugin, { ...options, store })
    getSetRoutes(app)
  }
}

/** How a client carries the credential a response handed out. */
const byCookie = (response, name = 'sid') => {
  const line = [].concat(response.headers['set-cookie'] ?? []).find((c) => c.startsWith(name + '='))
  return { cookie: line.split(';')[0] }
}

/**
 * Bare Fastify: the same three routes, no session. With BENCH_QUERY_HEADERS=1 in the environment
 * (`pair plain bare sessionkit-query bare:BENCH_QUERY_HEADERS`), every response also gets the two
 * headers the query mechanism must add to every response (SECURITY.md section 9) from an onSend
 * hook, as the query plugin sets them: what that requirement costs by itself.
 */
async function bare (app) {
  if (process.env.BENCH_QUERY_HEADERS !== undefined) {
    app.addHook('onSend', function queryHeaders (request, reply, payload, done) {
      reply.header('referrer-policy', 'no-referrer')
      reply.header('cache-control', 'no-store, private')
      done(null, payload)
    })
  }
  app.get('/read', async () => ({ n: 1 }))
  app.post('/write', async () => ({ ok: true }))
  app.post('/update', async () => ({ ok: true }))
}

export const contenders = {
  bare: {
    kind: 'anchor',
    build: bare,
    credential: () => ({})
  },
  // bare Fastify measured against itself: its ratios show what the method can resolve on this machine
  'bare-control': {
    kind: 'control',
    build: bare,
    credential: () => ({})
  },
  'signed-cookie': {
    kind: 'anchor',
    async build (app) {
      await app.register(fastifyCookie, { secret: SECRET })
      app.get('/read', async (request) => ({ n: request.unsignCookie(request.cookies.sid ?? '').value }))
      app.post('/write', async (request, reply) => { reply.setCookie('sid', '1', { signed: true, path: '/' }); return { ok: true } })
      app.post('/update', async (request, reply) => { reply.setCookie('sid', String(Math.random()), { signed: true, path: '/' }); return { ok: true } })
    },
    credential: byCookie
  },
  'fastify-session': {
    kind: 'anchor',
    async build (app) {
      await app.register(fastifyCookie)
      await app.register(fastifySession, { secret: SECRET, cookieName: 'sid', saveUninitialized: false, cookie: { secure: false } })
      getSetRoutes(app)
    },
    credential: byCookie
  },
  'fastify-session+connect-redis': {
    kind: 'anchor',
    redis: true,
    async build (app) {
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      app.addHook('onClose', async () => {
        for await (const keys of client.scanIterator({ MATCH: `bench-cr-${process.pid}:*`, COUNT: 1000 })) if (keys.length > 0) await client.unlink(keys)
        await client.quit()
      })
      await app.register(fastifyCookie)
      await app.register(fastifySession, { secret: SECRET, cookieName: 'sid', saveUninitialized: false, cookie: { secure: false }, store: new ConnectRedisStore({ client, prefix: `bench-cr-${process.pid}:` }) })
      getSetRoutes(app)
    },
    credential: byCookie
  },
  'secure-session': {
    kind: 'anchor',
    async build (app) {
      await app.register(fastifySecureSession, { key: Buffer.alloc(32, 7), cookieName: 'sid', cookie: { path: '/' } })
      getSetRoutes(app)
    },
    credential: byCookie
  },
  'fastify-jwt': {
    kind: 'anchor',
    async build (app) {
      await app.register(fastifyJwt, { secret: SECRET })
      app.get('/read', async (request) => { await request.jwtVerify(); return { n: request.user.n } })
      app.post('/write', async (request, reply) => ({ token: await reply.jwtSign({ n: 1 }, { expiresIn: '15m' }) }))
      app.post('/update', async (request, reply) => { await request.jwtVerify(); return { token: await reply.jwtSign({ n: Math.random() }, { expiresIn: '15m' }) } })
    },
    credential: (response) => ({ authorization: `Bearer ${response.json().token}` })
  },
  'mgcrea-session': {
    kind: 'anchor',
    async build (app) {
      await app.register(fastifyCookie)
      await app.register(mgcreaSession, { secret: SECRET, cookieName: 'sid', cookie: { maxAge: 86400 } })
      getSetRoutes(app)
    },
    credential: byCookie
  },
  // a reference: a cookie session written by hand with sessionkit's guarantees and nothing else
  // (src/by-hand.js). A full run measures its write only (`full`, see src/yardstick.js); every
  // scenario where it is named (`--only`, `pair`, `instr`, `native`).
  'by-hand': {
    kind: 'reference',
    full: ['write'],
    build: (app) => { byHand(app, SECRET) },
    credential: byCookie
  },
  'sessionkit-cookie': {
    kind: 'sessionkit',
    build: onMemory(MemoryStore, sessionkitCookie),
    credential: byCookie
  },
  'sessionkit-header': {
    kind: 'sessionkit',
    build: onMemory(MemoryStore, sessionkitHeader),
    credential: (response) => ({ 'x-session-id': response.headers['x-session-id'] })
  },
  'sessionkit-query': {
    kind: 'sessionkit',
    build: onMemory(MemoryStore, sessionkitQuery),
    credential: (response) => ({ query: `sid=${response.headers['x-session-id']}` })
  },
  'sessionkit-cookie+redis': {
    kind: 'sessionkit',
    redis: true,
    build: onRedis('bench-sk', sessionkitCookie, { secret: SECRET }),
    credential: byCookie
  },
  'sessionkit-jwt': {
    kind: 'sessionkit',
    build: onMemory(MemoryStore, sessionkitJwt, JWT_OPTIONS),
    credential: (response) => ({ authorization: `Bearer ${response.headers['x-session-token']}` })
  },
  'sessionkit-jwt+redis': {
    kind: 'sessionkit',
    redis: true,
    build: onRedis('bench-skj', sessionkitJwt, { keys: JWT_KEYS }),
    credential: (response) => ({ authorization: `Bearer ${response.headers['x-session-token']}` })
  }
}

/** Deletes what a Redis contender wrote (SCAN in batches), so that runs leave a shared Redis as they found it. */
async function sweep (client, pattern) {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    if (keys.length > 0) await client.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
}

function own (app, store) {
  app.addHook('onClose', () => store.close())
  return store
}

// BENCH_BASELINE=<another checkout, built>: its mechanisms run beside ours as `baseline-*`, for a
// before/after comparison of a change in the same run.
if (process.env.BENCH_BASELINE !== undefined) {
  const load = (name) => import(join(resolve(process.env.BENCH_BASELINE), 'packages', name, 'dist', 'index.js'))
  const [core, cookie, header, query, jwt, redis] = await Promise.all(['core', 'cookie', 'header', 'query', 'jwt', 'redis'].map(load))
  contenders['baseline-cookie'] = { ...contenders['sessionkit-cookie'], kind: 'baseline', build: onMemory(core.MemoryStore, cookie.sessionkitCookie) }
  contenders['baseline-header'] = { ...contenders['sessionkit-header'], kind: 'baseline', build: onMemory(core.MemoryStore, header.sessionkitHeader) }
  contenders['baseline-query'] = { ...contenders['sessionkit-query'], kind: 'baseline', build: onMemory(core.MemoryStore, query.sessionkitQuery) }
  contenders['baseline-jwt'] = { ...contenders['sessionkit-jwt'], kind: 'baseline', build: onMemory(core.MemoryStore, jwt.sessionkitJwt, { keys: JWT_KEYS }) }
  contenders['baseline-cookie+redis'] = { ...contenders['sessionkit-cookie+redis'], kind: 'baseline', build: onRedis('bench-base-sk', cookie.sessionkitCookie, { secret: SECRET }, redis.RedisStore) }
  contenders['baseline-jwt+redis'] = { ...contenders['sessionkit-jwt+redis'], kind: 'baseline', build: onRedis('bench-base-skj', jwt.sessionkitJwt, { keys: JWT_KEYS }, redis.RedisStore) }
}
