// pnpm --filter @sessionkit/bench run pair <scenario> <contender>[:VARIABLE...] ... [--rounds=6]
// A quick comparison of a few contenders on one scenario, in one run: each in a process of its own,
// all started and warmed up together, then measured one after the other (1 s each) round after
// round, the order going forwards and backwards by turns (`pairOrder`), so that of any two each is
// measured first in half the rounds (use an even number of rounds). Prints each one's median req/s
// and CPU per request, and the median over the rounds of its ratio to the first contender's sample
// of the same round. `name:VARIABLE` starts that contender with VARIABLE=1 in its environment: the
// switch of an experiment (see the README's write break-down).
import autocannon from 'autocannon'
import { ROUTES, median, sample, startServer, stopServer, target } from './harness.js'
import { pairOrder } from './schedule.js'

const args = process.argv.slice(2)
const rounds = Number(args.find((arg) => arg.startsWith('--rounds='))?.slice(9) ?? 6)
const [scenario, ...specs] = args.filter((arg) => !arg.startsWith('--'))
if (ROUTES[scenario] === undefined || specs.length < 2 || !Number.isInteger(rounds) || rounds < 1) {
  throw new Error('usage: pair <read|write|update|plain> <contender>[:VARIABLE...] <contender>[:VARIABLE...] ... [--rounds=6]')
}

const servers = await Promise.all(specs.map((spec) => startServer(spec)))
// each contender is sent its own credential; bare Fastify, the same requests as the first contender
// that is not bare
const client = (server) => server.name === 'bare' ? servers.find((other) => other.name !== 'bare') ?? server : server
try {
  await Promise.all(servers.map((server) => autocannon({ ...target(server, scenario, client(server)), duration: 2 })))
  const samples = servers.map(() => [])
  // rounds in twos, forwards and backwards (see `pairOrder`)
  for (const [round, order] of pairOrder(servers.length, rounds).entries()) {
    for (const index of order) {
      samples[index][round] = await sample(servers[index], scenario, 1, client(servers[index]))
    }
  }
  const first = samples[0]
  for (const [index, list] of samples.entries()) {
    const failures = list.reduce((sum, s) => sum + s.errors + s.non2xx, 0)
    console.log(`${specs[index].padEnd(60)} ${String(Math.round(median(list.map((s) => s.rps)))).padStart(7)} req/s  ${median(list.map((s) => s.cpu)).toFixed(2).padStart(6)} µs CPU/request  x first: req/s ${median(list.map((s, round) => s.rps / first[round].rps)).toFixed(3)}, CPU ${median(list.map((s, round) => first[round].cpu / s.cpu)).toFixed(3)}${failures > 0 ? `  ${failures} failed` : ''}`)
  }
} finally {
  await Promise.all(servers.map(stopServer))
}
