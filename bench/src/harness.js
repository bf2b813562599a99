// What the runners share: a contender's server in a process of its own, the load of a scenario,
// and one measured sample of it with the server's CPU time.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const here = dirname(fileURLToPath(import.meta.url))
export const CONNECTIONS = 50
export const ROUTES = { read: ['GET', '/read', true], write: ['POST', '/write', false], update: ['POST', '/update', true], plain: ['GET', '/plain', false] }

/**
 * A contender's server (`src/server.js`), listening. `spec` is the contender's name, optionally
 * followed by switches (`sessionkit-jwt:BENCH_MANY`: started with BENCH_MANY=1 in its environment,
 * the switch of an experiment); `env` is added to its environment, `execArgv` goes to node before
 * the script (`--cpu-prof`, say), and `wrapper` before node (a command that runs it: `valgrind` and
 * its options).
 */
export function startServer (spec, { env = {}, execArgv = [], wrapper = [] } = {}) {
  const [name, ...switches] = spec.split(':')
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, ...execArgv, join(here, 'server.js'), name]
    const [command, ...args] = [...wrapper, ...argv]
    const environment = { ...process.env, ...Object.fromEntries(switches.map((variable) => [variable, '1'])), ...env }
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env: environment })
    let buffer = ''
    child.stdout.on('data', (chunk) => {
      buffer += chunk
      const line = buffer.split('\n')[0]
      if (buffer.includes('\n')) resolve({ name, child, warm: new Set(), ...JSON.parse(line) })
    })
    child.once('exit', (code) => reject(new Error(`${spec} exited with ${code}`)))
  })
}

export async function stopServer (server) {
  server.child.removeAllListeners('exit')
  server.child.kill('SIGTERM')
  await new Promise((resolve) => server.child.once('exit', resolve))
}

/**
 * The load on `server` for a scenario: the request a client of `client` (the contender of the pair)
 * sends, credential and all. Bare Fastify gets the very same request as the contender beside it, so
 * that a ratio is the cost of the session layer, not of a longer URL or one more header.
 */
export function target (server, scenario, client = server) {
  const [method, path, withSession] = ROUTES[scenario]
  if (withSession && client.many !== null && client.many !== undefined) {
    // BENCH_MANY: each request carries the next of the client's credentials
    const { many } = client
    let next = 0
    const setupRequest = (request) => {
      const { query, ...headers } = many[next++ % many.length]
      return { ...request, headers: { ...request.headers, ...headers }, path: query ? `${path}?${query}` : path }
    }
    return { url: `http://127.0.0.1:${server.port}${path}`, method, connections: CONNECTIONS, requests: [{ setupRequest }] }
  }
  const url = `http://127.0.0.1:${server.port}${path}${withSession && client.query ? `?${client.query}` : ''}`
  return { url, method, headers: withSession ? client.headers : {}, connections: CONNECTIONS }
}

export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** One measurement of one scenario on one server: req/s, p99, and the server's CPU per request. */
export async function sample (server, scenario, duration, client = server) {
  const before = await cpuOf(server)
  const result = await autocannon({ ...target(server, scenario, client), duration })
  const after = await cpuOf(server)
  return {
    rps: result.requests.total / result.duration,
    p99: result.latency.p99,
    // the server's own CPU time (user and system, all its threads) per request served
    cpu: (after.user + after.system - before.user - before.system) / result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx
  }
}

/** The CPU time a server process has used so far, in µs. */
function cpuOf (server) {
  return ask(server, 'cpu')
}

/**
 * A script's command line: its `--name=value` options (`--name` alone: `'true'`), and the rest in
 * order.
 */
export function commandLine (argv = process.argv.slice(2)) {
  const options = Object.fromEntries(argv.filter((arg) => arg.startsWith('--')).map((arg) => {
    const [key, value = 'true'] = arg.slice(2).split('=')
    return [key, value]
  }))
  return { options, args: argv.filter((arg) => !arg.startsWith('--')) }
}

/**
 * The name V8 gives code it compiled (`--perf-basic-prof`), short: `JS:*name file:///.../packages/
 * core/dist/engine.js:129:13` is `name core/dist/engine.js:129:13`, a checkout's path left out, so
 * that the same function of two checkouts (BENCH_BASELINE) is one row.
 */
export function compiledName (name) {
  return name.replace(/^(JS|LazyCompile|Function):[*~^+]?/, '').replace(/ (\S+)$/, (_, url) => ` ${where(url)}`)
}

/** Where a frame of a V8 profile comes from, short: `fastify/lib/reply.js`, `core/dist/engine.js`, `node:events`. */
export function where (url) {
  return url
    .replace(/^.*node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?/, '')
    .replace(/^file:\/\/.*\/packages\//, '')
}

/** Asks a server something over IPC (`cpu`, `alloc-start`, `alloc-stop`) and waits for its answer. */
export function ask (server, message) {
  return new Promise((resolve) => {
    server.child.once('message', resolve)
    server.child.send(message)
  })
}

/**
 * The rows of a profile's report, largest first: each key's cost per request in `first`, or, given
 * `second`, what `second` spends beyond `first` (negative where it spends less).
 */
export function perRequestRows (first, second) {
  const rows = second === undefined
    ? [...first.perRequest]
    : [...new Set([...first.perRequest.keys(), ...second.perRequest.keys()])]
        .map((key) => [key, (second.perRequest.get(key) ?? 0) - (first.perRequest.get(key) ?? 0)])
  return rows.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
}
