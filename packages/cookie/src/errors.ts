import { createError } from '@fastify/error'

/** The errors `@sessionkit/cookie` adds to core's catalogue. */
export const errors = {
  /** A state-changing request from another site (Origin or Sec-Fetch-Site): refused before the handler. */
  FST_SESSIONKIT_CROSS_SITE_REQUEST: createError(
    'FST_SESSIONKIT_CROSS_SITE_REQUEST',
    'Cross-site request refused',
    403
  ),
  /**
   * The Set-Cookie header could exceed 4096 bytes, which browsers drop silently: refused at
   * registration, before any is sent.
   */
  FST_SESSIONKIT_COOKIE_TOO_LARGE: createError(
    'FST_SESSIONKIT_COOKIE_TOO_LARGE',
    'The session cookie would be %s bytes; browsers drop cookies over 4096',
    500
  )
} as const
