import createError from '@fastify/error'

/** The errors `@sessionkit/query` adds to core's catalogue. */
export const errors = {
  /** `reply.sessionUrl()` was given something other than a same-origin path. */
  FST_SESSIONKIT_FOREIGN_URL: createError(
    'FST_SESSIONKIT_FOREIGN_URL',
    'reply.sessionUrl() takes a same-origin path starting with a single "/"',
    500,
    TypeError
  )
} as const
