import t from 'tap'
import { OldestKeys } from '@sessionkit/core'

t.test('an empty map has no oldest key, and a map filled later is read from its start', async (t) => {
  const map = new Map<string, number>()
  const oldest = new OldestKeys(map)
  t.equal(oldest.next(), undefined)
  t.equal(oldest.next(), undefined, 'and again, once the cursor has run out')
  map.set('a', 1).set('b', 2)
  t.equal(oldest.next(), 'a')
  map.delete('a')
  map.set('a', 3)
  t.equal(oldest.next(), 'b', 're-inserted, "a" is now the newest')
  map.delete('b')
  t.equal(oldest.next(), 'a')
  map.delete('a')
  t.equal(oldest.next(), undefined)
  map.set('c', 4).set('d', 5)
  t.equal(oldest.next(), 'c')
  map.delete('c')
  oldest.release()
  t.equal(oldest.next(), 'd', 'released, the next call starts again from the oldest')
})

t.test('the oldest key is the one a list kept in order would give, through many rebuilds of the table', async (t) => {
  const map = new Map<number, number>()
  const oldest = new OldestKeys(map)
  // the reference: keys in insertion order, a re-inserted key moved to the end
  let order: number[] = []
  let next = 0
  let random = 7
  const roll = (n: number): number => { random = (random * 1_103_515_245 + 12_345) % 2_147_483_648; return random % n }
  const insert = (key: number): void => { map.set(key, key); order.push(key) }
  for (let i = 0; i < 500; i++) insert(next++)
  let mismatches = 0
  for (let step = 0; step < 20_000; step++) {
    const action = roll(10)
    if (action < 3 && order.length > 0) {
      // touch: delete and re-insert a live key anywhere in the order
      const key = order[roll(order.length)] as number
      map.delete(key)
      order = order.filter((k) => k !== key)
      insert(key)
    } else if (action < 4 && order.length > 0) {
      // an entry deleted by something else (a session destroyed, an expired one swept)
      const key = order[roll(order.length)] as number
      map.delete(key)
      order = order.filter((k) => k !== key)
    } else {
      // full: the oldest goes, then a new key
      if (order.length >= 500) {
        const key = oldest.next()
        if (key !== order[0]) mismatches++
        map.delete(key as number)
        order.shift()
      }
      insert(next++)
    }
  }
  t.equal(mismatches, 0, 'every evicted key was the oldest live one')
  t.same([...map.keys()], order, 'and the map holds what the reference holds')
  t.ok(next > 10_000, `${next} keys inserted into a map of at most 500`)
})
