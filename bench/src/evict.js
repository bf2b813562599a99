// pnpm --filter @sessionkit/bench run evict
// What keeping a map bounded costs per insert, when the map is full and each insert first deletes
// its oldest entry: found by a new `map.keys()` iterator each time (which starts at the first slot
// of V8's table and walks past every slot the earlier deletions emptied) or by one `OldestKeys`
// cursor that resumes where it stopped; at the credential caches' default size (10,000) and the
// memory store's (100,000). Then the memory store's own write of a new session, into a store at its
// cap (every write evicts) and into one far below it. Medians of 5 rounds of 100,000 inserts.
import { MemoryStore, OldestKeys } from '@sessionkit/core'
import { median } from './harness.js'

const ROUNDS = 5
const INSERTS = 100_000

/** ns per insert into a full map of `size` entries, the oldest found by `oldestOf(map)`. */
function boundedInserts (size, makeOldest) {
  const map = new Map()
  let next = 0
  for (; next < size; next++) map.set(`key-${next}`, next)
  const oldest = makeOldest(map)
  const times = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < INSERTS; i++) {
      map.delete(oldest())
      map.set(`key-${next}`, next++)
    }
    times.push(Number(process.hrtime.bigint() - start) / INSERTS)
  }
  if (map.size !== size) throw new Error(`the map holds ${map.size} entries, not ${size}`)
  return median(times)
}

/** ns per new session written into a memory store holding `filled` sessions under a cap of `cap`. */
function storeWrites (cap, filled) {
  const store = new MemoryStore({ maxEntries: cap })
  const record = () => ({ version: 1, createdAt: 0, lastSeenAt: 0, userId: null, data: { n: 1 } })
  let next = 0
  for (; next < filled; next++) store.sync.set(`id-${next}`, record(), 0, 3_600_000)
  const times = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < INSERTS; i++) store.sync.set(`id-${next++}`, record(), 0, 3_600_000)
    times.push(Number(process.hrtime.bigint() - start) / INSERTS)
  }
  store.close()
  return median(times)
}

const fresh = (map) => () => map.keys().next().value
const cursor = (map) => {
  const keys = new OldestKeys(map)
  return () => keys.next()
}
const ns = (value) => `${value.toFixed(0).padStart(7)} ns`
for (const size of [10_000, 100_000]) {
  const withFresh = boundedInserts(size, fresh)
  const withCursor = boundedInserts(size, cursor)
  console.log(`full map of ${String(size).padStart(7)}: a new keys() per eviction ${ns(withFresh)}, OldestKeys ${ns(withCursor)} per insert (${(withFresh / withCursor).toFixed(1)} x)`)
}
const atCap = storeWrites(100_000, 100_000)
const belowCap = storeWrites(2_000_000, 100_000)
console.log(`MemoryStore write of a new session: at its cap of 100,000 ${ns(atCap)}, far below it ${ns(belowCap)} (${(atCap / belowCap).toFixed(2)} x)`)
