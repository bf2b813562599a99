export { sessionkitHeader, sessionkitHeader as default, type HeaderSessionOptions } from './plugin.js'
export { headerTransport, type HeaderTransportOptions } from './header-transport.js'
