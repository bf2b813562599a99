import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { queryTransport, sessionkitQuery, type QuerySessionOptions } from '@sessionkit/query'
import { headerOf, SECRET } from './fixtures/harness.js'

async function build (t: Test, options: Partial<QuerySessionOptions> = {}, logs?: string[]): Promise<FastifyInstance> {
  const app = Fastify(logs === undefined ? {} : { logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  await app.register(sessionkitQuery, { secret: SECRET, ...options })
  app.post('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', 'alice')
    return { user: 'alice' }
  })
  app.get('/me', async (request, reply) => {
    const user = request.session.get('userId')
    return user === undefined ? reply.code(401).send({ error: 'not logged in' }) : { user }
  })
  app.get('/link', async (request, reply) => ({ link: reply.sessionUrl('/me?tab=1#top'), plain: reply.sessionUrl('/me') }))
  app.get('/here', async (request, reply) => ({ link: reply.sessionUrl(request.url), user: request.session.get('userId') ?? null }))
  app.get('/bad-link', async (_request, reply) => ({ link: reply.sessionUrl('//evil.test/me') }))
  app.get<{ Querystring: { path: string } }>('/any-link', async (request, reply) => ({ link: reply.sessionUrl(request.query.path) }))
  /** The link built before the save (or the error it throws), then the one built after. */
  async function linksAroundSave (request: FastifyRequest, reply: FastifyReply): Promise<{ before: unknown, after: string }> {
    let before: unknown
    try {
      before = reply.sessionUrl('/me')
    } catch (error) {
      before = error
    }
    await request.session.save()
    return { before, after: reply.sessionUrl('/me') }
  }
  app.post('/fresh-link', async (request, reply) => {
    const empty = reply.sessionUrl('/me')
    request.session.set('n', 1)
    const { before, after } = await linksAroundSave(request, reply)
    return { empty, before: (before as { code?: string, statusCode?: number } | undefined), after }
  })
  app.post('/unsaved-link', async (request, reply) => {
    await request.session.regenerate()
    request.session.set('userId', 'alice')
    return { link: reply.sessionUrl('/me') }
  })
  // a change of user without regenerate(): the save moves the session to a new credential
  app.post<{ Querystring: { user: string } }>('/switch-link', async (request, reply) => {
    request.session.set('userId', request.query.user)
    const { before, after } = await linksAroundSave(request, reply)
    return { before: typeof before === 'string' ? null : (before as { code?: string }).code, after }
  })
  app.get('/redirect-out', async (_request, reply) => reply.redirect('https://partner.test/landing?sid=leak&x=1'))
  app.get('/redirect-in', async (_request, reply) => reply.redirect('/me?sid=keep'))
  app.get('/fail', async () => { throw new Error('boom') })
  // a route that asks to be cached, as @fastify/static does, and one that never uses the session
  app.get('/cacheable', async (_request, reply) => reply.header('Cache-Control', 'public, max-age=3600').send({ ok: true }))
  app.get('/plain', { config: { session: false } }, async () => ({ ok: true }))
  app.post('/remember', async (request) => {
    request.session.set('userId', 'alice')
    request.session.remember()
    return { remembered: request.session.remembered }
  })
  await app.ready()
  return app
}

async function login (app: FastifyInstance): Promise<string> {
  return headerOf(await app.inject({ method: 'POST', url: '/login' })) as string
}

t.test('every response carries no-referrer and no-store, in place of the route\'s own cache-control', async (t) => {
  const app = await build(t)
  const sid = await login(app)
  for (const [url, status] of [[`/me?sid=${sid}`, 200], ['/redirect-in?sid=' + sid, 302], ['/me?sid=' + 'x'.repeat(87), 401], ['/nowhere?sid=' + sid, 404], ['/fail?sid=' + sid, 500], [`/cacheable?sid=${sid}`, 200], [`/plain?sid=${sid}`, 200], ['/plain', 200]] as const) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, status, url.split('?')[0] as string)
    t.equal(response.headers['referrer-policy'], 'no-referrer')
    t.equal(response.headers['cache-control'], 'no-store, private')
  }
})

