// A reference, not an anchor and not a library: a server-side session written by hand with
// sessionkit's guarantees and nothing else, the plain way rather than the least costly one (it
// executes more instructions per write than sessionkit-cookie). What the benchmarks issue calls "a
// straightforward server-side read written by hand (cookie parse, HMAC check, hash of the id, Map
// lookup, JSON parse, in one hook)", and the write that goes with it: a 256-bit token from
// node:crypto (drawn and hashed in batches, as sessionkit does), signed by HMAC-SHA256, stored under
// its SHA-256 as a JSON record with its times, handed out in an HttpOnly cookie with
// `Cache-Control: no-store`. None of the rest: no expiry, no versions, no cap, no CSRF guard, no
// coded errors, no duplicate-cookie check. A full run measures its write (src/yardstick.js);
// `pnpm --filter @sessionkit/bench run pair write bare by-hand sessionkit-cookie` (or `instr`,
// `native`) puts it beside the real thing in any scenario.
import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto'

/** How many tokens are drawn and signed at once. */
const BATCH = 32
const SESSION = /(?:^|;\s*)sid=([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})(?:;|$)/

/** Registers the by-hand session and the bench's three routes on `app`, signing with `secret`. */
export function byHand (app, secret) {
  const store = new Map()
  const fresh = []
  const sign = (token) => createHmac('sha256', secret).update(token).digest('base64url')
  function issue () {
    if (fresh.length === 0) {
      const bytes = randomBytes(32 * BATCH)
      for (let i = 0; i < BATCH; i++) {
        const token = bytes.toString('base64url', i * 32, i * 32 + 32)
        fresh.push({ id: hash('sha256', token, 'base64url'), credential: token + '.' + sign(token) })
      }
      bytes.fill(0)
    }
    return fresh.pop()
  }

  app.decorateRequest('handMade', null)
  app.addHook('onRequest', function loadHandMade (request, reply, done) {
    const match = SESSION.exec(request.headers.cookie ?? '')
    if (match !== null && timingSafeEqual(Buffer.from(sign(match[1])), Buffer.from(match[2]))) {
      const id = hash('sha256', match[1], 'base64url')
      const raw = store.get(id)
      if (raw !== undefined) request.handMade = { id, record: JSON.parse(raw) }
    }
    done()
  })

  app.get('/read', async (request) => ({ n: request.handMade?.record.data.n ?? null }))
  app.post('/write', async (request, reply) => {
    const { id, credential } = issue()
    const now = Date.now()
    store.set(id, JSON.stringify({ createdAt: now, lastSeenAt: now, data: { n: 1 } }))
    reply.header('set-cookie', `sid=${credential}; Path=/; HttpOnly; SameSite=Lax`)
    reply.header('cache-control', 'no-store')
    return { ok: true }
  })
  app.post('/update', async (request, reply) => {
    const session = request.handMade
    if (session === null) return reply.code(401).send({ ok: false })
    store.set(session.id, JSON.stringify({ ...session.record, lastSeenAt: Date.now(), data: { ...session.record.data, n: Math.random() } }))
    return { ok: true }
  })
  return store
}
