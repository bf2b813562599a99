export { sessionkitCookie, sessionkitCookie as default, type CookieSessionOptions } from './plugin.js'
export { cookieTransport, readCookie, MAX_COOKIE_BYTES, type CookieTransportOptions, type CookieAttributes } from './cookie-transport.js'
export { csrfGuard, type CsrfOptions } from './csrf.js'
export { errors } from './errors.js'
