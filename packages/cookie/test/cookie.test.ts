import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { request as httpRequest } from 'node:http'
import { KeyRing, MemoryStore, sessionkit } from '@sessionkit/core'
import { ManualClock } from '@sessionkit/core/testing'
import { sessionkitCookie, cookieTransport, readCookie, type CookieSessionOptions } from '@sessionkit/cookie'
import { cookieOf, SECRET } from './fixtures/harness.js'

const OTHER = 'another-secret-entirely-0123456789abcdefghij'

async function build (t: Test, options: Partial<CookieSessionOptions> = {}, fastifyOptions = {}, routes?: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, store: MemoryStore, clock: ManualClock }> {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  const app = Fastify(fastifyOptions)
  t.teardown(() => app.close())
  await app.register(sessionkitCookie, { secret: SECRET, store, now: clock.now, ...options })
  app.post('/visits', async (request) => {
    const visits = (request.session.get('visits') as number | undefined ?? 0) + 1
    request.session.set('visits', visits)
    return { visits }
  })
  app.get('/me', async (request, reply) => {
    const visits = request.session.get('visits')
    return visits === undefined ? reply.code(401).send({ error: 'no session' }) : { visits }
  })
  app.post('/logout', async (request, reply) => {
    await request.session.destroy()
    return reply.code(204).send()
  })
  app.post('/webhook', { config: { session: false } }, async () => ({ ok: true }))
  routes?.(app)
  await app.ready()
  return { app, store, clock }
}