t.test('the credential is in no log line', async (t) => {
  const logs: string[] = []
  const app = await build(t, {}, logs)
  const sid = await login(app)
  await app.inject({ method: 'GET', url: `/me?tab=2&sid=${sid}` })
  await app.inject({ method: 'GET', url: `/fail?SID=${sid}` })
  await app.inject({ method: 'GET', url: `/me?sid%5B0%5D=${sid}` })
  const text = logs.join('')
  t.match(text, /"url":"\/me\?tab=2&sid=\[redacted\]"/, 'the URL is logged, redacted')
  t.notOk(text.includes(sid), 'no raw credential')
  t.notOk(text.includes(sid.slice(44)), 'not even its signature')
  t.notOk(text.includes(sid.slice(0, 43)), 'nor its token')
})

t.test('a request no route matches, or one sent to the not-found handler, logs no credential and is answered none', async (t) => {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  await app.register(sessionkitQuery, { secret: SECRET })
  app.post('/login', async (request) => {
    request.session.set('userId', 'alice')
    return { ok: true }
  })
  app.get('/gone', async (_request, reply) => reply.callNotFound())
  const sid = headerOf(await app.inject({ method: 'POST', url: '/login' })) as string
  for (const url of [`/nowhere?sid=${sid}`, `/nowhere?tab=1&SID=${sid}&x=2`, `/gone?sid=${sid}`, `/nowhere?%73id=${sid}`]) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 404, url.slice(0, 16))
    t.notOk(response.body.includes(sid.slice(0, 43)), 'not in the answer')
    t.equal(response.headers['cache-control'], 'no-store, private')
  }
  const text = logs.join('')
  t.match(text, /"url":"\/nowhere\?sid=\[redacted\]"/, 'the incoming request, redacted')
  t.match(text, /Route GET:\/nowhere\?sid=\[redacted\] not found/, 'Fastify\'s not-found line, redacted')
  t.match(text, /Route GET:\/gone\?sid=\[redacted\] not found/, 'the same through reply.callNotFound()')
  t.match(text, /"url":"\/nowhere\?%73id=\[redacted\]"/, 'a name with "%" decoded before it is matched')
  t.notOk(text.includes(sid.slice(0, 43)), 'no token in any line')
  t.notOk(text.includes(sid.slice(44)), 'no signature in any line')
})

t.test('a name with "%" that decodes to the parameter is read as it, and redacted as it', async (t) => {
  const logs: string[] = []
  const app = await build(t, {}, logs)
  const sid = await login(app)
  t.equal((await app.inject({ method: 'GET', url: `/me?%73id=${sid}` })).statusCode, 200, 'read as sid, as URLSearchParams reads it')
  t.equal((await app.inject({ method: 'GET', url: `/me?%73ID=${sid}` })).statusCode, 400, 'in another case: ambiguous')
  t.equal((await app.inject({ method: 'GET', url: `/me?tab=%41&sid%5b1%5d=${sid}&x` })).statusCode, 400, 'as an array: ambiguous')
  const text = logs.join('')
  t.match(text, /"url":"\/me\?%73id=\[redacted\]"/)
  t.match(text, /"url":"\/me\?%73ID=\[redacted\]"/)
  t.match(text, /"url":"\/me\?tab=%41&sid%5b1%5d=\[redacted\]&x"/)
  t.notOk(text.includes(sid.slice(0, 43)), 'no token in any line')
})

