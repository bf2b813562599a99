import { createError } from '@fastify/error'

/**
 * Every error sessionkit's core raises. Match on `err.code`; `err.statusCode` is the HTTP status the
 * error produces when it reaches Fastify's error handler.
 */
export const errors = {
  /** An option given at registration is missing or invalid. Fails `ready()`. */
  FST_SESSIONKIT_INVALID_OPTION: createError(
    'FST_SESSIONKIT_INVALID_OPTION',
    'Invalid option "%s": %s',
    500
  ),
  /** Two session plugins (or one twice) claim the same encapsulation context. Fails `ready()`. */
  FST_SESSIONKIT_ALREADY_REGISTERED: createError(
    'FST_SESSIONKIT_ALREADY_REGISTERED',
    'A session plugin is already registered in this context (%s); compose mechanisms through the "transports" option or register them in sibling contexts',
    500
  ),
  /**
   * The credential presented is malformed, tampered, unknown, expired or revoked. One message for all,
   * so that a client learns nothing about which.
   */
  FST_SESSIONKIT_INVALID_CREDENTIAL: createError(
    'FST_SESSIONKIT_INVALID_CREDENTIAL',
    'Session credential is invalid or expired',
    401
  ),
  /** The request carries more than one credential (twice in one channel, or disagreeing channels). */
  FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL: createError(
    'FST_SESSIONKIT_AMBIGUOUS_CREDENTIAL',
    'The request carries more than one session credential',
    400
  ),
  /** The store failed or did not answer in time. Nothing was adopted, issued or overwritten. */
  FST_SESSIONKIT_STORE_UNAVAILABLE: createError(
    'FST_SESSIONKIT_STORE_UNAVAILABLE',
    'Session store is unavailable',
    503
  ),
  /**
   * The memory store's denylist holds `maxRevocations` live entries: a revocation is refused rather
   * than an earlier one dropped (which would bring a revoked token back) or memory let grow without
   * bound. Answered as `FST_SESSIONKIT_STORE_UNAVAILABLE`, logged with this as its cause.
   */
  FST_SESSIONKIT_STORE_FULL: createError(
    'FST_SESSIONKIT_STORE_FULL',
    'Session store denylist is full (%s live revocations)',
    503
  ),
  /** A record read from the store is not a session record (garbage, truncated, foreign). */
  FST_SESSIONKIT_CORRUPT_RECORD: createError(
    'FST_SESSIONKIT_CORRUPT_RECORD',
    'Session store returned a record that is not a session',
    503
  ),
  /** Concurrent writers kept changing the session; the change was not saved. */
  FST_SESSIONKIT_WRITE_CONFLICT: createError(
    'FST_SESSIONKIT_WRITE_CONFLICT',
    'Session could not be saved after %s attempts because of concurrent changes',
    409
  ),
  /** `set()` with a value that would not come back from JSON exactly. Thrown at the call. */
  FST_SESSIONKIT_INVALID_VALUE: createError(
    'FST_SESSIONKIT_INVALID_VALUE',
    'Session value for key "%s" is not storable: %s',
    500,
    TypeError
  ),
  /** `set()` with a key that would corrupt an object (`__proto__`, `constructor`, `prototype`, empty). */
  FST_SESSIONKIT_RESERVED_KEY: createError(
    'FST_SESSIONKIT_RESERVED_KEY',
    'Session key "%s" is reserved',
    500,
    TypeError
  ),
  /**
   * `request.session` read on a route the session plugin never saw: one declared in the plugin's
   * scope before the plugin was loaded (`app.register(plugin)` without `await`, then the route).
   */
  FST_SESSIONKIT_ROUTE_WITHOUT_SESSION: createError(
    'FST_SESSIONKIT_ROUTE_WITHOUT_SESSION',
    'Route %s %s has no session: it was declared before the session plugin was loaded. Register the plugin with `await app.register(...)` before declaring routes, or declare them in a plugin registered after it',
    500
  ),
  /** The session is used after the response was sent, or concurrently with its own save. */
  FST_SESSIONKIT_SESSION_CLOSED: createError(
    'FST_SESSIONKIT_SESSION_CLOSED',
    'Session can no longer be changed: %s',
    500
  )
} as const

export type SessionkitErrorCode = keyof typeof errors
