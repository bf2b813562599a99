import { isCredential, parse, serialize, tokenExpiry, type StoredCredential } from './record.js'
import { SafeStorage, storageArea, type StorageKind, type StorageLike } from './storage.js'

/** Options of `createSessionClient`. */
export interface SessionClientOptions {
  /** The server's mechanism: `'header'` (X-Session-Id) or `'jwt'` (Bearer, with refresh). */
  mechanism: 'header' | 'jwt'
  /**
   * The server's credential header, when not the default: the header mechanism's `header` option
   * (sent and read back), or the JWT plugin's `bearer.responseHeader` (read back; tokens go out in
   * `Authorization: Bearer`).
   * @default 'x-session-id' for header, 'x-session-token' for jwt
   */
  header?: string | undefined
  /**
   * Where the credential is kept. `'session'`: this tab only, gone when it closes. `'local'`: every
   * tab, across restarts, and readable by any script on the page (see the README). `'memory'`:
   * this page only. `remember()` moves a credential between the first two, and a client created
   * with one finds a credential kept in the other.
   * @default 'session'
   */
  storage?: StorageKind | undefined
  /** The app's origin, against which relative URLs resolve. @default location.origin */
  baseUrl?: string | undefined
  /** Other origins (`https://api.example.com`) that may receive the credential. @default [] */
  allowedOrigins?: readonly string[] | undefined
  /** Prefix of the storage key and name of the cross-tab channel. @default 'sessionkit' */
  namespace?: string | undefined
  /** Where JWT sessions refresh. @default '/refresh' */
  refreshUrl?: string | undefined
  /** Where `logout()` posts. @default '/logout' */
  logoutUrl?: string | undefined
  /** The fetch to wrap. @default globalThis.fetch */
  fetch?: typeof fetch | undefined
  /** Storage areas, when not the page's own (tests, web views). @default globalThis */
  storageAreas?: { sessionStorage?: StorageLike | undefined, localStorage?: StorageLike | undefined } | undefined
  /** A stored value longer than this is dropped unread. @default 20000 */
  maxStoredLength?: number | undefined
  /**
   * Tell other tabs of logouts (BroadcastChannel) and follow theirs. Outside a page there are no
   * tabs: a BroadcastChannel there reaches every client of the process (and its worker threads),
   * other users' included. @default true in a page, false outside one
   */
  crossTab?: boolean | undefined
  /** The clock (epoch ms), for expiry checks. @default Date.now */
  now?: (() => number) | undefined
}

/** What the client knows, as far as a page should care. */
export interface SessionState {
  /** A credential is held (the server decides whether it is still good). */
  authenticated: boolean
  /** Storage refused: the credential lives in memory only. */
  inMemory: boolean
  /** The credential is kept in localStorage: every tab, across restarts (`remember()`). */
  remembered: boolean
}

