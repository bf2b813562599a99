// pnpm --filter @sessionkit/bench run redis-cost
// What each operation of the Redis store costs Redis itself: microseconds per command as Redis
// times it (INFO commandstats: the time spent executing it, the network round trip left out, the
// scripts' inner commands included in the script's own figure). Creates, reads, merges, touches and
// destroys 10,000 sessions of one small key, 500 at a time, under a prefix of its own, on REDIS_URL
// (default redis://127.0.0.1:6379); and, for scale, a plain SET of a value that size. Medians of 8
// rounds. Redis's own timing still moves with the machine (a VM's stolen time shows in it), so with
// BENCH_BASELINE=<another checkout, built> its Redis store runs too, in the same rounds, each round
// starting with the other one, and the ratio of the medians is what to read. Its keys are deleted.
import { join, resolve } from 'node:path'
import { Redis } from 'ioredis'
import { generateToken, sessionIdOf } from '@sessionkit/core'
import { RedisStore } from '@sessionkit/redis'
import { median } from './harness.js'

const SESSIONS = 10_000
const BATCH = 500
const ROUNDS = 8
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const admin = new Redis(url)
const stores = { current: new RedisStore({ connection: url, prefix: `bench-redis-cost-${process.pid}:` }) }
if (process.env.BENCH_BASELINE !== undefined) {
  const { RedisStore: Baseline } = await import(join(resolve(process.env.BENCH_BASELINE), 'packages', 'redis', 'dist', 'index.js'))
  stores.baseline = new Baseline({ connection: url, prefix: `bench-redis-cost-base-${process.pid}:` })
}
await Promise.all(Object.values(stores).map((store) => store.ready()))
const now = Date.now()
const record = { version: 1, createdAt: now, lastSeenAt: now, userId: null, data: { n: 1 } }

/** Redis's µs per call of the command `run` sends (`evalsha` for a script), once for every id. */
async function cost (ids, command, run) {
  await admin.config('RESETSTAT')
  for (let i = 0; i < ids.length; i += BATCH) await Promise.all(ids.slice(i, i + BATCH).map(run))
  const line = new RegExp(`^cmdstat_${command}:calls=(\\d+),usec=\\d+,usec_per_call=([\\d.]+)`, 'm').exec(await admin.info('commandstats'))
  if (line === null || Number(line[1]) < ids.length - 1) throw new Error(`${command}: not sent for every session`)
  return Number(line[2])
}

const operations = (store) => ({
  'create (set, version 0)': ['evalsha', (id) => store.set(id, record, 0, 60_000)],
  'read (get)': ['hgetall', (id) => store.get(id)],
  'change one key (merge)': ['evalsha', (id) => store.merge(id, new Map([['n', 2]]), { lastSeenAt: now + 1 }, 60_000)],
  touch: ['evalsha', (id) => store.touch(id, now + 2, 60_000)],
  destroy: ['evalsha', (id) => store.destroy(id)],
  'for scale: a plain SET of that record': ['set', (id) => admin.set(`bench-redis-cost-${process.pid}:plain:${id}`, JSON.stringify(record), 'PX', 60_000)]
})
const samples = {}
try {
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(stores)
    for (const name of round % 2 === 0 ? names : names.reverse()) {
      const ids = Array.from({ length: SESSIONS }, () => sessionIdOf(generateToken()))
      for (const [operation, [command, run]] of Object.entries(operations(stores[name]))) {
        ((samples[operation] ??= {})[name] ??= []).push(await cost(ids, command, run))
      }
      for (let i = 0; i < ids.length; i += BATCH) await admin.del(...ids.slice(i, i + BATCH).map((id) => `bench-redis-cost-${process.pid}:plain:${id}`))
    }
  }
  for (const [operation, byStore] of Object.entries(samples)) {
    const current = median(byStore.current)
    const baseline = byStore.baseline === undefined ? '' : `   baseline ${median(byStore.baseline).toFixed(2).padStart(6)} µs, current / baseline ${(current / median(byStore.baseline)).toFixed(2)}`
    console.log(`${operation.padEnd(40)} ${current.toFixed(2).padStart(6)} µs of Redis per call${baseline}`)
  }
} finally {
  admin.disconnect()
  await Promise.all(Object.values(stores).map((store) => store.close()))
}
