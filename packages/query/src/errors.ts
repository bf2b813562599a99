import { createError } from '@fastify/error'

/** The errors `@sessionkit/query` adds to core's catalogue. */
export const errors = {
  /** `reply.sessionUrl()` was given something other than a same-origin path. */
  FST_SESSIONKIT_FOREIGN_URL: createError(
    'FST_SESSIONKIT_FOREIGN_URL',
    'reply.sessionUrl() takes a same-origin path starting with a single "/"',
    500,
    TypeError
  ),
  /**
   * `reply.sessionUrl()` before a save that gives the session its credential: a new session that
   * holds data (the link would carry none), or a change of user (the save moves the session to a
   * new credential, and the link would carry the old one).
   */
  FST_SESSIONKIT_UNSAVED_SESSION: createError(
    'FST_SESSIONKIT_UNSAVED_SESSION',
    'reply.sessionUrl() before the session is saved would build a link that loses it (a new session has no credential yet; a change of user moves it to a new one): await request.session.save() first',
    500
  ),
  /** A child logger factory set after the plugin, in its scope, would log the credential in `req.url`. */
  FST_SESSIONKIT_UNREDACTED_LOGS: createError(
    'FST_SESSIONKIT_UNREDACTED_LOGS',
    'Route %s would log the query credential: a child logger factory was set after @sessionkit/query in its scope. Set it before registering the plugin, which then wraps it',
    500
  ),
  /**
   * Routes declared before the plugin was loaded, at its level: they log with the logger of their
   * time, which does not redact the credential (`app.register(plugin)` without `await`, then routes).
   */
  FST_SESSIONKIT_UNREDACTED_ROUTES: createError(
    'FST_SESSIONKIT_UNREDACTED_ROUTES',
    'Routes declared before @sessionkit/query was loaded would log the query credential: %s. Register the plugin with `await app.register(...)` before declaring routes or registering plugins that declare them',
    500
  ),
  /** A not-found handler set before the plugin, at its level, would log the credential of a request no route matches. */
  FST_SESSIONKIT_UNREDACTED_NOT_FOUND: createError(
    'FST_SESSIONKIT_UNREDACTED_NOT_FOUND',
    'Requests under %s that no route matches would log the query credential: a not-found handler was set there before @sessionkit/query. Set it after registering the plugin',
    500
  )
} as const
