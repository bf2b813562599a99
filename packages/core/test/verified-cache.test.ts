import t from 'tap'
import { VerifiedCache } from '@sessionkit/core'

const END = 'S'.repeat(22)

t.test('a credential is given only what its own string yielded, though found by its last 22 characters', async (t) => {
  const cache = new VerifiedCache<string>(10)
  t.equal(cache.get('a.' + END), undefined, 'nothing yet')
  cache.set('a.' + END, 'a')
  t.equal(cache.get('a.' + END), 'a')
  t.equal(cache.get('b.' + END), undefined, 'another string ending alike')
  t.equal(cache.get('xa.' + END), undefined, 'one that contains it')
  t.equal(cache.get(END), undefined, 'its end alone')
  t.equal(cache.get('a.' + END.slice(1) + 'T'), undefined, 'its last character changed')
  cache.set('b.' + END, 'b')
  t.equal(cache.size, 1, 'another string ending alike takes its place')
  t.equal(cache.get('b.' + END), 'b')
  t.equal(cache.get('a.' + END), undefined)
  cache.set('short', 'short')
  t.equal(cache.get('short'), 'short', 'a string shorter than 22 characters is found whole')
  t.equal(cache.get('hort'), undefined)
})

t.test('bounded: when full, the oldest goes first; a string that replaces one ending alike evicts nothing', async (t) => {
  const cache = new VerifiedCache<number>(3)
  const credential = (i: number): string => `${i}.${String(i).padStart(30, '0')}`
  for (let i = 0; i < 5; i++) cache.set(credential(i), i)
  t.equal(cache.size, 3)
  t.same([0, 1, 2, 3, 4].map((i) => cache.get(credential(i)) ?? null), [null, null, 2, 3, 4], 'the two oldest are gone')
  cache.set('x' + credential(3), 33)
  t.equal(cache.size, 3)
  t.same([2, 3, 4].map((i) => cache.get(credential(i)) ?? null), [2, null, 4], 'only the one ending alike gave way')
  t.equal(cache.get('x' + credential(3)), 33)
  for (let i = 5; i < 1_000; i++) cache.set(credential(i), i)
  t.equal(cache.size, 3)
  t.same([997, 998, 999].map((i) => cache.get(credential(i))), [997, 998, 999], 'the newest three, after many evictions')
})

t.test('a limit that is no positive integer is refused with a coded error', async (t) => {
  for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
    t.throws(() => new VerifiedCache(limit), { code: 'FST_SESSIONKIT_INVALID_OPTION', message: 'Invalid option "limit": must be a positive integer (entries)' }, String(limit))
  }
  t.equal(new VerifiedCache(1).size, 0)
})
