// sessionkit's write beside the same write done by hand, in one run. A full run also measures
// `by-hand` (src/by-hand.js), a cookie session written by hand with sessionkit's guarantees and
// nothing else, on the write: what that work costs on the machine of the run. Each mechanism's
// write over it says what sessionkit costs beyond the work itself, which the machine's weighing of
// crypto, system calls and memory leaves mostly alone (the ratios to bare Fastify do not).

/** The reference and the scenario it is measured on in a full run. */
export const HAND = { contender: 'by-hand', scenario: 'write' }
/** The memory-store mechanisms whose write is set beside it. */
export const MECHANISMS = ['sessionkit-cookie', 'sessionkit-header', 'sessionkit-query']

/**
 * The hand-written write in `rows` (a run's `latest.json` rows), or null when the run did not
 * measure it; and each mechanism's write as a ratio of it: the medians of their paired ratios to
 * bare Fastify, one over the other (as `× anchor` is), or null for a mechanism not measured.
 */
export function overHand (rows) {
  const write = (contender) => rows.find((r) => r.scenario === HAND.scenario && r.contender === contender)
  const hand = write(HAND.contender)
  if (typeof hand?.vsBare !== 'number') return null
  return {
    hand,
    mechanisms: MECHANISMS.map((contender) => {
      const own = write(contender)?.vsBare
      return { contender, ratio: typeof own === 'number' ? own / hand.vsBare : null }
    })
  }
}
