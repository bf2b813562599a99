// The order of a full run: which contender's turn comes when, and in each turn, whether its bare
// Fastify is measured before it or after it.

/**
 * The turns of `rounds` rounds over `names`, in order. Each round starts one contender further on
 * (A B C, B C A, C A B ...), so that no contender always runs first or last. Which of a pair is
 * measured first (right after the pair's warm-up) alternates from one round to the next for every
 * contender, and mostly from one turn to the next within a round: whatever being first or second
 * costs then falls on both sides of each contender's ratios alike, but for the one round more that
 * an odd number of rounds gives one side. (Up to bfd38b5 the choice went by the turn's place in its
 * round, and since each round also moved every contender one place on, most contenders were measured
 * on the same side of their bare in every round.)
 */
export function schedule (names, rounds) {
  const turns = []
  for (let round = 1; round <= rounds; round++) {
    const shift = (round - 1) % names.length
    for (let turn = 0; turn < names.length; turn++) {
      const index = (shift + turn) % names.length
      turns.push({ round, name: names[index], bareFirst: (round + index) % 2 === 0 })
    }
  }
  return turns
}

/**
 * The order in which `pair` measures its `count` contenders in each of `rounds` rounds, as indices.
 * Rounds go in twos: the first of two measures the list from a starting contender on, the second the
 * same order backwards, and each two start one contender further on. Of any two contenders, each is
 * then measured before the other in one round of every two, whatever their places in the list: with
 * the start alone moving (up to ee8e280), a contender came right after the one listed before it in
 * every round but one of each `count`, so that a paired comparison of the two measured mostly one
 * way round.
 */
export function pairOrder (count, rounds) {
  const order = []
  for (let round = 0; round < rounds; round++) {
    const shift = Math.floor(round / 2) % count
    const forward = Array.from({ length: count }, (_, turn) => (shift + turn) % count)
    order.push(round % 2 === 0 ? forward : forward.reverse())
  }
  return order
}