t.test('a "#" in a request target is part of the value the read takes, and of what is redacted', async (t) => {
  const logs: string[] = []
  const app = await build(t, {}, logs)
  const sid = await login(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const status = await new Promise<number>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`GET /me?sid=%23${sid}#${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`))
    let answer = ''
    socket.on('data', (chunk) => { answer += String(chunk) })
    socket.on('end', () => resolve(Number(answer.split(' ')[1])))
    socket.on('error', reject)
  })
  t.equal(status, 401, 'no credential of that shape')
  t.notOk(logs.join('').includes(sid.slice(0, 43)), 'no token in any line')
  t.match(logs.join(''), /"url":"\/me\?sid=\[redacted\]"/)
})

t.test('a not-found handler the app sets after the plugin logs through the redacting logger', async (t) => {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  await app.register(sessionkitQuery, { secret: SECRET })
  app.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ missing: true }))
  const response = await app.inject({ method: 'GET', url: `/nowhere?sid=${'a'.repeat(43)}.${'b'.repeat(43)}` })
  t.same(response.json(), { missing: true }, 'the app\'s handler answers')
  t.match(logs.join(''), /"url":"\/nowhere\?sid=\[redacted\]"/)
  t.notOk(logs.join('').includes('a'.repeat(43)))
})

t.test('a not-found handler set before the plugin: refused with a logger, left alone without', async (t) => {
  const logged = Fastify({ logger: { level: 'info', stream: { write: () => {} } } })
  t.teardown(() => logged.close())
  logged.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ missing: true }))
  logged.register(sessionkitQuery, { secret: SECRET })
  await t.rejects(async () => await logged.ready(), { code: 'FST_SESSIONKIT_UNREDACTED_NOT_FOUND', statusCode: 500, message: /Requests under \/ that no route matches would log the query credential/ })

  const scoped = Fastify({ logger: { level: 'info', stream: { write: () => {} } } })
  t.teardown(() => scoped.close())
  scoped.register(async (api) => {
    api.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ missing: true }))
    await api.register(sessionkitQuery, { secret: SECRET })
  }, { prefix: '/api' })
  await t.rejects(async () => await scoped.ready(), { code: 'FST_SESSIONKIT_UNREDACTED_NOT_FOUND', message: /Requests under \/api that no route matches/ })

  const silent = Fastify()
  t.teardown(() => silent.close())
  silent.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ missing: true }))
  await silent.register(sessionkitQuery, { secret: SECRET })
  t.same((await silent.inject({ method: 'GET', url: '/nowhere?sid=x' })).json(), { missing: true }, 'no logger: nothing to log, the app\'s handler stays')
})

