// pnpm bench [--full] [--only=name,name] : throughput of every contender, interleaved rounds,
// medians, ratios to bare Fastify and to the closest anchor; memory per idle session; a chart.
import { execFileSync, spawn } from 'node:child_process'
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { contenders } from './contenders.js'
import { chart } from './chart.js'
import { schedule } from './schedule.js'
import { CONNECTIONS, median, sample, startServer, stopServer, target } from './harness.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const full = args.includes('--full')
const only = args.find((arg) => arg.startsWith('--only='))?.slice(7).split(',')
// full: every scenario, 5 interleaved rounds; quick: read and no-session, one round. Each sample
// lasts `duration` seconds (autocannon counts in whole seconds) and is paired with a sample of bare
// Fastify taken right beside it.
const mode = full
  ? { name: 'full', rounds: 5, duration: 1, scenarios: ['read', 'update', 'plain', 'write'] }
  : { name: 'quick', rounds: 1, duration: 2, scenarios: ['read', 'plain'] }
const rounds = args.find((arg) => arg.startsWith('--rounds='))
if (rounds !== undefined) mode.rounds = Number(rounds.slice(9))
/** Seconds of load before a server's first measurement of a route, not recorded (see `warmUp`). */
const WARM_UP = { first: 2, next: 1 }
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
const PLAIN = ['bare-control', 'fastify-session', 'sessionkit-cookie', 'sessionkit-header', 'sessionkit-query', 'baseline-cookie', 'baseline-header', 'baseline-query']

/**
 * Whether this run measures `name` on `scenario`: the no-session route where it means something, and
 * a reference (by-hand) where named, or in a full run on the scenarios it lists (`full`).
 */
function measures (name, scenario) {
  if (scenario === 'plain' && !PLAIN.includes(name)) return false
  const { kind, full: inFull } = contenders[name]
  return only !== undefined || kind !== 'reference' || (full && inFull !== undefined && inFull.includes(scenario))
}
// every contender this run measures on one scenario at least (bare is beside each)
const names = Object.keys(contenders).filter((name) => name !== 'bare' && (only === undefined || only.includes(name)) && mode.scenarios.some((scenario) => measures(name, scenario)))

/**
 * Load not recorded, on both servers of a pair at once, before their first measurement of a
 * route: a fresh process keeps getting faster for its first seconds while its code is optimised,
 * so its first route gets 2 s, each next one 1 s.
 */
async function warmUp (servers, scenario) {
  const duration = servers[0].warm.size === 0 ? WARM_UP.first : WARM_UP.next
  await Promise.all(servers.map((server) => autocannon({ ...target(server, scenario, servers[0]), duration })))
  for (const server of servers) server.warm.add(scenario)
}

/**
 * One contender's turn in a round: a fresh process of its own and a fresh bare Fastify beside it,
 * started and warmed up together, so that both are as old and as warm when measured. Each scenario
 * (write last, so that the others run on a store holding one session) is measured on both, one
 * right after the other (which first alternates), and the ratio of the pair is what the machine's
 * drift, seconds long, leaves alone.
 */
async function measureContender (name, bareFirst) {
  const [server, bare] = await Promise.all([startServer(name), startServer('bare')])
  const results = {}
  try {
    for (const scenario of mode.scenarios) {
      if (!measures(name, scenario)) continue
      await warmUp([server, bare], scenario)
      let own, reference
      if (bareFirst) {
        reference = await sample(bare, scenario, mode.duration, server)
        own = await sample(server, scenario, mode.duration)
      } else {
        own = await sample(server, scenario, mode.duration)
        reference = await sample(bare, scenario, mode.duration, server)
      }
      results[scenario] = { ...own, bare: reference, ratio: own.rps / reference.rps, cpuRatio: reference.cpu / own.cpu }
    }
    return results
  } finally {
    await Promise.all([stopServer(server), stopServer(bare)])
  }
}

const line = (round, scenario, name, sample) => `round ${round} ${scenario.padEnd(6)} ${name.padEnd(30)} ${Math.round(sample.rps).toString().padStart(7)} req/s  p99 ${sample.p99} ms${sample.non2xx + sample.errors > 0 ? `  (${sample.non2xx} non-2xx, ${sample.errors} errors)` : ''}`