t.test('the default cookie: sid, HttpOnly, SameSite=Lax, Path=/, no Domain, Secure only over HTTPS', async (t) => {
  const { app } = await build(t, {}, { trustProxy: true })
  const plain = await app.inject({ method: 'POST', url: '/visits' })
  const header = String(plain.headers['set-cookie'])
  t.match(header, /^sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
  const proxied = await app.inject({ method: 'POST', url: '/visits', headers: { 'x-forwarded-proto': 'https' } })
  t.match(String(proxied.headers['set-cookie']), /; Secure/)
})

t.test('cookie.maxAge slides with activity: the same cookie again whenever the idle expiry moves, at most once per touchInterval', async (t) => {
  for (const maxAge of [3_600_000, undefined]) {
    const { app, clock } = await build(t, { cookie: { maxAge } })
    const first = await app.inject({ method: 'POST', url: '/visits' })
    const credential = cookieOf(first) as string
    const cookie = `sid=${credential}`
    const sent: Array<string | undefined> = []
    // a read every 10 minutes keeps the session (idle timeout 30 minutes) alive past minute 30;
    // each moves the idle expiry (touchInterval: 1 minute), and so the cookie's, when it has a Max-Age
    for (let minute = 10; minute <= 50; minute += 10) {
      clock.advance(600_000)
      const read = await app.inject({ method: 'GET', url: '/me', headers: { cookie } })
      t.equal(read.statusCode, 200, `minute ${minute}: the session lives`)
      sent.push(read.headers['set-cookie'] as string | undefined)
      if (read.headers['set-cookie'] !== undefined) t.equal(read.headers['cache-control'], 'no-store')
    }
    clock.advance(30_000)
    const soon = await app.inject({ method: 'GET', url: '/me', headers: { cookie } })
    t.equal(soon.headers['set-cookie'], undefined, 'within touchInterval: nothing')
    clock.advance(30_000)
    const write = await app.inject({ method: 'POST', url: '/visits', headers: { cookie } })
    t.same(write.json(), { visits: 2 })
    if (maxAge === undefined) {
      t.same(sent, [undefined, undefined, undefined, undefined, undefined], 'a browser-session cookie is never sent again')
      t.equal(write.headers['set-cookie'], undefined)
    } else {
      const again = `sid=${credential}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax`
      t.same(sent, [again, again, again, again, again], 'the same credential, its Max-Age counted anew')
      t.equal(write.headers['set-cookie'], again, 'a write moves it too')
    }
  }
})

t.test('cookie attributes and the __Host- prefix', async (t) => {
  const { app } = await build(t, { hostPrefix: true, cookie: { maxAge: 3_600_000, sameSite: 'strict' } })
  const response = await app.inject({ method: 'POST', url: '/visits' })
  t.match(String(response.headers['set-cookie']), /^__Host-sid=[^;]+; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Strict$/)
  const { app: other } = await build(t, { cookie: { domain: 'example.test', secure: true, sameSite: 'none', partitioned: true } })
  const partitioned = await other.inject({ method: 'POST', url: '/visits' })
  t.match(String(partitioned.headers['set-cookie']), /Domain=example\.test; Path=\/; HttpOnly; Secure; Partitioned; SameSite=None/)
})

t.test('a credential signed by another secret: no session, the store is never asked, a fresh one is issued', async (t) => {
  const { app, store } = await build(t)
  let asked = 0
  const get = store.get.bind(store)
  store.get = async (id) => { asked++; return get(id) }
  const foreign = new KeyRing(OTHER).sign('A'.repeat(43))
  const me = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${foreign}` } })
  t.equal(me.statusCode, 401)
  t.equal(cookieOf(me), undefined, 'nothing said of the foreign cookie: only a save replaces it')
  const visit = await app.inject({ method: 'POST', url: '/visits', headers: { cookie: `sid=${foreign}` } })
  t.same(visit.json(), { visits: 1 })
  const fresh = cookieOf(visit)
  t.type(fresh, 'string')
  t.not(fresh, foreign)
  t.equal(asked, 0)
})

t.test('a request sent with the cookie a login then replaced, answered after the login: the browser keeps the new cookie', async (t) => {
  const { app } = await build(t, {}, {}, (app) => {
    app.post('/login', async (request) => {
      await request.session.regenerate(['visits'])
      request.session.set('userId', 'alice')
      return { ok: true }
    })
  })
  // a browser's cookie jar: each answer's Set-Cookie applied in the order the answers arrive
  let jar: string | undefined
  const send = async (method: 'GET' | 'POST', url: string, cookie = jar): Promise<Awaited<ReturnType<typeof app.inject>>> => {
    const response = await app.inject({ method, url, headers: cookie === undefined ? {} : { cookie: `sid=${cookie}` } })
    const sent = cookieOf(response)
    if (sent !== undefined) jar = sent ?? undefined
    return response
  }
  await send('POST', '/visits')
  const before = jar as string
  t.type(before, 'string', 'a session before the login (a cart, a CSRF secret)')
  // a background request leaves with that cookie; the login's answer overtakes it
  t.equal((await send('POST', '/login')).statusCode, 200)
  const after = jar as string
  t.not(after, before, 'the login moved the session to a new cookie')
  const late = await send('GET', '/me', before)
  t.equal(late.statusCode, 401, 'the replaced cookie is no session any more')
  t.equal(cookieOf(late), undefined, 'and its answer says nothing of the cookie')
  t.equal(jar, after, 'the browser still holds the login\'s cookie')
  t.same((await send('GET', '/me')).json(), { visits: 1 }, 'signed in, with what was kept')
})

t.test('coming from @fastify/session: its cookie is never adopted; under the same name it is replaced at the first save', async (t) => {
  // a cookie @fastify/session itself issued, signed with the same secret
  const before = Fastify()
  t.teardown(() => before.close())
  await before.register(fastifyCookie)
  await before.register(fastifySession, { secret: SECRET, cookie: { secure: false } })
  before.post('/visits', async (request) => {
    request.session.set('visits', 41)
    return { ok: true }
  })
  const old = (await before.inject({ method: 'POST', url: '/visits' })).cookies.find((c) => c.name === 'sessionId')?.value as string
  t.match(old, /^[\w-]+\.[\w+/-]+$/, '@fastify/session\'s own cookie')
  const { app, store } = await build(t, { cookieName: 'sessionId' })
  let asked = 0
  const get = store.get.bind(store)
  store.get = async (id) => { asked++; return get(id) }
  const me = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sessionId=${old}` } })
  t.equal(me.statusCode, 401, 'no session: nothing of the old one')
  t.equal(cookieOf(me, 'sessionId'), undefined, 'nothing said of the old cookie until a save')
  const visit = await app.inject({ method: 'POST', url: '/visits', headers: { cookie: `sessionId=${old}` } })
  t.same(visit.json(), { visits: 1 }, 'a new session')
  t.type(cookieOf(visit, 'sessionId'), 'string', 'its save replaces the old cookie')
  t.not(cookieOf(visit, 'sessionId'), old)
  t.equal(asked, 0, 'the store is never asked')
})

