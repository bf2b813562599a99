import t from 'tap'
import { pairOrder, schedule } from '../src/schedule.js'

const thirteen = Array.from({ length: 13 }, (_, i) => `c${i}`)

/** Each contender's choices, round by round. */
function byName (turns) {
  const choices = new Map()
  for (const { name, bareFirst } of turns) choices.set(name, [...choices.get(name) ?? [], bareFirst])
  return choices
}

t.test('every contender gets one turn per round, each round starting one contender further on', async (t) => {
  const turns = schedule(['a', 'b', 'c'], 4)
  t.same(turns.map(({ round, name }) => `${round}${name}`), ['1a', '1b', '1c', '2b', '2c', '2a', '3c', '3a', '3b', '4a', '4b', '4c'])
})

t.test('which of a pair is measured first alternates from round to round, for every contender', async (t) => {
  for (const count of [1, 2, 3, 12, 13, 14]) {
    const names = thirteen.slice(0, count)
    for (const [name, choices] of byName(schedule(names, 5))) {
      t.same(choices.slice(1).map((choice, i) => choice !== choices[i]), [true, true, true, true], `${count} contenders, ${name}`)
    }
  }
})

t.test('over an even number of rounds each contender is first as often as its bare; over an odd number, once more at most', async (t) => {
  for (const rounds of [1, 2, 5, 6]) {
    for (const [name, choices] of byName(schedule(thirteen, rounds))) {
      const first = choices.filter(Boolean).length
      t.ok(Math.abs(2 * first - rounds) <= rounds % 2, `${rounds} rounds, ${name}: bare first ${first} times`)
    }
  }
})

t.test('within a round, turns alternate but where the round wraps around the list', async (t) => {
  for (const round of [1, 2, 3, 4, 5]) {
    const turns = schedule(thirteen, 5).filter((turn) => turn.round === round)
    const repeats = turns.slice(1).filter((turn, i) => turn.bareFirst === turns[i].bareFirst).map((turn) => turn.name)
    t.same(repeats, round === 1 ? [] : ['c0'], `round ${round}`)
  }
})

t.test('pair: every contender once per round, and of any two each is measured first in one round of every two', async (t) => {
  t.same(pairOrder(3, 4), [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1]])
  for (const count of [1, 2, 3, 5, 6]) {
    for (const rounds of [2, 4, 6, 10, 12]) {
      const order = pairOrder(count, rounds)
      t.ok(order.every((round) => [...round].sort((a, b) => a - b).join() === Array.from({ length: count }, (_, i) => i).join()), `${count} contenders, ${rounds} rounds: each once a round`)
      for (let a = 0; a < count; a++) {
        for (let b = a + 1; b < count; b++) {
          for (let two = 0; two < rounds; two += 2) {
            const firsts = [order[two], order[two + 1]].map((round) => round.indexOf(a) < round.indexOf(b))
            t.same(firsts.sort(), [false, true], `${count} contenders, rounds ${two + 1}-${two + 2}: ${a} and ${b}`)
          }
        }
      }
      const starts = order.filter((_, round) => round % 2 === 0).map((round) => round[0])
      t.same(starts, starts.map((_, two) => two % count), `${count} contenders, ${rounds} rounds: each two rounds start one contender further on`)
      t.same(order.filter((_, round) => round % 2 === 1), order.filter((_, round) => round % 2 === 0).map((round) => [...round].reverse()), `${count} contenders, ${rounds} rounds: the second of two goes backwards`)
    }
  }
})