t.test('routes declared before the plugin was loaded at its level: refused with a logger, since they would log the credential', async (t) => {
  const quiet = { level: 'info', stream: { write: () => {} } }
  const early = Fastify({ logger: quiet })
  t.teardown(() => early.close())
  // registered without await: the routes below are declared first, with the logger of their time
  early.register(sessionkitQuery, { secret: SECRET })
  early.get('/early', async () => ({ ok: true }))
  early.route({ method: ['POST', 'PUT'], url: '/both', handler: async () => ({ ok: true }) })
  await t.rejects(async () => await early.ready(), { code: 'FST_SESSIONKIT_UNREDACTED_ROUTES', statusCode: 500, message: /^Routes declared before @sessionkit\/query was loaded would log the query credential: \/early \(GET, HEAD\), \/both \(POST, PUT\)\. Register the plugin with `await/ })

  // what it prevents: such a route logs the URL as it came
  const logs: string[] = []
  const leaky = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => leaky.close())
  leaky.get('/early', async () => ({ ok: true }))
  await leaky.ready()
  await leaky.inject({ method: 'GET', url: '/early?sid=the-credential' })
  t.match(logs.join(''), /sid=the-credential/, 'a route with the logger of before logs the parameter')

  // under a prefix, the routes of that prefix alone: others are not the plugin's level
  const scoped = Fastify({ logger: quiet })
  t.teardown(() => scoped.close())
  scoped.get('/health', async () => ({ ok: true }))
  scoped.register(async (api) => {
    api.register(sessionkitQuery, { secret: SECRET })
    api.get('/me', async () => ({ ok: true }))
  }, { prefix: '/api' })
  await t.rejects(async () => await scoped.ready(), { code: 'FST_SESSIONKIT_UNREDACTED_ROUTES', message: /credential: \/api\/me \(GET, HEAD\)\. Register/ })

  const ordered = Fastify({ logger: quiet })
  t.teardown(() => ordered.close())
  ordered.get('/health', async () => ({ ok: true }))
  await ordered.register(async (api) => {
    await api.register(sessionkitQuery, { secret: SECRET })
    api.get('/me', async () => ({ ok: true }))
  }, { prefix: '/api' })
  await ordered.ready()
  t.pass('the plugin loaded before its routes, under a prefix: a route outside it is not its concern')

  const silent = Fastify()
  t.teardown(() => silent.close())
  silent.register(sessionkitQuery, { secret: SECRET })
  silent.get('/early', async () => ({ ok: true }))
  await silent.ready()
  t.equal((await silent.inject({ method: 'GET', url: '/early?sid=x' })).statusCode, 200, 'no logger: nothing to log, nothing refused')
})

t.test('the not-found handler is made again only at a level of its own: the root, or a scope with a prefix', async (t) => {
  const logs: string[] = []
  const credential = `${'a'.repeat(43)}.${'b'.repeat(43)}`
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  await app.register(async (api) => {
    await api.register(sessionkitQuery, { secret: SECRET })
    api.get('/me', async () => ({ ok: true }))
  }, { prefix: '/api' })
  await app.register(async (scope) => {
    // a scope without a prefix shares the root's not-found handler: left alone, its hook stays its own
    scope.addHook('onRequest', async (_request, reply) => reply.code(401).send({ scoped: true }))
    await scope.register(sessionkitQuery, { secret: SECRET, parameter: 'token' })
    scope.get('/inner', async () => ({ ok: true }))
  })
  const api = await app.inject({ method: 'GET', url: `/api/nowhere?sid=${credential}` })
  t.equal(api.statusCode, 404)
  t.notOk(api.body.includes('a'.repeat(43)), 'under the prefix: the answer redacted')
  t.match(logs.join(''), /Route GET:\/api\/nowhere\?sid=\[redacted\] not found/)
  t.notOk(logs.join('').includes('a'.repeat(43)), 'and no line with the credential')
  const root = await app.inject({ method: 'GET', url: '/elsewhere' })
  t.equal(root.statusCode, 404, 'the root\'s not-found handler, without the unprefixed scope\'s hook')
  t.equal((await app.inject({ method: 'GET', url: '/inner' })).statusCode, 401, 'the unprefixed scope keeps its hook')
})

t.test('the redacting child logger is installed only where there is a logger to redact for', async (t) => {
  const silent = await build(t)
  t.equal(silent.childLoggerFactory, Fastify().childLoggerFactory, 'logger: false: Fastify\'s own factory, no call per request')
  const logging = await build(t, {}, [])
  t.not(logging.childLoggerFactory, Fastify().childLoggerFactory, 'with a logger: ours')
})

t.test('a child logger factory set before the plugin is wrapped; one set after is refused as routes are added', async (t) => {
  const logs: string[] = []
  const logger = { level: 'info', stream: { write: (line: string) => logs.push(line) } }
  const before = Fastify({ logger })
  t.teardown(() => before.close())
  before.setChildLoggerFactory(function tagged (parent, bindings, opts) {
    return parent.child({ ...bindings, tag: 'the app\'s' }, opts)
  })
  await before.register(sessionkitQuery, { secret: SECRET })
  before.get('/me', async () => ({ ok: true }))
  const sid = 'a'.repeat(43) + '.' + 'b'.repeat(43)
  await before.inject({ method: 'GET', url: `/me?sid=${sid}` })
  const text = logs.join('')
  t.match(text, /"tag":"the app's"/, 'the app\'s factory still runs')
  t.match(text, /"url":"\/me\?sid=\[redacted\]"/, 'and the URL is redacted')
  t.notOk(text.includes(sid), 'no credential')

  const after = Fastify({ logger })
  t.teardown(() => after.close())
  await after.register(sessionkitQuery, { secret: SECRET })
  after.setChildLoggerFactory((parent, bindings, opts) => parent.child(bindings, opts))
  t.throws(() => after.get('/me', async () => ({ ok: true })), { code: 'FST_SESSIONKIT_UNREDACTED_LOGS', message: /Route \/me would log the query credential/ })

  const nested = Fastify({ logger })
  t.teardown(() => nested.close())
  await nested.register(sessionkitQuery, { secret: SECRET })
  nested.register(async (child) => {
    child.setChildLoggerFactory((parent, bindings, opts) => parent.child(bindings, opts))
    child.get('/inner', async () => ({ ok: true }))
  })
  await t.rejects(async () => { await nested.ready() }, { code: 'FST_SESSIONKIT_UNREDACTED_LOGS' }, 'a scope inside the plugin\'s, too')
})

t.test('a redirect to another host carries no sid; a same-origin one keeps it', async (t) => {
  const app = await build(t)
  const out = await app.inject({ method: 'GET', url: '/redirect-out' })
  t.equal(out.headers.location, 'https://partner.test/landing?x=1')
  const inside = await app.inject({ method: 'GET', url: '/redirect-in' })
  t.equal(inside.headers.location, '/me?sid=keep')
})

t.test('a redirect to another host carries no parameter that decodes to sid; a Location that is no URL is left as it is', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionkitQuery, { secret: SECRET })
  app.get('/out', async (_request, reply) => reply.redirect('https://partner.test/landing?%73id=leak&SiD%5B%5D=leak&x=%41'))
  app.get('/in', async (_request, reply) => reply.redirect('/me?%73id=keep'))
  app.get('/broken', async (_request, reply) => reply.redirect('http://%zz/?sid=x'))
  t.equal((await app.inject({ method: 'GET', url: '/out' })).headers.location, 'https://partner.test/landing?x=A')
  t.equal((await app.inject({ method: 'GET', url: '/in' })).headers.location, '/me?%73id=keep')
  const broken = await app.inject({ method: 'GET', url: '/broken' })
  t.equal(broken.statusCode, 302)
  t.equal(broken.headers.location, 'http://%zz/?sid=x', 'no browser follows it')
})

t.test('reply.sessionUrl builds same-origin links only', async (t) => {
  const app = await build(t)
  const sid = await login(app)
  const links = await app.inject({ method: 'GET', url: `/link?sid=${sid}` })
  t.same(links.json(), { link: `/me?tab=1&sid=${sid}#top`, plain: `/me?sid=${sid}` })
  const bad = await app.inject({ method: 'GET', url: `/bad-link?sid=${sid}` })
  t.equal(bad.statusCode, 500)
  t.equal(bad.json().code, 'FST_SESSIONKIT_FOREIGN_URL')
  // what a browser reads as another host, however the path begins; each checked against the
  // browser's own reading (WHATWG URL) as well
  for (const path of ['//evil.test', '/\\evil.test', '/\t/evil.test/x', '/\n/evil.test', '/\r\n/evil.test', '/\t\\evil.test', 'https://evil.test/', 'evil.test', ' /me', '\t//evil.test']) {
    t.ok(!path.startsWith('/') || new URL(path, 'https://app.test').origin !== 'https://app.test', `${JSON.stringify(path)}: not a path, or a browser leaves the origin`)
    const response = await app.inject({ method: 'GET', url: `/any-link?sid=${sid}&path=${encodeURIComponent(path)}` })
    t.equal(response.json().code, 'FST_SESSIONKIT_FOREIGN_URL', JSON.stringify(path))
  }
  for (const path of ['/', '/me', '/a\\b', '/%2F/evil.test', '/ /evil.test', '/me?x=//evil.test#//evil.test']) {
    const response = await app.inject({ method: 'GET', url: `/any-link?sid=${sid}&path=${encodeURIComponent(path)}` })
    t.equal(new URL(response.json().link, 'https://app.test').origin, 'https://app.test', `${JSON.stringify(path)}: a same-origin link`)
  }
  const fresh = await app.inject({ method: 'POST', url: '/fresh-link' })
  const { empty, before, after } = fresh.json()
  t.equal(empty, '/me', 'an empty new session: nothing to carry')
  t.match(before, { code: 'FST_SESSIONKIT_UNSAVED_SESSION', statusCode: 500 }, 'data not saved yet: refused, not a link that loses it')
  t.equal(after, `/me?sid=${headerOf(fresh) as string}`)
  // uncaught, it is a coded 500 (and, as after any 5xx, nothing of the request is saved)
  const unsaved = await app.inject({ method: 'POST', url: `/unsaved-link?sid=${sid}` })
  t.equal(unsaved.statusCode, 500)
  t.equal(unsaved.json().code, 'FST_SESSIONKIT_UNSAVED_SESSION')
  // a change of user not saved yet: the current credential dies at the save, so no link with it
  const alice = await login(app)
  const switched = await app.inject({ method: 'POST', url: `/switch-link?user=bob&sid=${alice}` })
  const moved = headerOf(switched) as string
  t.not(moved, alice, 'the save moved the session')
  t.same(switched.json(), { before: 'FST_SESSIONKIT_UNSAVED_SESSION', after: `/me?sid=${moved}` })
  t.equal((await app.inject({ method: 'GET', url: switched.json().after })).json().user, 'bob', 'the link built after the save works')
  t.equal((await app.inject({ method: 'GET', url: `/me?sid=${alice}` })).statusCode, 401, 'the credential before it is dead')
  const same = await app.inject({ method: 'POST', url: `/switch-link?user=bob&sid=${moved}` })
  t.same(same.json(), { before: null, after: `/me?sid=${moved}` }, 'setting the same user moves nothing')
})

t.test('reply.sessionUrl drops the parameter the path already holds: a link to the current URL carries one credential', async (t) => {
  const app = await build(t)
  const sid = await login(app)
  const here = await app.inject({ method: 'GET', url: `/here?tab=2&sid=${sid}` })
  t.same(here.json(), { link: `/here?tab=2&sid=${sid}`, user: 'alice' })
  t.equal((await app.inject({ method: 'GET', url: here.json().link })).json().user, 'alice', 'and the link works')
  const cases: Array<[string, string]> = [
    ['/p?sid=old&a=1#f', `/p?a=1&sid=${sid}#f`],
    ['/p?a=1&SID=old&b=2', `/p?a=1&b=2&sid=${sid}`],
    ['/p?%73id=old', `/p?sid=${sid}`],
    ['/p?sid[]=x&sid%5B0%5D=y&sidecar=1', `/p?sidecar=1&sid=${sid}`],
    ['/p??sid=old', `/p?sid=${sid}`],
    ['/p?sid', `/p?sid=${sid}`],
    ['/p#sid=frag', `/p?sid=${sid}#sid=frag`]
  ]
  for (const [path, link] of cases) {
    const response = await app.inject({ method: 'GET', url: `/any-link?sid=${sid}&path=${encodeURIComponent(path)}` })
    t.equal(response.json().link, link, path)
  }
  // a new session with nothing in it: the path without a parameter it cannot vouch for
  const anonymous = await app.inject({ method: 'GET', url: `/any-link?path=${encodeURIComponent('/p?a=1&sid=stale')}` })
  t.equal(anonymous.json().link, '/p?a=1')
})

t.test('repeated, array, object, empty or other-case parameters: 400 or 401, never 500', async (t) => {
  const app = await build(t)
  const sid = await login(app)
  const cases: Array<[string, number]> = [
    [`/me?sid=${sid}&sid=${sid}`, 400],
    [`/me?sid[]=${sid}`, 400],
    [`/me?sid[a]=${sid}`, 400],
    [`/me?sid%5B%5D=${sid}`, 400],
    [`/me?SID=${sid}`, 400],
    ['/me?sid=', 401],
    ['/me?sid', 401],
    [`/me?sid=${sid}%00`, 401]
  ]
  for (const [url, status] of cases) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, status, url.replace(sid, '<sid>'))
  }
  t.equal((await app.inject({ method: 'GET', url: `/me?sidecar=1&sid=${sid}` })).statusCode, 200, 'a longer name is another parameter')
})

