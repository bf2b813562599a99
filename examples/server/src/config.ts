import { randomBytes } from 'node:crypto'

export const MECHANISMS = ['cookie', 'header', 'query', 'jwt'] as const
export type Mechanism = (typeof MECHANISMS)[number]
export const STORES = ['memory', 'redis'] as const
export const JWT_TRANSPORTS = ['bearer', 'cookie'] as const
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** The example's configuration, read from the environment. */
export interface Config {
  port: number
  host: string
  mechanisms: Mechanism[]
  /** How JWT sessions travel: Bearer with tokens in headers, or HttpOnly cookies. */
  jwtTransport: (typeof JWT_TRANSPORTS)[number]
  /** JWT sessions only: access tokens encrypted (a JWE), so that their holder reads nothing of the session. */
  jwtEncryption: boolean
  store: (typeof STORES)[number]
  redisUrl: string
  redisPrefix: string
  logLevel: string
  secret: string
  /** Set when the secret was generated for this run. */
  ephemeralSecret: boolean
}

/** A bad value stops start-up with a message naming the variable and what would be valid. */
export class ConfigError extends Error {
  constructor (variable: string, valid: string) {
    super(`${variable}: ${valid}`)
    this.name = 'ConfigError'
  }
}

export function readConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('PORT', 'must be an integer from 0 to 65535')
  const host = env.HOST ?? '127.0.0.1'
  const mechanisms = (env.SESSION_MECHANISM ?? 'cookie').split(',').map((item) => item.trim())
  for (const mechanism of mechanisms) {
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new ConfigError('SESSION_MECHANISM', `must be one of ${MECHANISMS.join(', ')}, or a comma list of cookie, header, query (got "${mechanism}")`)
    }
  }
  if (mechanisms.length > 1 && mechanisms.includes('jwt')) {
    throw new ConfigError('SESSION_MECHANISM', 'jwt is stateless and runs alone; compose it by route instead (see examples/composed)')
  }
  if (new Set(mechanisms).size !== mechanisms.length) throw new ConfigError('SESSION_MECHANISM', 'lists a mechanism twice')
  const jwtTransport = env.SESSION_JWT_TRANSPORT ?? 'bearer'
  if (!(JWT_TRANSPORTS as readonly string[]).includes(jwtTransport)) throw new ConfigError('SESSION_JWT_TRANSPORT', `must be one of ${JWT_TRANSPORTS.join(', ')}`)
  if (env.SESSION_JWT_TRANSPORT !== undefined && mechanisms[0] !== 'jwt') throw new ConfigError('SESSION_JWT_TRANSPORT', 'applies to SESSION_MECHANISM=jwt only')
  const jwtEncryption = env.SESSION_JWT_ENCRYPTION ?? 'off'
  if (jwtEncryption !== 'on' && jwtEncryption !== 'off') throw new ConfigError('SESSION_JWT_ENCRYPTION', 'must be on or off')
  if (env.SESSION_JWT_ENCRYPTION !== undefined && mechanisms[0] !== 'jwt') throw new ConfigError('SESSION_JWT_ENCRYPTION', 'applies to SESSION_MECHANISM=jwt only')
  const store = env.SESSION_STORE ?? 'memory'
  if (!(STORES as readonly string[]).includes(store)) throw new ConfigError('SESSION_STORE', `must be one of ${STORES.join(', ')}`)
  const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  if (!/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL', 'must be a redis:// or rediss:// URL')
  const redisPrefix = env.REDIS_PREFIX ?? 'sessionkit-example:'
  if (!/^[\w:.-]{1,64}$/.test(redisPrefix)) throw new ConfigError('REDIS_PREFIX', 'must be 1 to 64 letters, digits, "_", ":", "." or "-"')
  const logLevel = env.LOG_LEVEL ?? 'info'
  if (!LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LEVELS.join(', ')}`)
  let secret = env.SESSION_SECRET
  let ephemeralSecret = false
  if (secret === undefined || secret === '') {
    if (env.NODE_ENV === 'production') throw new ConfigError('SESSION_SECRET', 'is required in production: at least 32 random bytes')
    secret = randomBytes(32).toString('base64url')
    ephemeralSecret = true
  } else if (Buffer.byteLength(secret) < 32) {
    throw new ConfigError('SESSION_SECRET', 'must be at least 32 bytes')
  }
  return { port, host, mechanisms: mechanisms as Mechanism[], jwtTransport: jwtTransport as Config['jwtTransport'], jwtEncryption: jwtEncryption === 'on', store: store as Config['store'], redisUrl, redisPrefix, logLevel, secret, ephemeralSecret }
}
