// One contender in its own process: builds the app, prepares a live session, listens, and tells
// the runner its port and the headers a client with that session sends. With BENCH_MANY=1 in its
// environment it prepares 20,000 sessions and hands the runner every credential, which it then
// sends in turn: more live sessions than a credential cache holds (10,000 by default).
import { Session } from 'node:inspector/promises'
import Fastify from 'fastify'
import { contenders } from './contenders.js'

const name = process.argv[2]
const contender = contenders[name]
if (contender === undefined) throw new Error(`unknown contender ${name}`)
const app = Fastify({ logger: false })
await contender.build(app)
app.get('/plain', { config: { session: false } }, async () => ({ ok: true }))
await app.ready()
const many = []
for (let i = 0; i < (process.env.BENCH_MANY === undefined ? 1 : 20_000); i++) {
  const created = await app.inject({ method: 'POST', url: '/write' })
  if (created.statusCode !== 200) throw new Error(`${name}: /write answered ${created.statusCode} ${created.body}`)
  many.push(contender.credential(created))
}
const { query, ...headers } = many[0]
const check = await app.inject({ method: 'GET', url: '/read' + (query ? `?${query}` : ''), headers })
if (check.statusCode !== 200 || (name !== 'bare' && check.json().n === null)) throw new Error(`${name}: the prepared session does not read back: ${check.body}`)
await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(JSON.stringify({ port: app.server.address().port, headers, query: query ?? null, many: many.length > 1 ? many : null }) + '\n')
// the runner asks for the CPU time this process has used, before and after each sample, and the
// allocation runner for V8's sampling heap profile, collected objects included, around its load
let profiler = null
process.on('message', async (message) => {
  if (message === 'cpu') process.send(process.cpuUsage())
  if (message === 'alloc-start') {
    profiler = new Session()
    profiler.connect()
    await profiler.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    process.send('started')
  }
  if (message === 'alloc-stop') {
    const { profile } = await profiler.post('HeapProfiler.stopSampling')
    profiler.disconnect()
    process.send(profile.head)
  }
})
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
