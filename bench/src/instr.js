// pnpm --filter @sessionkit/bench run instr <read|write|update|plain> <contender>[:VARIABLE...]... [--requests=N] [--windows=N] [--warmup=N] [--settle=N] [--servers=N] [--functions [--rows=N]]
// Instructions per request, counted by valgrind's callgrind in each contender's server: nearly the
// same count for the same code and load however busy the machine is, where req/s moves by 10 % and
// more. Each server runs under valgrind; it gets `--warmup` requests with nothing counted (its code
// optimized), `--settle` more with counting on (a one-off cost of switching it on), then
// `--windows` windows of `--requests` counted ones: the median window is the figure. All of its
// threads count, the GC's and the compiler's included. What it does not see: the kernel, and the
// time instructions wait on memory; a proxy for CPU time, not a measure of it (bench/README.md,
// "Instructions per request"). `--functions` adds where the second contender spends more (or
// fewer) instructions than the first, per request, by function; code V8 compiled at run time is
// named from V8's own map of it (`--perf-basic-prof`), the largest 30 (`--rows=N`: N).
// `--servers=N` measures each contender in N servers, one after the other, and takes the median
// server: one process now and then settles on costlier code than the others (bench/README.md,
// "Instructions per request").
import autocannon from 'autocannon'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROUTES, commandLine, compiledName, perRequestRows, startServer, stopServer, target } from './harness.js'

const run = promisify(execFile)
const { options, args: [scenario, ...names] } = commandLine()
const requests = Number(options.requests ?? 5_000)
const warmup = Number(options.warmup ?? 20_000)
const settle = Number(options.settle ?? 5_000)
const windows = Number(options.windows ?? 3)
const servers = Number(options.servers ?? 1)
if (ROUTES[scenario] === undefined || names.length === 0 || !(requests > 0) || !(warmup >= 0) || !(settle >= 0) || !(windows >= 1) || !Number.isInteger(servers) || servers < 1) {
  throw new Error('usage: instr <read|write|update|plain> <contender>[:VARIABLE...]... [--requests=N] [--windows=N] [--warmup=N] [--settle=N] [--servers=N] [--functions [--rows=N]]')
}
try {
  await run('valgrind', ['--version'])
} catch {
  throw new Error('instr needs valgrind (Debian: apt-get install valgrind)')
}

/** One contender: instructions per request, and per function when asked. */
async function count (name) {
  const dir = await mkdtemp(join(tmpdir(), 'sessionkit-instr-'))
  const server = await startServer(name, {
    // V8 writes where it put the code it compiles (/tmp/perf-<pid>.map), which names the JIT rows
    execArgv: options.functions === undefined ? [] : ['--perf-basic-prof'],
    wrapper: ['valgrind', '--quiet', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'callgrind.out')}`]
  })
  try {
    const pid = String(server.child.pid)
    // few connections: under valgrind a server answers 50 times slower, and nothing here is about concurrency
    const load = { ...target(server, scenario), connections: 10, timeout: 60 }
    if (warmup > 0) await autocannon({ ...load, amount: warmup })
    await run('callgrind_control', ['--instr=on', pid])
    // the first seconds under instrumentation carry a large one-off cost (a few hundred million
    // instructions, the same whatever follows): run through it before counting
    await autocannon({ ...load, amount: settle })
    const counted = []
    for (let window = 1; window <= windows; window++) {
      await run('callgrind_control', ['--zero', pid])
      const result = await autocannon({ ...load, amount: requests })
      await run('callgrind_control', ['--dump', pid])
      const failed = result.errors + result.timeouts + result.non2xx
      if (failed > 0) throw new Error(`${name}: ${failed} of ${result.requests.total} requests failed`)
      const dump = join(dir, `callgrind.out.${window}`)
      const total = Number(/^(?:summary|totals): (\d+)/m.exec(await readFile(dump, 'utf8'))[1])
      counted.push({ dump, served: result.requests.total, perRequest: total / result.requests.total })
    }
    // the median window: a GC that falls into one window moves it by a few per cent
    const middle = [...counted].sort((a, b) => a.perRequest - b.perRequest)[Math.floor(windows / 2)]
    const perFunction = options.functions === undefined ? null : await functions(middle.dump, middle.served, await jitMap(pid))
    return { name, perRequest: middle.perRequest, spread: counted.map((window) => window.perRequest), perFunction }
  } finally {
    await stopServer(server)
    await rm(dir, { recursive: true, force: true })
  }
}

/** The code V8 compiled in process `pid`, in the order it was compiled: start addresses, sizes, names. */
async function jitMap (pid) {
  const file = `/tmp/perf-${pid}.map`
  const text = await readFile(file, 'utf8')
  await rm(file, { force: true })
  return text.split('\n').filter(Boolean).map((line) => {
    const [start, size, ...name] = line.split(' ')
    return { start: parseInt(start, 16), size: parseInt(size, 16), name: name.join(' ') }
  })
}

/**
 * The name of the compiled code at `address`, or null. V8 reuses the addresses of code it frees,
 * so the latest code written there is the one that ran.
 */
function jitName (map, address) {
  for (let i = map.length - 1; i >= 0; i--) {
    const { start, size, name } = map[i]
    if (address >= start && address < start + size) return compiledName(name)
  }
  return null
}

/** Instructions per request by function (callgrind_annotate's rows); run-time compiled code by V8's map of it. */
async function functions (dump, served, map) {
  const { stdout } = await run('callgrind_annotate', ['--inclusive=no', '--threshold=100', dump], { maxBuffer: 64 * 1024 * 1024 })
  const rows = new Map()
  for (const line of stdout.split('\n')) {
    const match = /^\s*([\d,]+) \([^)]*\)\s+(.+)$/.exec(line)
    if (match === null || match[2] === 'PROGRAM TOTALS') continue
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]$/.exec(match[2])
    const name = jit === null ? match[2].replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '') : jitName(map, parseInt(jit[1], 16)) ?? '(JIT code, unnamed)'
    rows.set(name, (rows.get(name) ?? 0) + Number(match[1].replaceAll(',', '')) / served)
  }
  return rows
}

const thousands = (value) => Math.round(value / 100) / 10
const results = []
for (const name of names) {
  const measured = []
  for (let server = 0; server < servers; server++) measured.push(await count(name))
  // the median server, with every server's figure beside it
  const middle = [...measured].sort((a, b) => a.perRequest - b.perRequest)[Math.floor(servers / 2)]
  results.push({ ...middle, servers: measured.map((one) => one.perRequest) })
}
const [first] = results
console.log(`${scenario}: instructions per request (callgrind; ${warmup} + ${settle} requests before counting, then the median of ${windows} windows of ${requests}${servers > 1 ? `; the median of ${servers} servers` : ''})`)
for (const { name, perRequest, spread, servers: each } of results) {
  const detail = servers > 1 ? `servers: ${each.map(thousands).join(' / ')} k` : `windows: ${spread.map(thousands).join(' / ')} k`
  console.log(`${name.padEnd(40)} ${Math.round(perRequest).toLocaleString('en').padStart(10)}   x ${first.name}: ${(perRequest / first.perRequest).toFixed(3)}   (${detail})`)
}
if (options.functions !== undefined && results.length >= 2) {
  const [a, b] = results
  console.log(`\ninstructions per request that ${b.name} spends beyond ${a.name}, by function`)
  const rows = perRequestRows({ perRequest: a.perFunction }, { perRequest: b.perFunction })
  for (const [key, value] of rows.slice(0, Number(options.rows ?? 30))) console.log(`${Math.round(value).toString().padStart(8)}  ${key}`)
}