const samples = {}
const started = Date.now()
for (const { round, name, bareFirst } of schedule(names, mode.rounds)) {
  const begun = Date.now()
  const results = await measureContender(name, bareFirst)
  process.stderr.write(`round ${round} ${name}: ${((Date.now() - begun) / 1000).toFixed(1)} s, ${bareFirst ? 'bare' : 'it'} measured first\n`)
  for (const [scenario, result] of Object.entries(results)) {
    ;(samples[`${scenario}|${name}`] ??= []).push({ ...result, bareFirst })
    ;(samples[`${scenario}|bare`] ??= []).push({ ...result.bare, ratio: 1, cpuRatio: 1 })
    process.stderr.write(`${line(round, scenario, name, result)}  ${result.ratio.toFixed(2)} x the bare beside it (${Math.round(result.bare.rps)} req/s); CPU ${result.cpu.toFixed(1)} µs/request, ${result.cpuRatio.toFixed(2)} x${result.bare.non2xx + result.bare.errors > 0 ? ' bare failed' : ''}\n`)
  }
}

const rows = []
for (const scenario of ['read', 'write', 'update', 'plain'].filter((name) => mode.scenarios.includes(name))) {
  for (const name of ['bare', ...names]) {
    const list = samples[`${scenario}|${name}`]
    if (list === undefined) continue
    // the median of the paired ratios: each against the bare sample taken beside it
    const vsBare = median(list.map((s) => s.ratio))
    const anchor = ANCHOR[name]
    const anchorList = anchor === undefined ? undefined : samples[`${scenario}|${anchor}`]
    rows.push({
      scenario,
      contender: name,
      kind: contenders[name].kind,
      rps: Math.round(median(list.map((s) => s.rps))),
      p99: median(list.map((s) => s.p99)),
      vsBare: Number(vsBare.toFixed(3)),
      ratios: name === 'bare' ? undefined : list.map((s) => Number(s.ratio.toFixed(3))),
      // per sample, whether bare's sample was taken before the contender's (see `schedule`)
      bareFirst: name === 'bare' ? undefined : list.map((s) => s.bareFirst),
      // the server's CPU per request, and bare's over the contender's in each pair: the cost of the
      // code with the load generator's and the scheduler's noise mostly left out
      cpuPerRequest: Number(median(list.map((s) => s.cpu)).toFixed(2)),
      cpuVsBare: Number(median(list.map((s) => s.cpuRatio)).toFixed(3)),
      cpuRatios: name === 'bare' ? undefined : list.map((s) => Number(s.cpuRatio.toFixed(3))),
      anchor: anchorList === undefined ? null : anchor,
      vsAnchor: anchorList === undefined ? null : Number((vsBare / median(anchorList.map((s) => s.ratio))).toFixed(2)),
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

/**
 * The commit measured, and whether the working tree had changes besides the results and the
 * documentation (null outside git). Read when the run ends.
 */
function revision () {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: join(here, '..', '..'), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    return { commit: git('rev-parse', '--short', 'HEAD'), changed: git('status', '--porcelain', '--', '.', ':(exclude)bench/results', ':(exclude)*.md') !== '' }
  } catch {
    return null
  }
}

const report = {
  date: new Date().toISOString(),
  revision: revision(),
  mode: mode.name,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  settings: { connections: CONNECTIONS, duration: mode.duration, rounds: mode.rounds, reference: 'each sample paired with one of bare Fastify taken beside it, given the same request' },
  seconds: Math.round((Date.now() - started) / 1000),
  rows,
  memory
}
const results = join(here, '..', 'results')
mkdirSync(results, { recursive: true })
writeFileSync(join(results, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
writeFileSync(join(results, 'chart.svg'), chart(report))

const table = ['| scenario | contender | req/s | p99 ms | × bare | × anchor | CPU µs/req | CPU × bare |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
for (const row of rows) {
  table.push(`| ${row.scenario} | ${row.contender} | ${row.rps} | ${row.p99} | ${row.vsBare.toFixed(2)} | ${row.vsAnchor === null ? '' : `${row.vsAnchor.toFixed(2)} (${row.anchor})`} | ${row.cpuPerRequest.toFixed(1)} | ${row.cpuVsBare.toFixed(2)} |${row.failures > 0 ? ` ${row.failures} failed` : ''}`)
}
console.log(`\n${mode.name} mode, ${report.machine.cpus} cores, ${report.machine.node}, ${report.seconds} s\n`)
console.log(table.join('\n'))
console.log(`\nmemory per idle small session: sessionkit MemoryStore ${memory.sessionkit} B, @fastify/session MemoryStore ${memory.fastifySession} B (${memory.sessions} sessions)`)
console.log('\nwritten: bench/results/latest.json, bench/results/chart.svg')
if (rows.some((row) => row.failures > 0)) process.exitCode = 1
