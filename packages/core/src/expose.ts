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
