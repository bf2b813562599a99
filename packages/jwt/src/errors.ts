import { createError } from '@fastify/error'

/** The errors `@sessionkit/jwt` adds to core's catalogue. */
export const errors = {
  /**
   * The token would exceed the size budget (`maxTokenBytes`): thrown by `set()` when the data alone
   * would, and at issue time otherwise. Nothing is sent.
   */
  FST_SESSIONKIT_TOKEN_TOO_LARGE: createError(
    'FST_SESSIONKIT_TOKEN_TOO_LARGE',
    'The session token would be %s bytes, over the budget of %s',
    500
  )
} as const
