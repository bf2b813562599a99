// Bytes per idle small session, heap measured after GC: sessionkit's MemoryStore against
// @fastify/session's, each holding what its plugin would store for { userId, n }.
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '@sessionkit/core'
import { MemoryStore as FastifySessionMemoryStore } from '@fastify/session'

const COUNT = 100_000
const heap = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().heapUsed }
const id = () => randomBytes(32).toString('base64url')

async function perSession (fill) {
  const before = heap()
  const keep = await fill()
  const after = heap()
  if (keep === undefined) throw new Error('nothing kept')
  return Math.round((after - before) / COUNT)
}

const sessionkit = await perSession(async () => {
  const store = new MemoryStore({ maxEntries: COUNT * 2 })
  const now = Date.now()
  for (let i = 0; i < COUNT; i++) {
    await store.set(id().slice(0, 43), { version: 1, createdAt: now, lastSeenAt: now, userId: `user-${i}`, data: { userId: `user-${i}`, n: i } }, 0, 1_800_000)
  }
  store.close()
  return store
})

const fastifySession = await perSession(async () => {
  const store = new FastifySessionMemoryStore()
  const expires = new Date(Date.now() + 1_800_000)
  for (let i = 0; i < COUNT; i++) {
    // what @fastify/session saves: its Session object with a cookie, the data as properties
    store.set(id(), { cookie: { originalMaxAge: 1_800_000, expires, secure: false, httpOnly: true, path: '/', sameSite: 'lax' }, userId: `user-${i}`, n: i }, () => {})
  }
  return store
})

process.stdout.write(JSON.stringify({ sessions: COUNT, sessionkit, fastifySession }))
