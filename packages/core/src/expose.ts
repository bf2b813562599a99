import type { FastifyReply } from 'fastify'

/**
 * Headers that HTTP or sessionkit itself gives a meaning of its own: a credential never travels in
 * one (a credential in `content-length` breaks the response, in `set-cookie` becomes a cookie, in
 * `cache-control` undoes `no-store`). Lower case.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'cookie', 'set-cookie', 'authorization', 'host', 'content-length', 'content-type', 'content-encoding',
  'transfer-encoding', 'connection', 'cache-control', 'location', 'referrer-policy', 'access-control-expose-headers'
])

/**
 * How a transport hands out a credential (or an empty one, to clear it) in a response header of its
 * own: `name` (lower case) set, and added to `Access-Control-Expose-Headers` when `expose`.
 */
export function credentialHeaderWriter (name: string, expose: boolean): (reply: FastifyReply, value: string) => void {
  return function send (reply, value) {
    reply.header(name, value)
    if (expose) exposeHeader(reply, name)
  }
}

/** Adds `name` (lower case) once to the reply's `Access-Control-Expose-Headers`. */
export function exposeHeader (reply: FastifyReply, name: string): void {
  const current = reply.getHeader('access-control-expose-headers')
  if (current === undefined) {
    reply.header('access-control-expose-headers', name)
    return
  }
  const list = String(current).split(',').map((item) => item.trim().toLowerCase())
  if (!list.includes(name)) reply.header('access-control-expose-headers', `${String(current)}, ${name}`)
}

/**
 * Marks a response that hands out or clears a credential `Cache-Control: no-store`, unless it says
 * so already: a shared cache that kept it would hand one user's session (or its end) to others.
 */
export function forbidStoring (reply: FastifyReply): void {
  const current = reply.getHeader('cache-control')
  // the two values sessionkit itself sets (the query mechanism sets the second on every response)
  // say so already, with no regular expression to run
  if (current === 'no-store' || current === 'no-store, private') return
  if (current === undefined || !/(^|[\s,])no-store($|[\s,])/i.test(String(current))) reply.header('cache-control', 'no-store')
}

/**
 * Whether a request sent header `name` (lower-case) more than once, from Node's raw header list
 * (`request.raw.rawHeaders`: names and values in turn, names as the client spelled them). Node
 * joins repeats of most headers into one value with ", ", and keeps only the first of some
 * (`authorization` among them): neither shows in `request.headers` as two.
 */
export function repeatsHeader (rawHeaders: readonly string[], name: string): boolean {
  let seen = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const candidate = rawHeaders[i] as string
    if (candidate.length !== name.length || (candidate !== name && candidate.toLowerCase() !== name)) continue
    if (seen) return true
    seen = true
  }
  return false
}
