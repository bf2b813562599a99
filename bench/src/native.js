// pnpm --filter @sessionkit/bench run native <read|write|update|plain> <contender>[:VARIABLE...]... [--seconds=4] [--rows=30]
// Time per request by native symbol, from Linux `perf record` on each contender's server under the
// scenario's load (autocannon, 50 connections; 2 s of load first, not recorded): what a `--cpu-prof`
// profile cannot name, V8's builtins and GC, Node's C++, OpenSSL and the kernel, beside the
// JavaScript (named from V8's map of the code it compiles, `--perf-basic-prof`). perf samples the
// server's CPU time, every thread, 2,999 times a second: a sample is 1/2,999 s, spread over the
// requests served while recording. With two contenders or more, what the second spends beyond the
// first: by kind, then the largest symbols. Needs `perf` (Debian: linux-perf) and the right to
// record another process. Like any time, it moves with the machine; compare contenders of one run.
import autocannon from 'autocannon'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROUTES, commandLine, compiledName, perRequestRows, startServer, stopServer, target } from './harness.js'

const run = promisify(execFile)
const HZ = 2_999
const { options, args: [scenario, ...names] } = commandLine()
const seconds = Number(options.seconds ?? 4)
const rows = Number(options.rows ?? 30)
if (ROUTES[scenario] === undefined || names.length === 0 || !Number.isInteger(seconds) || seconds < 1 || !(rows > 0)) {
  throw new Error('usage: native <read|write|update|plain> <contender>[:VARIABLE...]... [--seconds=4] [--rows=30]')
}
try {
  await run('perf', ['--version'])
} catch {
  throw new Error('native needs Linux perf (Debian: apt-get install linux-perf)')
}

/** What kind of code a symbol is, for the summary by kind. */
function kindOf (symbol, kernel) {
  if (kernel) return 'kernel'
  if (/Scaveng|MarkCompact|Marking|Sweep|Evacuat|Heap::|GCTracer|MemoryAllocator|MemoryChunk/.test(symbol)) return 'V8 garbage collector'
  if (/^(JS|RegExp|Function|LazyCompile):/.test(symbol)) {
    if (/ (core|cookie|header|query|jwt|redis|web-storage)\/dist\//.test(symbol)) return 'JavaScript: sessionkit'
    if (/ node:/.test(symbol)) return 'JavaScript: Node.js'
    if (symbol.startsWith('RegExp:')) return 'regular expressions'
    return 'JavaScript: Fastify and other packages'
  }
  if (symbol.startsWith('Builtins_')) return 'V8 builtins'
  if (/sha\d|EVP_|ossl_|OPENSSL|CRYPTO_|HMAC|aesni|gcm_/.test(symbol)) return 'OpenSSL'
  if (symbol.includes('v8::')) return 'V8 runtime'
  if (/node::|uv_|uv__|llhttp/.test(symbol)) return 'Node.js and libuv (C++)'
  return 'other native (libc, ...)'
}

/** One contender: µs per request by symbol and by kind, while `seconds` of load are recorded. */
async function record (spec) {
  const dir = await mkdtemp(join(tmpdir(), 'sessionkit-native-'))
  const data = join(dir, 'perf.data')
  const server = await startServer(spec, { execArgv: ['--perf-basic-prof'] })
  const pid = server.child.pid
  let served
  try {
    const load = target(server, scenario)
    await autocannon({ ...load, duration: 2 })
    const perf = spawn('perf', ['record', '--quiet', '-F', String(HZ), '-o', data, '-p', String(pid)], { stdio: 'ignore' })
    // perf takes a moment to attach to the process: the recorded load starts after it
    await new Promise((resolve) => setTimeout(resolve, 200))
    const result = await autocannon({ ...load, duration: seconds })
    perf.kill('SIGINT')
    await new Promise((resolve) => perf.once('exit', resolve))
    const failed = result.errors + result.timeouts + result.non2xx
    if (failed > 0) throw new Error(`${spec}: ${failed} of ${result.requests.total} requests failed`)
    served = { requests: result.requests.total, rps: result.requests.total / result.duration }
  } finally {
    await stopServer(server)
  }
  try {
    const { stdout } = await run('perf', ['report', '-i', data, '--no-children', '--sort', 'sym', '-g', 'none', '-n', '--stdio'], { maxBuffer: 64 * 1024 * 1024 })
    const bySymbol = new Map()
    const byKind = new Map()
    for (const line of stdout.split('\n')) {
      const match = /^\s*[\d.]+%\s+(\d+)\s+\[(.)\]\s+(.+?)\s*$/.exec(line)
      if (match === null) continue
      const symbol = /^(JS|LazyCompile|Function):/.test(match[3]) ? `JS:${compiledName(match[3])}` : match[3]
      const us = Number(match[1]) / HZ / served.requests * 1e6
      bySymbol.set(symbol, (bySymbol.get(symbol) ?? 0) + us)
      const kind = kindOf(symbol, match[2] === 'k')
      byKind.set(kind, (byKind.get(kind) ?? 0) + us)
    }
    const total = [...byKind.values()].reduce((sum, us) => sum + us, 0)
    return { name: spec, ...served, total, bySymbol, byKind }
  } finally {
    await rm(dir, { recursive: true, force: true })
    await rm(`/tmp/perf-${pid}.map`, { force: true })
  }
}

const results = []
for (const name of names) results.push(await record(name))
console.log(`${scenario}: time per request by native symbol (perf record at ${HZ.toLocaleString('en')} Hz, ${seconds} s under load after 2 s not recorded)`)
for (const { name, rps, total } of results) {
  console.log(`${name.padEnd(40)} ${Math.round(rps).toLocaleString('en').padStart(8)} req/s while recorded   ${total.toFixed(2).padStart(6)} µs sampled per request`)
}
const fixed = (value) => (value >= 0 ? '+' : '') + value.toFixed(2)
if (results.length >= 2) {
  const [a, b] = results
  console.log(`\nµs per request that ${b.name} spends beyond ${a.name}, by kind (then ${a.name}'s and ${b.name}'s own)`)
  for (const [kind, value] of perRequestRows({ perRequest: a.byKind }, { perRequest: b.byKind })) {
    console.log(`${fixed(value).padStart(7)}  ${(a.byKind.get(kind) ?? 0).toFixed(2).padStart(6)}  ${(b.byKind.get(kind) ?? 0).toFixed(2).padStart(6)}  ${kind}`)
  }
  console.log(`\nthe same by symbol, the largest ${rows}`)
  for (const [symbol, value] of perRequestRows({ perRequest: a.bySymbol }, { perRequest: b.bySymbol }).slice(0, rows)) {
    console.log(`${fixed(value).padStart(7)}  ${(a.bySymbol.get(symbol) ?? 0).toFixed(2).padStart(6)}  ${(b.bySymbol.get(symbol) ?? 0).toFixed(2).padStart(6)}  ${symbol}`)
  }
} else {
  const [only] = results
  console.log('\nby kind')
  for (const [kind, value] of perRequestRows({ perRequest: only.byKind })) console.log(`${value.toFixed(2).padStart(7)}  ${kind}`)
  console.log(`\nby symbol, the largest ${rows}`)
  for (const [symbol, value] of perRequestRows({ perRequest: only.bySymbol }).slice(0, rows)) console.log(`${value.toFixed(2).padStart(7)}  ${symbol}`)
}