t.test('the query is read exactly as URLSearchParams reads it, with or without anything to decode', async (t) => {
  const transport = queryTransport()
  // what read() must answer: URLSearchParams's pairs, the parameter exactly once and in its case
  function reference (query: string): string | undefined {
    let found: string | undefined
    for (const [key, value] of new URLSearchParams(query)) {
      const name = key.toLowerCase()
      if (name !== 'sid' && !name.startsWith('sid[')) continue
      if (key !== 'sid' || found !== undefined) throw new Error('FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL')
      found = value
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
  const alphabet = ['sid', 'sid', 'SiD', 'sid[]', 'sid[a]', 'sidx', 's', 'id', '=', '=', '=', '&', '&', '&', '[', ']', 'a', 'v.1-_', '%', '%5B', '%73', '+', '?']
  let seed = 7
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  let plain = 0
  for (let i = 0; i < 20_000; i++) {
    let query = ''
    const length = random(9)
    for (let j = 0; j < length; j++) query += alphabet[random(alphabet.length)]
    if (!query.includes('%') && !query.includes('+')) plain++
    const request = { url: `/r?${query}` } as unknown as import('fastify').FastifyRequest
    const got = outcome(() => transport.read(request))
    const want = outcome(() => reference(query))
    if (got !== want) {
      t.fail(`?${query}: read ${got}, URLSearchParams ${want}`)
      return
    }
  }
  t.ok(plain > 5_000, `${plain} of 20,000 random queries took the path without decoding`)
  t.equal(transport.read({ url: '/r' } as unknown as import('fastify').FastifyRequest), undefined, 'no query at all')
})

t.test('the query is scanned once, however many pairs it has', async (t) => {
  const transport = queryTransport()
  // a URL whose query (its slice after "?") counts the characters each indexOf passes over
  function counted (url: string): { request: import('fastify').FastifyRequest, scanned: () => number } {
    let scanned = 0
    const counting = (text: string): string => Object.assign(Object(text), {
      indexOf (search: string, from = 0): number {
        const at = text.indexOf(search, from)
        scanned += (at === -1 ? text.length : at + 1) - from
        return at
      }
    }) as unknown as string
    const whole = Object.assign(Object(url), { slice: (from: number) => counting(url.slice(from)) })
    return { request: { url: whole } as unknown as import('fastify').FastifyRequest, scanned: () => scanned }
  }
  const urls: Array<[string, string | undefined]> = [
    ['/r?' + 'a&'.repeat(8_000), undefined],
    ['/r?' + 'a&'.repeat(8_000) + 'sid=x', 'x'],
    ['/r?' + 'a&'.repeat(5_000) + 'b=1&'.repeat(1_500), undefined],
    ['/r?sid=x&' + 'a&'.repeat(8_000), 'x']
  ]
  for (const [url, value] of urls) {
    const { request, scanned } = counted(url)
    t.equal(transport.read(request), value)
    // each character at most once by the search for "&" and once by the search for "=" (and "?")
    t.ok(scanned() <= 2 * url.length, `${url.slice(0, 12)}… (${url.length} characters): ${scanned()} scanned`)
  }
})

t.test('a valid credential in a header or cookie is not a session', async (t) => {
  const app = await build(t)
  const sid = await login(app)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { 'x-session-id': sid } })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { cookie: `sid=${sid}` } })).statusCode, 401)
})