export interface SessionClient {
  /** `fetch`, with the credential attached for the app's own (or allowed) origins only. */
  fetch (input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  state (): SessionState
  /** Posts to `logoutUrl`, then forgets the credential here and in every other tab. */
  logout (): Promise<void>
  /**
   * "Remember me" on this side: `true` keeps the credential in localStorage (every tab, across
   * restarts, readable by any script on the page), `false` in sessionStorage (this tab). The
   * credential held, if any, moves with it. Throws with `storage: 'memory'`.
   */
  remember (on?: boolean): void
  /** Forgets the credential here and in every other tab, without telling the server. */
  clear (): void
  /** Called on every login, rotation and logout, local or from another tab. Returns an unsubscribe. */
  onChange (listener: (state: SessionState) => void): () => void
  /** Stops listening to other tabs. */
  close (): void
}

const LOGOUT = 'logout'

/**
 * A session client for the browser: keeps the credential the server hands out (X-Session-Id, or
 * X-Session-Token and X-Refresh-Token), sends it only to the app's origin or an allowed one, picks up
 * rotations, clears it when the server says so, and refreshes JWTs one at a time.
 */
export function createSessionClient (options: SessionClientOptions): SessionClient {
  const scope = globalThis as { document?: unknown, location?: { origin?: string }, addEventListener?: typeof addEventListener, removeEventListener?: typeof removeEventListener }
  const inPage = scope.document !== undefined
  const {
    mechanism, storage = 'session', allowedOrigins = [], namespace = 'sessionkit', refreshUrl = '/refresh',
    logoutUrl = '/logout', maxStoredLength = 20_000, crossTab = inPage, now = Date.now
  } = options
  if (mechanism !== 'header' && mechanism !== 'jwt') throw new TypeError('mechanism must be "header" or "jwt"')
  if (storage !== 'session' && storage !== 'local' && storage !== 'memory') throw new TypeError('storage must be "session", "local" or "memory"')
  const { header = mechanism === 'jwt' ? 'x-session-token' : 'x-session-id' } = options
  if (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header) || /^(authorization|cookie|x-refresh-token)$/i.test(header)) {
    throw new TypeError('header must be a header name of letters, digits and "-", other than authorization, cookie and x-refresh-token')
  }
  const base = new URL(options.baseUrl ?? scope.location?.origin ?? 'invalid:')
  if (base.origin === 'null') throw new TypeError('baseUrl is required outside a page: the origin the credential belongs to')
  const allowed = new Set([base.origin, ...allowedOrigins.map((origin) => new URL(origin).origin)])
  const send = options.fetch ?? globalThis.fetch.bind(globalThis)
  const key = `${namespace}:${mechanism}`
  // outside a page, no storage area is a tab's: Node.js 25 and later have a sessionStorage of the
  // whole process, which every user of a server-side client would share, each login overwriting
  // the others'
  const areas = options.storageAreas ?? (inPage ? scope as object : {})
  // a credential lives in one of two areas (remembered: localStorage), or in memory only
  const stored = storage === 'memory' ? null : { session: new SafeStorage(storageArea('session', areas)), local: new SafeStorage(storageArea('local', areas)) }
  let area = stored === null ? new SafeStorage(null) : storage === 'local' ? stored.local : stored.session
  // a client created for one area takes up a credential kept in the other (a remembered login)
  if (stored !== null && area.get(key) === null) {
    const other = area === stored.local ? stored.session : stored.local
    if (other.get(key) !== null) area = other
  }
  /** The response header that hands out a credential, or clears it (empty); with header sessions, the request's too. */
  const credentialHeader = header.toLowerCase()
  const listeners = new Set<(state: SessionState) => void>()
  let refreshing: Promise<StoredCredential | null> | null = null

  function state (): SessionState {
    return { authenticated: load() !== null, inMemory: area.inMemory, remembered: area === stored?.local }
  }
  function notify (): void {
    const current = state()
    for (const listener of listeners) listener(current)
  }
  /** The credential held, or `null`; what cannot be used any more is removed on sight. */
  function load (): StoredCredential | null {
    const raw = area.get(key)
    if (raw === null) return null
    const value = parse(raw, maxStoredLength)
    const expiry = value === null || mechanism !== 'jwt' ? null : tokenExpiry(value.credential)
    if (value === null || (expiry !== null && expiry <= now() && value.refresh === null)) {
      area.remove(key)
      return null
    }
    return value
  }
  function store (value: StoredCredential): void {
    area.set(key, serialize(value))
    notify()
  }

  const channel = crossTab && typeof BroadcastChannel === 'function' ? new BroadcastChannel(namespace) : null
  channel?.addEventListener('message', (event: MessageEvent) => {
    // only a logout is taken from another tab: a credential never travels this way
    if ((event.data as { type?: unknown } | null)?.type === LOGOUT) {
      removeEverywhere()
      notify()
    }
  })
  function onStorage (event: StorageEvent): void {
    if (event.key !== key) return
    // another tab wrote the shared localStorage: a value that does not parse is dropped, not adopted
    if (event.newValue !== null && parse(event.newValue, maxStoredLength) === null) stored?.local.remove(key)
    notify()
  }
  if (stored !== null) scope.addEventListener?.('storage', onStorage as EventListener)

  /** Logout: the credential goes from both areas, remembered or not. */
  function removeEverywhere (): void {
    area.remove(key)
    stored?.session.remove(key)
    stored?.local.remove(key)
  }
  function forget (): void {
    removeEverywhere()
    notify()
    channel?.postMessage({ type: LOGOUT })
  }

