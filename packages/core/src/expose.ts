import type { FastifyReply } from 'fastify'

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
  if (current === undefined || !/(^|[\s,])no-store($|[\s,])/i.test(String(current))) reply.header('cache-control', 'no-store')
}