t.test('a 64 KB query string over a real socket is refused by Node, and the server lives', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/me?sid=' + 'a'.repeat(64 * 1024) }, (res) => {
      res.resume()
      resolve(res.statusCode as number)
    })
    req.on('error', reject)
    req.end()
  })
  t.ok(status === 431 || status === 414 || status === 400, `refused with ${status}`)
  t.equal((await fetch(`http://127.0.0.1:${port}/me`)).status, 401, 'still serving')
})

t.test('the response header is added to the Access-Control-Expose-Headers the app set, never put in its place', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers['x-list'] !== undefined) reply.header('access-control-expose-headers', 'x-request-id')
  })
  await app.register(sessionkitQuery, { secret: SECRET })
  app.post('/login', async (request) => {
    request.session.set('userId', 'alice')
    return { user: 'alice' }
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  const login = await app.inject({ method: 'POST', url: '/login', headers: { 'x-list': '1' } })
  t.equal(login.headers['access-control-expose-headers'], 'x-request-id, x-session-id')
  const logout = await app.inject({ method: 'POST', url: `/logout?sid=${headerOf(login) as string}`, headers: { 'x-list': '1' } })
  t.equal(logout.headers['x-session-id'], '', 'cleared')
  t.equal(logout.headers['access-control-expose-headers'], 'x-request-id, x-session-id')
  const alone = await app.inject({ method: 'POST', url: '/login' })
  t.equal(alone.headers['access-control-expose-headers'], 'x-session-id', 'alone when the app lists none')
})

