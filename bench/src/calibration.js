// Where a run's machine stands against the one the targets were set on: the benchmarks issue quotes
// the read of each anchor as a ratio to bare Fastify, measured on the machines it was written on. A
// run whose anchors fall outside those ranges measured a machine that weighs per-request work
// differently (slower or faster calls into the kernel, OpenSSL, memory), and its ratios, ours
// included, are not what the targets were set against.

/** The read of each anchor, × bare Fastify, as the benchmarks issue quotes it. */
export const ANCHOR_RANGES = [
  { contender: 'fastify-session', label: '`@fastify/session` (MemoryStore)', low: 0.31, high: 0.48 },
  { contender: 'fastify-jwt', label: '`@fastify/jwt`', low: 0.61, high: 0.66 },
  { contender: 'secure-session', label: '`@fastify/secure-session`', low: 0.69, high: 0.84 },
  { contender: 'signed-cookie', label: 'a bare signed cookie', low: 0.76, high: 0.96 }
]

/**
 * Each anchor's read in `rows` (a run's `latest.json` rows) against the range: `inside`,
 * `below` or `above` it (to two decimals, as the issue gives them and the READMEs show them), or
 * `not measured`.
 */
export function calibration (rows) {
  return ANCHOR_RANGES.map(({ contender, label, low, high }) => {
    const ratio = rows.find((r) => r.scenario === 'read' && r.contender === contender)?.vsBare
    if (typeof ratio !== 'number') return { contender, label, low, high, ratio: null, standing: 'not measured' }
    // as the READMEs show it: a ratio shown as the range's end is inside it
    const shown = Number(ratio.toFixed(2))
    const standing = shown < low ? 'below' : shown > high ? 'above' : 'inside'
    return { contender, label, low, high, ratio, standing }
  })
}
