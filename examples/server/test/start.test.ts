import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url))

interface Run { code: number | null, stdout: string, stderr: string }

/**
 * `src/server.ts` as `pnpm start` runs it (built there, from source here with the test's own loader),
 * in a process of its own with `env` for its settings. `whileUp`, given, runs once the
 * server logs that it listens, with the address it logged; the process is then sent SIGTERM.
 */
async function start (env: NodeJS.ProcessEnv, whileUp?: (base: string) => Promise<void>): Promise<Run> {
  const child = spawn(process.execPath, [...process.execArgv, SERVER], {
    // tap's own variables pass on, so that the coverage of the child counts
    env: { ...inherited(), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const up = new Promise<string>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      const address = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (address !== null) resolve(address[1] as string)
    })
  })
  const exited = once(child, 'exit') as Promise<[number | null]>
  if (whileUp !== undefined) {
    await whileUp(await Promise.race([up, exited.then(() => { throw new Error(`exited before listening: ${stderr}`) })]))
    child.kill('SIGTERM')
  }
  const [code] = await exited
  return { code, stdout, stderr }
}

/** The test's environment without the example's own settings. */
function inherited (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(PORT|HOST|SESSION_\w+|REDIS_\w+|LOG_LEVEL)$/.test(name)))
}

/** A server listening on a free port of 127.0.0.1, and its port. */
async function listening (): Promise<{ server: ReturnType<typeof createServer>, port: number }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as { port: number }).port }
}

const SECRET = 'start-secret-0123456789abcdef-0123456789abcdef'

t.test('a bad setting stops start-up with one line naming it, exit 2', async (t) => {
  const run = await start({ SESSION_MECHANISM: 'carrier-pigeon' })
  t.equal(run.code, 2)
  t.match(run.stderr, /^invalid configuration: SESSION_MECHANISM: must be one of cookie, header, query, jwt, .*"carrier-pigeon"\)\n$/)
  t.equal(run.stdout, '')
})

t.test('a port in use: one line saying so and what to do, no stack trace, exit 1', async (t) => {
  const { server: taken, port } = await listening()
  t.teardown(() => taken.close())
  const run = await start({ PORT: String(port), SESSION_SECRET: SECRET })
  t.equal(run.code, 1)
  t.equal(run.stderr, `cannot start: listen EADDRINUSE: address already in use 127.0.0.1:${port} (another program listens there: set PORT to another port)\n`)
})

t.test('an address this machine does not have: one line, exit 1', async (t) => {
  // 192.0.2.0/24 is reserved for documentation (RFC 5737): no interface here has it
  const run = await start({ HOST: '192.0.2.1', PORT: '0', SESSION_SECRET: SECRET })
  t.equal(run.code, 1)
  t.match(run.stderr, /^cannot start: listen EADDRNOTAVAIL: address not available 192\.0\.2\.1\b.*\n$/)
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace')
})

t.test('a Redis store with no Redis answering: one line naming REDIS_URL, exit 1', async (t) => {
  // a port that was free a moment ago: nothing answers there
  const { server: probe, port } = await listening()
  probe.close()
  const run = await start({ SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${port}`, PORT: '0', SESSION_SECRET: SECRET })
  t.equal(run.code, 1)
  t.equal(run.stderr, `cannot start: REDIS_URL: no Redis answered at redis://127.0.0.1:${port} within 5 s\n`)
})

t.test('started: it serves, logs what it runs, and closes on SIGTERM, exit 0', async (t) => {
  const run = await start({ PORT: '0', SESSION_SECRET: SECRET, SESSION_MECHANISM: 'header' }, async (base) => {
    const health = await fetch(`${base}/health`)
    t.equal(health.status, 200)
    t.same(await health.json(), { status: 'ok' })
    const login = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'alice-secret' }) })
    t.equal(login.status, 200)
    t.match(login.headers.get('x-session-id'), /^[\w-]{43}\.[\w-]{43}$/)
  })
  t.equal(run.code, 0)
  t.match(run.stdout, /"msg":"sessions by header, memory store"/)
  t.match(run.stdout, /"signal":"SIGTERM","msg":"closing"/)
  t.equal(run.stderr, '')
})