  /** Takes what the server said about the credential: a new one, or an empty header (forget it). */
  function follow (response: Response, held: StoredCredential | null): StoredCredential | null {
    // an answer from another origin, at the end of a redirect, says nothing about this session
    // (`url` is empty only for a response a custom `fetch` made up)
    if (response.url !== '' && !allowed.has(new URL(response.url).origin)) return held
    const issued = response.headers.get(credentialHeader)
    const refresh = response.headers.get('x-refresh-token')
    if (issued === null) return held
    // what is stored changed while the request was out (a login, a rotation, a logout, here or in
    // another tab): the answer is about a credential no longer held, and must not undo the newer one
    const current = load()
    if ((current?.credential ?? null) !== (held?.credential ?? null)) return current
    if (issued === '') {
      forget()
      return null
    }
    if (!isCredential(issued)) return held
    const next = { credential: issued, refresh: refresh !== null && isCredential(refresh) ? refresh : held?.refresh ?? null }
    store(next)
    return next
  }

  /**
   * The request with the credential in its header. A redirect would take that header along to
   * wherever it points (fetch keeps custom headers across origins), so the request refuses to
   * follow one unless the caller chose `redirect` itself.
   */
  function attach (request: Request, held: StoredCredential, redirect: RequestRedirect): Request {
    const headers = new Headers(request.headers)
    if (mechanism === 'jwt') headers.set('authorization', `Bearer ${held.credential}`)
    else headers.set(credentialHeader, held.credential)
    return new Request(request, { headers, redirect })
  }

  /** One refresh at a time: every caller that finds the token expired waits on the same one. */
  function refresh (held: StoredCredential): Promise<StoredCredential | null> {
    refreshing ??= renew(held).then((renewed) => {
      refreshing = null
      return renewed
    })
    return refreshing
  }

  async function renew (held: StoredCredential): Promise<StoredCredential | null> {
    try {
      const response = await send(new URL(refreshUrl, base), { method: 'POST', headers: { 'x-refresh-token': held.refresh as string }, redirect: 'error' })
      if (response.status !== 200) {
        forget()
        return null
      }
      return follow(response, held)
    } catch {
      // the network, not the server, failed: keep the credential for when it is back
      return held
    }
  }

  async function current (): Promise<StoredCredential | null> {
    const held = load()
    if (held === null || mechanism !== 'jwt' || held.refresh === null) return held
    const expiry = tokenExpiry(held.credential)
    return expiry !== null && expiry <= now() ? refresh(held) : held
  }

  async function sessionFetch (input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = new Request(input instanceof Request ? input : new URL(String(input), base), init)
    // only the app's own origin, or one explicitly allowed: never another host, a protocol-relative
    // URL or a look-alike (origins are compared whole)
    if (!allowed.has(new URL(request.url).origin)) return send(request)
    const held = await current()
    if (held === null) return afterward(await send(request), null)
    const redirect = init?.redirect ?? 'error'
    const retry = mechanism === 'jwt' && held.refresh !== null ? request.clone() : null
    const response = await send(attach(request, held, redirect))
    if (response.status === 401 && retry !== null && refused(response)) {
      // an expired or revoked token: one refresh (or the token another tab just stored), one retry
      const latest = load()
      const renewed = latest !== null && latest.credential !== held.credential ? latest : await refresh(held)
      return renewed === null ? response : afterward(await send(attach(retry, renewed, redirect)), renewed)
    }
    // a refused credential comes back cleared (an empty header): follow() forgets it; any other
    // 401 (the app's own "log in first") leaves the session as it is
    return afterward(response, held)
  }

  /** Whether a response refuses the credential it answered: the server cleared it. */
  function refused (response: Response): boolean {
    return response.headers.get(credentialHeader) === ''
  }

  function afterward (response: Response, held: StoredCredential | null): Response {
    follow(response, held)
    return response
  }

  return {
    fetch: sessionFetch,
    state,
    async logout () {
      try {
        // a logout answered with a redirect (to a sign-in page, say) is done: not followed, not an error
        await sessionFetch(new URL(logoutUrl, base), { method: 'POST', redirect: 'manual' })
      } finally {
        forget()
      }
    },
    clear: forget,
    remember (on = true) {
      if (stored === null) throw new TypeError('remember() needs web storage: this client keeps its credential in memory')
      const target = on ? stored.local : stored.session
      if (target === area) return
      const raw = area.get(key)
      area.remove(key)
      area = target
      if (raw !== null) area.set(key, raw)
      notify()
    },
    onChange (listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close () {
      channel?.close()
      scope.removeEventListener?.('storage', onStorage as EventListener)
      listeners.clear()
    }
  }
}
