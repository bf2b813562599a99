import Fastify from 'fastify'
import { MemoryStore } from '@sessionkit/core'
import { sessionkitJwt } from '@sessionkit/jwt'
import { request as httpRequest, Agent } from 'node:http'
const mode = process.argv[2]
const store = new MemoryStore()
const app = Fastify()
await app.register(sessionkitJwt, { keys: [{ kid: 'k1', algorithm: 'HS256', secret: 'x'.repeat(48) }], store })
app.post('/set', async (request) => { request.session.set('cart', 1); return { ok: true } })
app.post('/logout', async (request) => { await request.session.destroy(); return { ok: true } })
app.post('/plain', { config: { session: false } }, async () => ({ ok: true }))
await app.listen({ port: 0, host: '127.0.0.1' })
const port = app.server.address().port
const agent = new Agent({ keepAlive: true, maxSockets: 8 })
const send = (path, headers = {}) => new Promise((resolve, reject) => {
  const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent, headers }, (res) => { res.resume(); res.on('end', () => resolve(res)) })
  req.on('error', reject); req.end()
})
async function one () {
  if (mode === 'plain') return send('/plain')
  const r = await send('/set')
  if (mode === 'set') return
  await send('/logout', { authorization: `Bearer ${r.headers['x-session-token']}` })
}
for (let i = 0; i < 2000; i++) await one()
global.gc(); global.gc(); const before = process.memoryUsage().heapUsed
const N = 40000
for (let i = 0; i < N; i += 8) await Promise.all(Array.from({ length: 8 }, one))
global.gc(); global.gc(); const after = process.memoryUsage().heapUsed
console.log(mode, 'bytes per iteration', Math.round((after - before) / N))
await app.close(); store.close(); agent.destroy()
