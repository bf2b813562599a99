import t from 'tap'
import { MECHANISMS, overHand } from '../src/yardstick.js'

const write = (contender, vsBare) => ({ scenario: 'write', contender, vsBare })

t.test('each mechanism\'s write over the hand-written write of the same run', async (t) => {
  const rows = [
    // other scenarios of the same contenders are not the write
    { scenario: 'read', contender: 'by-hand', vsBare: 0.6 },
    { scenario: 'read', contender: 'sessionkit-cookie', vsBare: 0.95 },
    write('sessionkit-cookie', 0.66),
    write('by-hand', 0.6),
    write('sessionkit-header', 0.63),
    write('sessionkit-query', 0.54),
    write('signed-cookie', 0.9)
  ]
  const result = overHand(rows)
  t.equal(result.hand, rows[3], 'the hand-written write is the write row of by-hand')
  t.same(result.mechanisms.map(({ contender }) => contender), MECHANISMS)
  const ratios = result.mechanisms.map(({ ratio }) => ratio)
  t.ok(Math.abs(ratios[0] - 1.1) < 1e-12, `cookie ${ratios[0]}`)
  t.ok(Math.abs(ratios[1] - 1.05) < 1e-12, `header ${ratios[1]}`)
  t.ok(Math.abs(ratios[2] - 0.9) < 1e-12, `query ${ratios[2]}`)
})

t.test('a mechanism the run did not measure has no ratio', async (t) => {
  const result = overHand([write('by-hand', 0.5), write('sessionkit-header', 0.6)])
  t.same(result.mechanisms, [
    { contender: 'sessionkit-cookie', ratio: null },
    { contender: 'sessionkit-header', ratio: 0.6 / 0.5 },
    { contender: 'sessionkit-query', ratio: null }
  ])
})

t.test('a run without the hand-written write has no yardstick', async (t) => {
  t.equal(overHand([write('sessionkit-cookie', 0.66), { scenario: 'read', contender: 'by-hand', vsBare: 0.6 }]), null)
  t.equal(overHand([]), null)
})
