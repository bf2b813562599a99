// pnpm --filter @sessionkit/bench run profile <read|write|update|plain> <contender> [other contender] [--by-file]
// Runs each contender under `--cpu-prof`, drives it with autocannon (2 s warm-up, 6 s measured), and
// prints where its CPU time went, in µs per request by function; given two contenders, the
// difference, largest first: what the second one spends that the first does not. The `writev` and
// `(idle)` rows are wall time, not CPU time, and move with the machine from run to run.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { ROUTES, perRequestRows, startServer, stopServer, target, where } from './harness.js'

const byFile = process.argv.includes('--by-file')
const [scenario, ...names] = process.argv.slice(2).filter((arg) => arg !== '--by-file')
if (ROUTES[scenario] === undefined || names.length === 0 || names.length > 2) {
  throw new Error('usage: profile <read|write|update|plain> <contender> [other contender] [--by-file]')
}

async function profile (name) {
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-prof-'))
  const server = await startServer(name, { execArgv: ['--cpu-prof', '--cpu-prof-interval', '200', `--cpu-prof-dir=${dir}`] })
  const load = target(server, scenario)
  const warm = await autocannon({ ...load, duration: 2 })
  const result = await autocannon({ ...load, duration: 6 })
  // the profile is written as the process exits
  await stopServer(server)
  const file = readdirSync(dir).find((entry) => entry.endsWith('.cpuprofile'))
  const { nodes, samples, timeDeltas } = JSON.parse(readFileSync(join(dir, file), 'utf8'))
  rmSync(dir, { recursive: true })
  const byId = new Map(nodes.map((node) => [node.id, node]))
  const time = new Map()
  for (let i = 0; i < samples.length; i++) {
    const { functionName, url: source, lineNumber } = byId.get(samples[i]).callFrame
    const key = byFile ? (where(source) || functionName) : `${functionName || '(anonymous)'} ${where(source)}:${lineNumber + 1}`
    time.set(key, (time.get(key) ?? 0) + (timeDeltas[i + 1] ?? 0))
  }
  // the profile covers start-up and warm-up too: shared over every request the server answered
  const requests = warm.requests.total + result.requests.total
  const perRequest = new Map([...time].map(([key, us]) => [key, us / requests]))
  let busy = 0
  for (const [key, us] of perRequest) if (!key.startsWith('(idle)')) busy += us
  return { name, rps: result.requests.total / result.duration, perRequest, busy }
}

const results = []
for (const name of names) results.push(await profile(name))
for (const { name, rps, busy } of results) {
  console.log(`${name} ${scenario}: ${Math.round(rps)} req/s under the profiler, ${busy.toFixed(1)} µs of CPU per request`)
}
const [first, second] = results
const rows = perRequestRows(first, second)
const by = byFile ? 'by source file' : 'by function'
console.log(second === undefined ? `\nµs per request, ${by}` : `\nµs per request that ${second.name} spends beyond ${first.name}, ${by}`)
for (const [key, us] of rows.slice(0, 40)) console.log(`${us.toFixed(2).padStart(8)}  ${key}`)
