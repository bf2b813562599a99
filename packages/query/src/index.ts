export { sessionkitQuery, sessionkitQuery as default, type QuerySessionOptions } from './plugin.js'
export { queryTransport, type QueryTransportOptions } from './query-transport.js'
export { errors } from './errors.js'