t.test('rotation: an older secret is accepted and re-signed; a retired one is not', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ now: clock.now })
  t.teardown(() => store.close())
  const make = async (secret: string | string[]): Promise<FastifyInstance> => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionkitCookie, { secret, store, now: clock.now })
    app.post('/visits', async (request) => {
      request.session.set('visits', (request.session.get('visits') as number | undefined ?? 0) + 1)
      return { visits: request.session.get('visits') }
    })
    return app
  }
  const old = cookieOf(await (await make(OTHER)).inject({ method: 'POST', url: '/visits' })) as string
  const rotated = await (await make([SECRET, OTHER])).inject({ method: 'POST', url: '/visits', headers: { cookie: `sid=${old}` } })
  t.same(rotated.json(), { visits: 2 })
  const resigned = cookieOf(rotated) as string
  t.not(resigned, old)
  t.equal(resigned.slice(0, 43), old.slice(0, 43))
  const retired = await (await make(SECRET)).inject({ method: 'POST', url: '/visits', headers: { cookie: `sid=${old}` } })
  t.same(retired.json(), { visits: 1 }, 'a new session, not the old one')
})

t.test('logout clears with the same name and attributes and a past expiry; the old cookie is then dead', async (t) => {
  const { app } = await build(t, { cookie: { domain: 'example.test', path: '/' } })
  const credential = cookieOf(await app.inject({ method: 'POST', url: '/visits' })) as string
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: `sid=${credential}` } })
  t.equal(logout.statusCode, 204)
  t.equal(String(logout.headers['set-cookie']), 'sid=; Max-Age=0; Domain=example.test; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax')
  const replay = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${credential}` } })
  t.equal(replay.statusCode, 401)
})

t.test('two cookies of the session name: 400, never a guess', async (t) => {
  const { app } = await build(t)
  const credential = cookieOf(await app.inject({ method: 'POST', url: '/visits' })) as string
  const response = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${credential}; theme=dark; sid=${credential}` } })
  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL')
  t.equal(readCookie('a=1; sidx=2;  sid = 3 ;b', 'sid'), '3')
  t.equal(readCookie('a=1;flag;b=2', 'sid'), undefined)
})

t.test('readCookie reads a Cookie header as splitting it on ";" and trimming each name and value would', async (t) => {
  // the reference: each ";"-separated part with an "=" is a pair, its name and value trimmed
  function reference (header: string, name: string): string | undefined {
    let found: string | undefined
    for (const part of header.split(';')) {
      const eq = part.indexOf('=')
      if (eq === -1 || part.slice(0, eq).trim() !== name) continue
      if (found !== undefined) throw new Error('FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL')
      found = part.slice(eq + 1).trim()
    }
    return found
  }
  const outcome = (read: () => string | undefined): string => {
    try {
      return `value ${JSON.stringify(read())}`
    } catch (err) {
      return `error ${(err as { code?: string }).code ?? (err as Error).message}`
    }
  }
  const alphabet = ['sid', 'sid', 'sidx', 'xsid', 's', '=', '=', '=', ';', ';', ';', ' ', '\t', 'a', 'v.1-_', '"', '\u00a0']
  let seed = 11
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  for (let i = 0; i < 20_000; i++) {
    let header = ''
    const length = random(10)
    for (let j = 0; j < length; j++) header += alphabet[random(alphabet.length)]
    const got = outcome(() => readCookie(header, 'sid'))
    const want = outcome(() => reference(header, 'sid'))
    if (got !== want) {
      t.fail(`${JSON.stringify(header)}: read ${got}, reference ${want}`)
      return
    }
  }
  t.pass('20,000 random headers read alike')
})

