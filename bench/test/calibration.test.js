import t from 'tap'
import { ANCHOR_RANGES, calibration } from '../src/calibration.js'

const read = (contender, vsBare) => ({ scenario: 'read', contender, vsBare })

t.test('each anchor read is placed against the range the issue quotes for it', async (t) => {
  const rows = [
    // the same contenders in other scenarios are not the reads the ranges are of
    { scenario: 'write', contender: 'fastify-jwt', vsBare: 0.62 },
    { scenario: 'plain', contender: 'fastify-session', vsBare: 0.5 },
    read('fastify-session', 0.37),
    read('fastify-jwt', 0.40),
    read('secure-session', 0.90),
    read('signed-cookie', 0.76)
  ]
  t.same(calibration(rows).map((a) => [a.contender, a.ratio, a.standing]), [
    ['fastify-session', 0.37, 'inside'],
    ['fastify-jwt', 0.40, 'below'],
    ['secure-session', 0.90, 'above'],
    ['signed-cookie', 0.76, 'inside']
  ])
})

t.test('a ratio is placed as the issue gives its ranges, to two decimals', async (t) => {
  const standing = (value) => calibration([read('fastify-jwt', value)]).find((a) => a.contender === 'fastify-jwt').standing
  t.equal(standing(0.6049), 'below', 'shown as 0.60')
  t.equal(standing(0.6051), 'inside', 'shown as 0.61, the low end')
  t.equal(standing(0.6649), 'inside', 'shown as 0.66, the high end')
  t.equal(standing(0.6651), 'above', 'shown as 0.67')
})

t.test('an anchor the run did not measure is said so', async (t) => {
  const standings = calibration([read('fastify-session', 0.4)])
  t.same(standings.map((a) => a.standing), ['inside', 'not measured', 'not measured', 'not measured'])
  t.equal(standings[1].ratio, null)
})

t.test('the ranges are the benchmarks issue\'s, low below high', async (t) => {
  t.same(ANCHOR_RANGES.map(({ contender, low, high }) => [contender, low, high]), [
    ['fastify-session', 0.31, 0.48],
    ['fastify-jwt', 0.61, 0.66],
    ['secure-session', 0.69, 0.84],
    ['signed-cookie', 0.76, 0.96]
  ])
})
