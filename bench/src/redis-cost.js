// pnpm --filter @sessionkit/bench run redis-cost
// What each operation of the Redis store costs Redis itself: microseconds of Redis's CPU per
// command, as Redis counts them (INFO commandstats), which no load on the machine blurs. Creates,
// reads, merges, touches and destroys 20,000 sessions of one small key, 500 at a time, under a
// prefix of its own, on REDIS_URL (default redis://127.0.0.1:6379); and, for scale, a plain SET of
// a value that size. Its own keys are deleted at the end.
import { Redis } from 'ioredis'
import { generateToken, sessionIdOf } from '@sessionkit/core'
import { RedisStore } from '@sessionkit/redis'

const SESSIONS = 20_000
const BATCH = 500
const prefix = `bench-redis-cost-${process.pid}:`
const store = new RedisStore({ prefix })
await store.ready()
const ids = Array.from({ length: SESSIONS }, () => sessionIdOf(generateToken()))
const now = Date.now()

/** Redis's µs per call of each command `run` sent, by command. */
async function cost (run) {
  await store.client.config('RESETSTAT')
  for (let i = 0; i < ids.length; i += BATCH) await Promise.all(ids.slice(i, i + BATCH).map(run))
  const stats = await store.client.info('commandstats')
  return Object.fromEntries([...stats.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)]
    .filter(([, name]) => name !== 'config' && name !== 'info')
    .map(([, name, calls, us]) => [name, `${Number(us).toFixed(2)} µs (${calls} calls)`]))
}

const record = { version: 1, createdAt: now, lastSeenAt: now, userId: null, data: { n: 1 } }
try {
  console.log('create (set, version 0)', await cost((id) => store.set(id, record, 0, 60_000)))
  console.log('read (get)             ', await cost((id) => store.get(id)))
  console.log('change one key (merge) ', await cost((id) => store.merge(id, new Map([['n', 2]]), { lastSeenAt: now + 1 }, 60_000)))
  console.log('touch                  ', await cost((id) => store.touch(id, now + 2, 60_000)))
  console.log('destroy                ', await cost((id) => store.destroy(id)))
  const plain = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  try {
    await store.client.config('RESETSTAT')
    for (let i = 0; i < ids.length; i += BATCH) await Promise.all(ids.slice(i, i + BATCH).map((id) => plain.set(`${prefix}plain:${id}`, JSON.stringify(record), 'PX', 60_000)))
    const line = /^cmdstat_set:calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/m.exec(await store.client.info('commandstats'))
    console.log('for scale: a plain SET ', { set: `${Number(line?.[2]).toFixed(2)} µs (${line?.[1]} calls)` })
    for (let i = 0; i < ids.length; i += BATCH) await plain.del(...ids.slice(i, i + BATCH).map((id) => `${prefix}plain:${id}`))
  } finally {
    plain.disconnect()
  }
} finally {
  await store.close()
}
