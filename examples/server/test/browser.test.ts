import t, { type Test } from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import Fastify from 'fastify'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { Mechanism } from '../src/config.js'
import { listen } from './fixtures/listen.js'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']
const OUTPUT = new URL('../test-output/', import.meta.url)

if (!existsSync(CHROMIUM)) {
  t.comment('Chromium is not installed (apt-get install -y chromium); .ci/run installs it')
  t.pass('skipped: no Chromium', { skip: true })
} else {
  let browser: Browser
  t.before(async () => { browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS }) })
  t.teardown(() => browser?.close())

  async function start (t: Test, mechanism: Mechanism): Promise<string> {
    return listen(t, { SESSION_MECHANISM: mechanism, SESSION_SECRET: 'browser-secret-0123456789abcdef-0123456789abcd' })
  }

  /**
   * A fresh browser context and a page in it, the page's uncaught errors collected. `bypassCSP`: the
   * demo page's Content-Security-Policy lets it connect to its own origin only; the tests of what the
   * client does when asked to go elsewhere turn it off, to reach the client's own checks.
   */
  async function openPage (t: Test, options: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext, page: Page, errors: Error[] }> {
    const context = await browser.newContext(options)
    t.teardown(() => context.close())
    const page = await context.newPage()
    const errors: Error[] = []
    page.on('pageerror', (err) => errors.push(err))
    return { context, page, errors }
  }

  async function logIn (page: Page): Promise<void> {
    await ready(page)
    await page.fill('input[name=username]', 'alice')
    await page.fill('input[name=password]', 'alice-secret')
    await page.click('#login button')
    await page.waitForFunction(() => document.getElementById('out')?.textContent?.includes('"user":"alice"'))
  }

  /** The page's module has run: its handlers are attached and the client is there. */
  async function ready (page: Page): Promise<void> {
    await page.waitForFunction(() => document.body.dataset.ready === 'true')
  }

  async function me (page: Page): Promise<number> {
    await ready(page)
    return page.evaluate(async () => (await (window as unknown as { sessionClient: { fetch: typeof fetch } }).sessionClient.fetch('/me')).status)
  }

  for (const mechanism of ['header', 'jwt'] as const) {
    t.test(`${mechanism}: localStorage keeps the user logged in across a reload and in a new tab`, async (t) => {
      const base = await start(t, mechanism)
      const { context, page, errors } = await openPage(t)
      await page.goto(`${base}/?storage=local`)
      await logIn(page)
      t.match(await page.textContent('#state'), /Session: held \(localStorage\)/)
      if (mechanism === 'header') {
        mkdirSync(OUTPUT, { recursive: true })
        await page.screenshot({ path: new URL('demo-after-login.png', OUTPUT).pathname, fullPage: true })
      }
      await page.reload()
      t.equal(await me(page), 200, 'still logged in after a reload')
      const second = await context.newPage()
      await second.goto(`${base}/?storage=local`)
      t.equal(await me(second), 200, 'and in a new tab')
      t.same(errors, [])
    })

    t.test(`${mechanism}: "Remember me" moves the credential to localStorage, where a new tab finds it; logout clears it`, async (t) => {
      const base = await start(t, mechanism)
      const context = await browser.newContext()
      t.teardown(() => context.close())
      const page = await context.newPage()
      await page.goto(`${base}/`)
      await ready(page)
      await page.check('input[name=remember]')
      await logIn(page)
      t.match(await page.textContent('#state'), /Session: held \(localStorage\)/)
      t.match(await page.textContent('#out'), /"remembered":true/, 'the server remembers it too')
      const second = await context.newPage()
      await second.goto(`${base}/`)
      t.equal(await me(second), 200, 'a new tab of the default page finds it')
      t.match(await second.textContent('#state'), /Session: held \(localStorage\)/)
      await page.click('#logout')
      await page.waitForFunction(() => document.getElementById('out')?.textContent === 'Logged out.')
      const third = await context.newPage()
      await third.goto(`${base}/`)
      t.equal(await me(third), 401, 'gone from localStorage at logout')
    })

    t.test(`${mechanism}: sessionStorage does not follow into a new tab; logout in one tab ends the other`, async (t) => {
      const base = await start(t, mechanism)
      const context = await browser.newContext()
      t.teardown(() => context.close())
      const first = await context.newPage()
      await first.goto(`${base}/`)
      await logIn(first)
      const fresh = await context.newPage()
      await fresh.goto(`${base}/`)
      t.equal(await me(fresh), 401, 'a new tab starts logged out')
      t.match(await fresh.textContent('#state'), /Session: none/)
      const shared = await context.newPage()
      await shared.goto(`${base}/?storage=local`)
      await logIn(shared)
      const other = await context.newPage()
      await other.goto(`${base}/?storage=local`)
      t.equal(await me(other), 200)
      await ready(other)
      await shared.click('#logout')
      await other.waitForFunction(() => document.getElementById('state')?.textContent?.startsWith('Session: none'))
      t.equal(await me(other), 401, 'the other tab is logged out too')
    })
  }

  t.test('cookie: "Remember me" makes the session cookie outlive the browser session; without it, it does not', async (t) => {
    const base = await start(t, 'cookie')
    for (const remember of [false, true]) {
      const context = await browser.newContext()
      t.teardown(() => context.close())
      const page = await context.newPage()
      await page.goto(`${base}/`)
      await ready(page)
      if (remember) await page.check('input[name=remember]')
      await logIn(page)
      t.match(await page.textContent('#out'), `"remembered":${String(remember)}`)
      const [cookie] = await context.cookies()
      t.equal(cookie?.name, 'sid')
      t.equal(cookie?.httpOnly, true)
      if (remember) {
        // Chromium's own record of it: expires in seconds since the epoch, 30 days out
        t.ok(Math.abs((cookie?.expires as number) - (Date.now() / 1000 + 30 * 86_400)) < 60, `kept until ${new Date((cookie?.expires as number) * 1000).toISOString()}`)
      } else {
        t.equal(cookie?.expires, -1, 'a browser-session cookie')
      }
    }
  })

  t.test('jwt in cookies: page scripts see no token, and an expired access token is refreshed by the refresh cookie', async (t) => {
    let now = Date.now()
    const base = await listen(t, { SESSION_MECHANISM: 'jwt', SESSION_JWT_TRANSPORT: 'cookie', SESSION_SECRET: 'browser-secret-0123456789abcdef-0123456789abcd' }, { now: () => now })
    const { context, page, errors } = await openPage(t)
    await page.goto(`${base}/`)
    await logIn(page)
    t.equal(await page.evaluate(() => document.cookie), '', 'both tokens HttpOnly')
    const cookies = await context.cookies()
    t.same(cookies.map((cookie) => [cookie.name, cookie.path, cookie.httpOnly]).sort(), [['sid', '/', true], ['sid-refresh', '/refresh', true]])
    const refreshToken = cookies.find((cookie) => cookie.name === 'sid-refresh')?.value
    now += 16 * 60_000
    await page.click('#me')
    await page.waitForFunction(() => document.getElementById('out')?.textContent?.startsWith('GET /me → 200'))
    t.match(await page.textContent('#out'), /"user":"alice"/, 'the page refreshed once and called again')
    t.not((await context.cookies()).find((cookie) => cookie.name === 'sid-refresh')?.value, refreshToken, 'the refresh token rotated')
    await page.click('#logout')
    await page.waitForFunction(() => document.getElementById('out')?.textContent?.startsWith('POST /logout → 204'))
    t.same(await context.cookies(), [], 'logout clears both')
    t.same(errors, [])
  })

  t.test('jwt encrypted (SESSION_JWT_ENCRYPTION=on): the browser client keeps the sealed token, reads its expiry, refreshes it', async (t) => {
    let now = Date.now()
    const base = await listen(t, { SESSION_MECHANISM: 'jwt', SESSION_JWT_ENCRYPTION: 'on', SESSION_SECRET: 'browser-secret-0123456789abcdef-0123456789abcd' }, { now: () => now })
    const { page, errors } = await openPage(t)
    await page.goto(`${base}/?storage=local`)
    await logIn(page)
    const held = async (): Promise<string> => JSON.parse(await page.evaluate(() => localStorage.getItem('sessionkit:jwt')) as string).c
    const sealed = await held()
    t.equal(sealed.split('.').length, 5, 'a JWE is what the page keeps')
    t.notMatch(sealed.split('.').map((part) => Buffer.from(part, 'base64url').toString('latin1')).join(' '), /alice/, 'nothing of the user in it')
    await page.reload()
    t.equal(await me(page), 200, 'still logged in after a reload: the stored token passed the client\'s checks')
    now += 16 * 60_000
    t.equal(await me(page), 200, 'the expired token refreshed once, the call made again')
    t.not(await held(), sealed, 'a new sealed token')
    t.same(errors, [])
  })

  /**
   * Another origin with permissive CORS (X-Session-Id readable by the page): `/echo`, and `/plant`,
   * which answers a credential-shaped X-Session-Id. Records the X-Session-Id of every request.
   */
  async function otherOrigin (t: Test): Promise<{ port: number, seen: Array<string | undefined> }> {
    const seen: Array<string | undefined> = []
    const elsewhere = Fastify()
    t.teardown(() => elsewhere.close())
    elsewhere.addHook('onRequest', async (request, reply) => {
      seen.push(request.headers['x-session-id'] as string | undefined)
      reply.header('access-control-allow-origin', '*').header('access-control-allow-headers', '*').header('access-control-expose-headers', 'x-session-id')
    })
    elsewhere.all('/echo', async () => ({ ok: true }))
    elsewhere.all('/plant', async (_request, reply) => reply.header('x-session-id', `${'p'.repeat(43)}.${'q'.repeat(43)}`).send({ planted: true }))
    await elsewhere.listen({ port: 0, host: '127.0.0.1' })
    return { port: (elsewhere.server.address() as { port: number }).port, seen }
  }

  t.test('no credential is sent to another origin, protocol-relative or look-alike', async (t) => {
    const base = await start(t, 'header')
    const { port, seen } = await otherOrigin(t)
    const { page } = await openPage(t, { bypassCSP: true })
    await page.goto(`${base}/`)
    await logIn(page)
    const statuses = await page.evaluate(async (port) => {
      const client = (window as unknown as { sessionClient: { fetch: typeof fetch } }).sessionClient
      const targets = [`http://localhost:${port}/echo`, `//localhost:${port}/echo`, `http://127.0.0.1:${port}/echo`]
      const out: number[] = []
      for (const target of targets) out.push((await client.fetch(target)).status)
      return out
    }, port)
    t.same(statuses, [200, 200, 200])
    t.same(seen.filter((value) => value !== undefined), [], 'none of them got X-Session-Id')
    t.ok(seen.length >= 3)
  })

  t.test('a redirect to another origin: a request with the credential refuses it; an anonymous one follows, and the answer is not taken for a credential', async (t) => {
    const base = await start(t, 'header')
    const { port, seen } = await otherOrigin(t)
    const other = `http://localhost:${port}`
    /** A page of its own, with an open redirect on the app's origin: /bounce/<name> to the other origin's /<name>. */
    async function bouncing (): Promise<Page> {
      const { page } = await openPage(t, { bypassCSP: true })
      await page.route(`${base}/bounce/*`, (route) => route.fulfill({ status: 302, headers: { location: `${other}/${route.request().url().split('/').pop() as string}` } }))
      await page.goto(`${base}/`)
      await ready(page)
      return page
    }
    const holder = await bouncing()
    await logIn(holder)
    const held = await holder.evaluate(async () => {
      const client = (window as unknown as { sessionClient: { fetch: typeof fetch } }).sessionClient
      try {
        return `answered ${(await client.fetch('/bounce/echo')).status}`
      } catch (err) {
        return (err as Error).name
      }
    })
    t.equal(held, 'TypeError', 'with the credential: the redirect refused, the fetch rejects')
    t.same(seen.filter((value) => value !== undefined), [], 'X-Session-Id never reached the other origin')
    const anonymous = await (await bouncing()).evaluate(async () => {
      const client = (window as unknown as { sessionClient: { fetch: typeof fetch, state: () => { authenticated: boolean } } }).sessionClient
      const response = await client.fetch('/bounce/plant')
      return { body: await response.json(), authenticated: client.state().authenticated }
    })
    t.same(anonymous, { body: { planted: true }, authenticated: false }, 'anonymous: followed, and another origin\'s header not adopted')
  })

  t.test('the demo page runs under its Content-Security-Policy, which stops an injected script and a request to another origin', async (t) => {
    const base = await start(t, 'header')
    const { port, seen } = await otherOrigin(t)
    const { page, errors } = await openPage(t)
    const violations: string[] = []
    page.on('console', (message) => { if (/Content Security Policy/.test(message.text())) violations.push(message.text()) })
    const response = await page.goto(`${base}/`)
    t.match(response?.headers()['content-security-policy'], /^default-src 'none'; script-src 'self' 'sha256-[A-Za-z0-9+/]{43}='; style-src 'sha256-/)
    await logIn(page)
    t.equal(await me(page), 200, 'the page, its module and the client work under it')
    t.same(violations, [], 'nothing of the page itself was refused')
    // what an injection would try: an inline script of its own, and sending what it read elsewhere
    const injected = await page.evaluate(async (port) => {
      const script = document.createElement('script')
      script.textContent = 'window.injectedRan = true'
      document.body.append(script)
      const sent = await fetch(`http://localhost:${port}/echo?stolen=1`).then(() => 'sent', (err: Error) => err.name)
      return { ran: (window as unknown as { injectedRan?: boolean }).injectedRan === true, sent }
    }, port)
    t.same(injected, { ran: false, sent: 'TypeError' })
    t.same(seen, [], 'the other origin got nothing')
    t.ok(violations.length >= 2, 'both refused by the policy')
    t.same(errors, [])
  })

  t.test('storage that throws: the client falls back to memory, the page keeps working', async (t) => {
    const base = await start(t, 'header')
    const context = await browser.newContext()
    t.teardown(() => context.close())
    await context.addInitScript(() => {
      Storage.prototype.setItem = () => { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError') }
      Storage.prototype.getItem = () => { throw new DOMException('The operation is insecure.', 'SecurityError') }
    })
    const page = await context.newPage()
    const errors: Error[] = []
    page.on('pageerror', (err) => errors.push(err))
    await page.goto(`${base}/`)
    await logIn(page)
    t.match(await page.textContent('#state'), /Session: held \(memory\)/)
    t.equal(await me(page), 200)
    t.same(errors, [])
  })

  t.test('cookie sessions in Chromium: late answers about the cookie a login (or a logout and a login) replaced leave the new cookie in the browser', async (t) => {
    const { sessionkitCookie } = await import('@sessionkit/cookie')
    const app = Fastify()
    t.teardown(() => app.close())
    // held requests: before their session is loaded (sent with the old cookie, arriving after the
    // login), or after (in flight while the session moves)
    const gates = new Map<string, { release: () => void, held: Promise<void>, arrived: Promise<void>, arrive: () => void }>()
    function gate (name: string): NonNullable<ReturnType<typeof gates.get>> {
      let entry = gates.get(name)
      if (entry === undefined) {
        let release!: () => void
        let arrive!: () => void
        const held = new Promise<void>((resolve) => { release = resolve })
        const arrived = new Promise<void>((resolve) => { arrive = resolve })
        entry = { release, held, arrived, arrive }
        gates.set(name, entry)
      }
      return entry
    }
    app.addHook('onRequest', async (request) => {
      const name = request.headers['x-hold-before-load']
      if (typeof name !== 'string') return
      gate(name).arrive()
      await gate(name).held
    })
    await app.register(sessionkitCookie, { secret: 'browser-secret-0123456789abcdef-0123456789abcd' })
    app.get('/', async (_request, reply) => reply.type('text/html').send('<!doctype html><title>race</title>'))
    app.post('/cart', async (request) => {
      request.session.set('cart', ['book'])
      return { ok: true }
    })
    app.post('/login', async (request) => {
      await request.session.regenerate(['cart'])
      request.session.set('userId', 'alice')
      return { ok: true }
    })
    app.post('/logout', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    // a change in flight, held once its session is loaded
    app.post('/note', async (request) => {
      const name = request.headers['x-hold-after-load']
      if (typeof name === 'string') {
        gate(name).arrive()
        await gate(name).held
      }
      request.session.set('note', 'late')
      return { ok: true }
    })
    app.get('/me', async (request, reply) => {
      const user = request.session.get('userId')
      return user === undefined ? reply.code(401).send({ user: null }) : { user, cart: request.session.get('cart') ?? null }
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const { page, errors } = await openPage(t)
    await page.goto(`${base}/`)
    const post = (path: string, headers: Record<string, string> = {}): Promise<number> => page.evaluate(async ([path, headers]) => (await fetch(path, { method: 'POST', headers })).status, [path, headers] as const)
    const me = (): Promise<unknown> => page.evaluate(async () => await (await fetch('/me')).json())

    t.equal(await post('/cart'), 200, 'an anonymous session: a cart')
    // a background read (a poll) leaves with that cookie and reaches the server after the login
    const before = page.evaluate(async () => (await fetch('/me', { headers: { 'x-hold-before-load': 'before' } })).status)
    await gate('before').arrived
    t.equal(await post('/login'), 200)
    gate('before').release()
    t.equal(await before, 401, 'the replaced cookie is no session')
    t.same(await me(), { user: 'alice', cart: ['book'] }, 'still signed in: the late answer did not take the login\'s cookie away')

    // one in flight with the session loaded while the user signs out and in again
    const during = post('/note', { 'x-hold-after-load': 'during' })
    await gate('during').arrived
    t.equal(await post('/logout'), 200)
    t.equal(await post('/login'), 200)
    gate('during').release()
    t.equal(await during, 200)
    t.same(await me(), { user: 'alice', cart: null }, 'signed in again, and still')
    t.same(errors, [])
  })
}
