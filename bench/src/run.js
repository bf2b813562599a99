// pnpm bench [--full] [--only=name,name] : throughput of every contender, interleaved rounds,
// medians, ratios to bare Fastify and to the closest anchor; memory per idle session; a chart.
import { spawn } from 'node:child_process'
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { contenders } from './contenders.js'
import { chart } from './chart.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const full = args.includes('--full')
const only = args.find((arg) => arg.startsWith('--only='))?.slice(7).split(',')
// full: every scenario, 5 interleaved rounds of 2 s each; quick: read and no-session, one round
const mode = full
  ? { name: 'full', rounds: 5, duration: 2, scenarios: ['read', 'update', 'plain', 'write'] }
  : { name: 'quick', rounds: 1, duration: 2, scenarios: ['read', 'plain'] }
const rounds = args.find((arg) => arg.startsWith('--rounds='))
if (rounds !== undefined) mode.rounds = Number(rounds.slice(9))
/** Seconds of load before each measurement, not recorded: longer for a server's first scenario. */
const WARM_UP = { first: 1, next: 0.5 }
const CONNECTIONS = 50
/** Each sessionkit contender against the anchor users would otherwise pick. */
const ANCHOR = {
  'sessionkit-cookie': 'fastify-session',
  'sessionkit-header': 'fastify-session',
  'sessionkit-query': 'fastify-session',
  'sessionkit-cookie+redis': 'fastify-session+connect-redis',
  'sessionkit-jwt': 'fastify-jwt',
  'sessionkit-jwt+redis': 'fastify-jwt'
}
/** The no-session route only means something where sessions are server-side. */
const PLAIN = ['bare', 'fastify-session', 'sessionkit-cookie', 'sessionkit-header', 'sessionkit-query', 'baseline-cookie', 'baseline-header', 'baseline-query']

const names = Object.keys(contenders).filter((name) => only === undefined || only.includes(name) || name === 'bare')

function startServer (name) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'server.js'), name], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buffer = ''
    child.stdout.on('data', (chunk) => {
      buffer += chunk
      const line = buffer.split('\n')[0]
      if (buffer.includes('\n')) resolve({ child, ...JSON.parse(line) })
    })
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)))
  })
}

const ROUTES = { read: ['GET', '/read', true], write: ['POST', '/write', false], update: ['POST', '/update', true], plain: ['GET', '/plain', false] }

/**
 * One contender's turn in a round: one server process, each scenario warmed up then measured
 * against it (write last, so that the others run on a store holding one session).
 */
async function measureContender (name) {
  const server = await startServer(name)
  const results = {}
  try {
    for (const scenario of mode.scenarios) {
      if (scenario === 'plain' && !PLAIN.includes(name)) continue
      const [method, path, withSession] = ROUTES[scenario]
      const url = `http://127.0.0.1:${server.port}${path}${withSession && server.query ? `?${server.query}` : ''}`
      const headers = withSession ? server.headers : {}
      const warmUp = Object.keys(results).length === 0 ? WARM_UP.first : WARM_UP.next
      await autocannon({ url, method, headers, connections: CONNECTIONS, duration: warmUp })
      const result = await autocannon({ url, method, headers, connections: CONNECTIONS, duration: mode.duration })
      results[scenario] = { rps: result.requests.total / result.duration, p99: result.latency.p99, errors: result.errors + result.timeouts, non2xx: result.non2xx }
    }
    return results
  } finally {
    server.child.removeAllListeners('exit')
    server.child.kill('SIGTERM')
    await new Promise((resolve) => server.child.once('exit', resolve))
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const samples = {}
const started = Date.now()
for (let round = 1; round <= mode.rounds; round++) {
  // each round starts one contender further on, so that no contender always runs first or last
  const shift = (round - 1) % names.length
  for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
    const turn = Date.now()
    const results = await measureContender(name)
    process.stderr.write(`round ${round} ${name}: ${((Date.now() - turn) / 1000).toFixed(1)} s\n`)
    for (const [scenario, sample] of Object.entries(results)) {
      ;(samples[`${scenario}|${name}`] ??= []).push(sample)
      process.stderr.write(`round ${round} ${scenario.padEnd(6)} ${name.padEnd(30)} ${Math.round(sample.rps).toString().padStart(7)} req/s  p99 ${sample.p99} ms${sample.non2xx + sample.errors > 0 ? `  (${sample.non2xx} non-2xx, ${sample.errors} errors)` : ''}\n`)
    }
  }
}

const rows = []
for (const scenario of ['read', 'write', 'update', 'plain'].filter((name) => mode.scenarios.includes(name))) {
  const bare = median(samples[`${scenario}|bare`].map((s) => s.rps))
  for (const name of names) {
    const list = samples[`${scenario}|${name}`]
    if (list === undefined) continue
    const rps = median(list.map((s) => s.rps))
    const anchor = ANCHOR[name]
    const anchorList = anchor === undefined ? undefined : samples[`${scenario}|${anchor}`]
    rows.push({
      scenario,
      contender: name,
      kind: contenders[name].kind,
      rps: Math.round(rps),
      p99: median(list.map((s) => s.p99)),
      vsBare: Number((rps / bare).toFixed(3)),
      anchor: anchorList === undefined ? null : anchor,
      vsAnchor: anchorList === undefined ? null : Number((rps / median(anchorList.map((s) => s.rps))).toFixed(2)),
      failures: list.reduce((sum, s) => sum + s.non2xx + s.errors, 0)
    })
  }
}

const memory = await new Promise((resolve, reject) => {
  const child = spawn(process.execPath, ['--expose-gc', join(here, 'memory.js')], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  child.once('exit', (code) => code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`memory.js exited with ${code}`)))
})

const report = {
  date: new Date().toISOString(),
  mode: mode.name,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  settings: { connections: CONNECTIONS, duration: mode.duration, rounds: mode.rounds },
  seconds: Math.round((Date.now() - started) / 1000),
  rows,
  memory
}
const results = join(here, '..', 'results')
mkdirSync(results, { recursive: true })
writeFileSync(join(results, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
writeFileSync(join(results, 'chart.svg'), chart(report))

const table = ['| scenario | contender | req/s | p99 ms | × bare | × anchor |', '| --- | --- | ---: | ---: | ---: | ---: |']
for (const row of rows) {
  table.push(`| ${row.scenario} | ${row.contender} | ${row.rps} | ${row.p99} | ${row.vsBare.toFixed(2)} | ${row.vsAnchor === null ? '' : `${row.vsAnchor.toFixed(2)} (${row.anchor})`} |${row.failures > 0 ? ` ${row.failures} failed` : ''}`)
}
console.log(`\n${mode.name} mode, ${report.machine.cpus} cores, ${report.machine.node}, ${report.seconds} s\n`)
console.log(table.join('\n'))
console.log(`\nmemory per idle small session: sessionkit MemoryStore ${memory.sessionkit} B, @fastify/session MemoryStore ${memory.fastifySession} B (${memory.sessions} sessions)`)
console.log('\nwritten: bench/results/latest.json, bench/results/chart.svg')
if (rows.some((row) => row.failures > 0)) process.exitCode = 1