t.test('short-lived by default; options validated', async (t) => {
  const reserved = 'Invalid option "header": must be letters, digits, "_" or "-", none of cookie, set-cookie, authorization, host, content-length, content-type, content-encoding, transfer-encoding, connection, cache-control, location, referrer-policy, access-control-expose-headers'
  const app = await build(t)
  const response = await app.inject({ method: 'POST', url: '/fresh-link' })
  t.type(headerOf(response), 'string')
  for (const [options, message] of [
    [{ parameter: 's id' }, 'Invalid option "parameter": must be letters, digits, "_" or "-"'],
    [{ header: 'x:id' }, reserved],
    [{ header: 'cache-control' }, reserved],
    [{ header: 'Location' }, reserved],
    [{ header: 'content-length' }, reserved]
  ] as const) {
    const bad = Fastify()
    t.teardown(() => bad.close())
    bad.register(sessionkitQuery, { secret: SECRET, ...(options as object) })
    t.match(await bad.ready().then(() => null, (err: unknown) => err), { code: 'FST_SESSIONKIT_INVALID_OPTION', message })
  }
})

t.test('a remembered URL session lives no longer than any other unless remember says so', async (t) => {
  const { ManualClock } = await import('@sessionkit/core/testing')
  for (const [options, alive] of [[{}, false], [{ remember: { idleTimeout: 3_600_000, absoluteTimeout: 7_200_000 } }, true]] as const) {
    const clock = new ManualClock()
    const app = await build(t, { now: clock.now, ...options })
    const remembered = await app.inject({ method: 'POST', url: '/remember' })
    t.same(remembered.json(), { remembered: true })
    clock.advance(6 * 60_000)
    const later = await app.inject({ method: 'GET', url: `/me?sid=${headerOf(remembered) as string}` })
    t.equal(later.statusCode, alive ? 200 : 401, alive ? 'with remember set, 6 idle minutes are fine' : 'by default, dead after 5 idle minutes as any other')
  }
})
