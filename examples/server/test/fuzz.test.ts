import t from 'tap'
import { randomBytes, randomInt } from 'node:crypto'
import { connect } from 'node:net'
import { buildApp } from '../src/app.js'
import { readConfig, type Mechanism } from '../src/config.js'

const ROUNDS = 10_000
const PARALLEL = 25

/** One request over a raw socket; the status Node or Fastify answered, or `null` for a closed socket. */
function raw (port: number, request: Buffer): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let head = ''
    socket.setTimeout(5_000, () => socket.destroy())
    socket.on('data', (chunk) => { if (head.length < 64) head += chunk.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head)
      resolve(match === null ? null : Number(match[1]))
    })
    socket.end(request)
  })
}

/** Random bytes, printable junk, or a real credential with one byte changed. */
function fuzz (valid: string): Buffer {
  const kind = randomInt(3)
  if (kind === 0) return randomBytes(randomInt(0, 300))
  if (kind === 1) return Buffer.from(Array.from({ length: randomInt(0, 300) }, () => String.fromCharCode(randomInt(32, 127))).join(''))
  const bytes = Buffer.from(valid)
  bytes[randomInt(bytes.length)] = randomInt(256)
  return bytes
}

function frame (mechanism: Mechanism, value: Buffer): Buffer {
  const [before, after] = {
    cookie: ['GET /me HTTP/1.1\r\nHost: fuzz\r\nCookie: sid=', '\r\nConnection: close\r\n\r\n'],
    header: ['GET /me HTTP/1.1\r\nHost: fuzz\r\nX-Session-Id: ', '\r\nConnection: close\r\n\r\n'],
    query: ['GET /me?sid=', ' HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n'],
    jwt: ['GET /me HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer ', '\r\nConnection: close\r\n\r\n']
  }[mechanism] as [string, string]
  return Buffer.concat([Buffer.from(before, 'latin1'), value, Buffer.from(after, 'latin1')])
}

const CHANNELS: Array<[Mechanism, NodeJS.ProcessEnv]> = [['cookie', {}], ['header', {}], ['query', {}], ['jwt', {}], ['jwt', { SESSION_JWT_ENCRYPTION: 'on' }]]

for (const [mechanism, extra] of CHANNELS) {
  const name = extra.SESSION_JWT_ENCRYPTION === 'on' ? 'jwt (encrypted tokens)' : mechanism
  t.test(`10,000 random byte strings through the ${name} channel: no 5xx, no unhandled rejection, bounded memory`, async (t) => {
    const unhandled: unknown[] = []
    const listener = (err: unknown): void => { unhandled.push(err) }
    process.on('unhandledRejection', listener)
    t.teardown(() => process.off('unhandledRejection', listener))
    const app = await buildApp(readConfig({ SESSION_MECHANISM: mechanism, SESSION_SECRET: 'fuzz-secret-0123456789abcdef-0123456789abcdef', ...extra }), { logger: false })
    t.teardown(() => app.close())
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'alice-secret' } })
    const valid = mechanism === 'cookie'
      ? (String(login.headers['set-cookie']).split(';')[0] as string).slice(4)
      : String(login.headers[mechanism === 'jwt' ? 'x-session-token' : 'x-session-id'])
    t.equal(await raw(port, frame(mechanism, Buffer.from(valid))), 200, 'the real credential, framed the same way, is served')

    globalThis.gc?.()
    const before = process.memoryUsage().heapUsed
    const statuses = new Map<string, number>()
    for (let sent = 0; sent < ROUNDS; sent += PARALLEL) {
      const batch = await Promise.all(Array.from({ length: PARALLEL }, () => raw(port, frame(mechanism, fuzz(valid)))))
      for (const status of batch) statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1)
    }
    globalThis.gc?.()
    const growth = process.memoryUsage().heapUsed - before
    const serverErrors = [...statuses].filter(([status]) => status.startsWith('5'))
    t.same(serverErrors, [], `statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.same(unhandled, [])
    t.ok(growth < 32 * 2 ** 20, `heap grew ${Math.round(growth / 2 ** 20)} MiB over ${ROUNDS} requests`)
    t.equal(await raw(port, frame(mechanism, Buffer.from(valid))), 200, 'still serving')
  })
}