t.test('readCookie scans a header once, however many parts it has', async (t) => {
  // a String whose indexOf counts the characters each search passes over
  function counted (text: string): { header: string, scanned: () => number } {
    let scanned = 0
    const header = Object.assign(Object(text), {
      indexOf (search: string, from = 0): number {
        const at = text.indexOf(search, from)
        scanned += (at === -1 ? text.length : at + 1) - from
        return at
      }
    })
    return { header: header as unknown as string, scanned: () => scanned }
  }
  const headers: Array<[string, string | undefined]> = [
    [';'.repeat(16_000), undefined],
    ['a;'.repeat(8_000), undefined],
    ['a;'.repeat(8_000) + 'sid=x', 'x'],
    ['a;'.repeat(5_000) + 'b=1;'.repeat(1_500), undefined],
    ['sid=x;' + ' ;'.repeat(8_000), 'x']
  ]
  for (const [text, value] of headers) {
    const { header, scanned } = counted(text)
    t.equal(readCookie(header, 'sid'), value)
    // each character at most once by the search for ";" and once by the search for "="
    t.ok(scanned() <= 2 * text.length, `${text.slice(0, 12)}… (${text.length} characters): ${scanned()} scanned`)
  }
})

t.test('the CSRF guard refuses cross-site unsafe requests', async (t) => {
  const { app } = await build(t, { csrf: { allowedOrigins: ['https://partner.test'] } })
  const cases: Array<[string, Record<string, string>, number]> = [
    ['POST from evil.test', { origin: 'https://evil.test' }, 403],
    ['POST with Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }, 403],
    ['POST from a null origin', { origin: 'null' }, 403],
    ['POST from the app itself', { origin: 'http://localhost:80' }, 200],
    ['POST from an allowed origin', { origin: 'https://partner.test' }, 200],
    ['POST same-origin', { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:80' }, 200],
    ['POST from a sibling subdomain (same-site, not same-origin)', { 'sec-fetch-site': 'same-site', origin: 'http://sub.localhost:80' }, 403],
    ['POST same-site from an allowed origin', { 'sec-fetch-site': 'same-site', origin: 'https://partner.test' }, 200],
    ['POST from a user-initiated navigation with a foreign Origin', { 'sec-fetch-site': 'none', origin: 'https://evil.test' }, 403],
    // behind a proxy that ends TLS, with no trustProxy, the app sees http while the browser says https
    ['POST same-origin through a TLS-ending proxy', { 'sec-fetch-site': 'same-origin', origin: 'https://localhost:80' }, 200],
    ['the same from a browser that sends no Sec-Fetch-Site', { origin: 'https://localhost:80' }, 403],
    ['POST with neither header', {}, 200]
  ]
  for (const [name, headers, status] of cases) {
    const response = await app.inject({ method: 'POST', url: '/visits', headers: { host: 'localhost:80', ...headers } })
    t.equal(response.statusCode, status, name)
    if (status === 403) {
      t.same(response.json(), { statusCode: 403, code: 'FST_SESSIONKIT_CROSS_SITE_REQUEST', error: 'Forbidden', message: 'Cross-site request refused' })
      t.equal(response.headers['set-cookie'], undefined)
    }
  }
  const get = await app.inject({ method: 'GET', url: '/me', headers: { origin: 'https://evil.test' } })
  t.equal(get.statusCode, 401, 'safe methods are not guarded')
  const optOut = await app.inject({ method: 'POST', url: '/webhook', headers: { origin: 'https://evil.test' } })
  t.equal(optOut.statusCode, 200, 'a route without sessions is not guarded')
  // with trustProxy, the app sees the scheme and host the browser used: browsers without Sec-Fetch-Site pass too
  const { app: proxied } = await build(t, {}, { trustProxy: true })
  const behind = await proxied.inject({ method: 'POST', url: '/visits', headers: { host: 'internal:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.test', origin: 'https://app.test' } })
  t.equal(behind.statusCode, 200, 'trustProxy: Origin compared with X-Forwarded-Proto and -Host')
  const foreign = await proxied.inject({ method: 'POST', url: '/visits', headers: { host: 'internal:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.test', origin: 'https://evil.test' } })
  t.equal(foreign.statusCode, 403, 'trustProxy: another origin still refused')
  const { app: off } = await build(t, { csrf: false })
  const unguarded = await off.inject({ method: 'POST', url: '/visits', headers: { origin: 'https://evil.test' } })
  t.equal(unguarded.statusCode, 200, 'csrf: false turns it off')
})

t.test('a 17 KB Cookie header over a real socket: 431 from Node, process alive', async (t) => {
  const { app } = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'GET', path: '/me', headers: { cookie: 'sid=' + 'a'.repeat(17 * 1024) } }, (res) => {
      res.resume()
      resolve(res.statusCode as number)
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(status, 431)
  const after = await fetch(`http://127.0.0.1:${port}/me`)
  t.equal(after.status, 401, 'still serving')
})

t.test('options are validated at registration', async (t) => {
  const cases: Array<[Partial<CookieSessionOptions>, string, string]> = [
    [{ cookieName: 'bad name' }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookieName": must be a cookie name token (letters, digits, !#$%&\'*+-.^_`|~)'],
    [{ cookie: { path: 'nope' } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.path": must start with "/" and contain no ";" or whitespace'],
    [{ cookie: { domain: 'a;b' } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.domain": must be a host name'],
    [{ cookie: { secure: 'yes' as unknown as boolean } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.secure": must be true, false or "auto"'],
    [{ cookie: { sameSite: 'loose' as 'lax' } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.sameSite": must be "lax", "strict" or "none"'],
    [{ cookie: { sameSite: 'none' } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.sameSite": "none" requires secure: true'],
    [{ cookie: { partitioned: true } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.partitioned": must be a boolean, and true requires secure: true and sameSite: "none"'],
    [{ cookie: { maxAge: -1 } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "cookie.maxAge": must be a positive integer (milliseconds)'],
    [{ hostPrefix: true, cookie: { domain: 'example.test' } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "hostPrefix": a __Host- cookie must have path "/" and no domain'],
    [{ csrf: { allowedOrigins: ['evil.test'] } }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "csrf.allowedOrigins": must list origins as "scheme://host[:port]"'],
    [{ cookie: { path: '/' + 'p'.repeat(4000) } }, 'FST_SESSIONKIT_COOKIE_TOO_LARGE', 'The session cookie would be 4170 bytes; browsers drop cookies over 4096'],
    [{ secret: 'short' }, 'FST_SESSIONKIT_INVALID_OPTION', 'Invalid option "secret": secret #0 has 5 bytes; at least 32 are required']
  ]
  for (const [options, code, message] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(sessionkitCookie, { secret: SECRET, ...options })
    const err = await app.ready().then(() => null, (err: unknown) => err)
    t.match(err, { code, message }, message)
  }
})

t.test('composed through core, the cookie transport needs no @fastify/cookie, and works beside it', async (t) => {
  for (const withPlugin of [false, true]) {
    const app = Fastify()
    t.teardown(() => app.close())
    if (withPlugin) await app.register(fastifyCookie)
    await app.register(sessionkit, { secret: SECRET, transports: [cookieTransport()] })
    app.post('/login', async (request) => {
      request.session.set('userId', 'alice')
      return { ok: true }
    })
    app.get('/me', async (request) => ({ user: request.session.get('userId') ?? null }))
    const login = await app.inject({ method: 'POST', url: '/login', headers: { origin: 'http://localhost:80' } })
    t.equal(login.statusCode, 200, `with @fastify/cookie: ${withPlugin}`)
    const cookie = `sid=${cookieOf(login) as string}`
    t.match(String(login.headers['set-cookie']), /^sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
    t.same((await app.inject({ method: 'GET', url: '/me', headers: { cookie } })).json(), { user: 'alice' })
    t.equal(app.hasReplyDecorator('setCookie'), withPlugin, 'reply.setCookie only where the app registered @fastify/cookie')
  }
})

t.test('sessionkitCookie registers no @fastify/cookie: no hook on routes that never touch the session', async (t) => {
  const app = Fastify({ exposeHeadRoutes: false })
  t.teardown(() => app.close())
  await app.register(sessionkitCookie, { secret: SECRET })
  app.get('/plain', { config: { session: false } }, async () => ({ ok: true }))
  await app.ready()
  t.equal(app.hasReplyDecorator('setCookie'), false)
  t.equal(app.hasDecorator('serializeCookie'), false)
  t.notMatch(app.printRoutes({ includeHooks: true }), /onSend|onRequest/, 'no route carries a hook it does not need')
  t.same((await app.inject('/plain')).json(), { ok: true })
})

t.test('measure() gives the bytes of the whole Set-Cookie line', async (t) => {
  const transport = cookieTransport({ cookie: { domain: 'example.test' } })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyCookie)
  await app.register(sessionkit, { secret: SECRET, transports: [transport] })
  app.get('/measure', async (request) => ({ bytes: transport.measure?.(request, 'v'.repeat(100)) }))
  const response = await app.inject('/measure')
  t.equal(response.json().bytes, Buffer.byteLength('sid=' + 'v'.repeat(100) + '; Domain=example.test; Path=/; HttpOnly; SameSite=Lax'))
})

t.test('every Set-Cookie line is what @fastify/cookie serialises, for any attributes and any value', async (t) => {
  const variants: Array<Parameters<typeof cookieTransport>[0]> = [
    {},
    { cookieName: 'app.session', cookie: { secure: 'auto', sameSite: 'strict', maxAge: 90_061_000, domain: '.example.test', path: '/app' } },
    { hostPrefix: true, cookie: { sameSite: 'none', partitioned: true } },
    { cookie: { secure: false } }
  ]
  const values = ['A'.repeat(43) + '.' + 'b_-'.repeat(14) + 'c', 'eyJ.eyJ.sig', 'needs encoding; yes=1', 'é', '']
  for (const options of variants) {
    const transport = cookieTransport(options)
    const app = Fastify({ trustProxy: true })
    t.teardown(() => app.close())
    await app.register(fastifyCookie)
    await app.register(sessionkit, { secret: SECRET, transports: [transport] })
    app.get('/lines', async (request, reply) => {
      for (const value of values) transport.write(request, reply, value, 0)
      return { bytes: values.map((value) => transport.measure?.(request, value)) }
    })
    await app.ready()
    const name = (options?.hostPrefix === true ? '__Host-' : '') + (options?.cookieName ?? 'sid')
    const attributes = { path: options?.cookie?.path ?? '/', domain: options?.cookie?.domain, httpOnly: true, sameSite: options?.cookie?.sameSite ?? 'lax', partitioned: options?.cookie?.partitioned, maxAge: options?.cookie?.maxAge === undefined ? undefined : Math.floor(options.cookie.maxAge / 1000) }
    for (const https of [false, true]) {
      const response = await app.inject({ url: '/lines', headers: https ? { 'x-forwarded-proto': 'https' } : {} })
      const secure = options?.hostPrefix === true || options?.cookie?.secure === true || (options?.cookie?.secure !== false && https)
      const expected = values.map((value) => app.serializeCookie(name, value, { ...attributes, secure } as Parameters<typeof app.serializeCookie>[2]))
      t.same(response.headers['set-cookie'], expected, `${JSON.stringify(options)} https=${https}`)
      t.same(response.json().bytes, expected.map((line) => Buffer.byteLength(line)))
    }
  }
})

t.test('Set-Cookie lines of the app are kept beside the session\'s; a GET+POST route is guarded per method', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyCookie)
  await app.register(sessionkitCookie, { secret: SECRET })
  app.post('/one', async (request, reply) => {
    reply.setCookie('theme', 'dark')
    request.session.set('n', 1)
    return { ok: true }
  })
  app.post('/raw', async (request, reply) => {
    reply.header('set-cookie', 'lang=fr; Path=/')
    request.session.set('n', 1)
    return { ok: true }
  })
  app.route({ method: ['GET', 'POST'], url: '/both', handler: async () => ({ ok: true }) })
  const one = await app.inject({ method: 'POST', url: '/one' })
  t.same(one.cookies.map((c) => c.name), ['theme', 'sid'])
  const raw = await app.inject({ method: 'POST', url: '/raw' })
  t.same(raw.cookies.map((c) => c.name), ['lang', 'sid'])
  t.equal((await app.inject({ method: 'GET', url: '/both', headers: { origin: 'https://evil.test' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/both', headers: { origin: 'https://evil.test' } })).statusCode, 403)
})

t.test('a valid credential in a header or the query is not a cookie session', async (t) => {
  const { app } = await build(t)
  const credential = cookieOf(await app.inject({ method: 'POST', url: '/visits' })) as string
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${credential}` } })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': credential } })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: `/me?sid=${credential}` })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${credential}` } })).statusCode, 401)
})

t.test('a remembered session gets a persistent cookie that ends with the session; an ordinary one keeps the configured cookie', async (t) => {
  for (const maxAge of [undefined, 3_600_000]) {
    const { app, clock } = await build(t, { hostPrefix: true, cookie: { maxAge, sameSite: 'strict' } }, {}, (app) => {
      app.post<{ Body: { on: boolean } }>('/remember', async (request) => {
        request.session.set('visits', 1)
        request.session.remember(request.body.on)
        return { remembered: request.session.remembered }
      })
    })
    const ordinary = await app.inject({ method: 'POST', url: '/remember', payload: { on: false } })
    const configured = maxAge === undefined ? '' : '; Max-Age=3600'
    t.match(String(ordinary.headers['set-cookie']), new RegExp(`^__Host-sid=[^;]+${configured}; Path=/; HttpOnly; Secure; SameSite=Strict$`), `ordinary, cookie.maxAge ${String(maxAge)}`)
    const remembered = await app.inject({ method: 'POST', url: '/remember', payload: { on: true } })
    t.match(String(remembered.headers['set-cookie']), /^__Host-sid=[^;]+; Max-Age=2592000; Path=\/; HttpOnly; Secure; SameSite=Strict$/, `remembered: kept for the 30 days of remember.absoluteTimeout, cookie.maxAge ${String(maxAge)}`)
    // asked on a session 20 minutes old: kept for what it has left of its 30 days
    const cookie = `__Host-sid=${cookieOf(ordinary, '__Host-sid') as string}`
    clock.advance(20 * 60_000)
    const later = await app.inject({ method: 'POST', url: '/remember', payload: { on: true }, headers: { cookie } })
    t.equal(later.json().remembered, true)
    t.match(String(later.headers['set-cookie']), new RegExp(`^${cookie}; Max-Age=${30 * 86_400 - 20 * 60}; Path=/; HttpOnly; Secure; SameSite=Strict$`), 'the same credential, now persistent')
  }
})
