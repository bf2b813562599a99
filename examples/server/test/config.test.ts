import t from 'tap'
import { readConfig, ConfigError } from '../src/config.js'

t.test('defaults', async (t) => {
  const config = readConfig({})
  t.match(config, { port: 3000, host: '127.0.0.1', mechanisms: ['cookie'], jwtTransport: 'bearer', store: 'memory', logLevel: 'info', ephemeralSecret: true })
  t.ok(Buffer.byteLength(config.secret) >= 32)
})

t.test('values from the environment', async (t) => {
  const config = readConfig({ PORT: '8080', HOST: '0.0.0.0', SESSION_MECHANISM: 'cookie, header', LOG_LEVEL: 'warn', SESSION_SECRET: 's'.repeat(32) })
  t.match(config, { port: 8080, host: '0.0.0.0', mechanisms: ['cookie', 'header'], logLevel: 'warn', secret: 's'.repeat(32), ephemeralSecret: false })
  t.match(readConfig({ SESSION_MECHANISM: 'jwt', SESSION_JWT_TRANSPORT: 'cookie' }), { mechanisms: ['jwt'], jwtTransport: 'cookie', jwtEncryption: false })
  t.match(readConfig({ SESSION_MECHANISM: 'jwt', SESSION_JWT_ENCRYPTION: 'on' }), { mechanisms: ['jwt'], jwtEncryption: true })
  t.match(readConfig({ SESSION_MECHANISM: 'jwt', SESSION_JWT_ENCRYPTION: 'off' }), { mechanisms: ['jwt'], jwtEncryption: false })
})

t.test('a bad value names the variable and what is valid', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, string]> = [
    [{ PORT: 'http' }, 'PORT: must be an integer from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT: must be an integer from 0 to 65535'],
    [{ SESSION_MECHANISM: 'carrier-pigeon' }, 'SESSION_MECHANISM: must be one of cookie, header, query, jwt, or a comma list of cookie, header, query (got "carrier-pigeon")'],
    [{ SESSION_MECHANISM: 'cookie,jwt' }, 'SESSION_MECHANISM: jwt is stateless and runs alone; compose it by route instead (see examples/composed)'],
    [{ SESSION_MECHANISM: 'cookie,cookie' }, 'SESSION_MECHANISM: lists a mechanism twice'],
    [{ SESSION_STORE: 'postgres' }, 'SESSION_STORE: must be one of memory, redis'],
    [{ SESSION_MECHANISM: 'jwt', SESSION_JWT_TRANSPORT: 'pigeon' }, 'SESSION_JWT_TRANSPORT: must be one of bearer, cookie'],
    [{ SESSION_JWT_TRANSPORT: 'cookie' }, 'SESSION_JWT_TRANSPORT: applies to SESSION_MECHANISM=jwt only'],
    [{ SESSION_MECHANISM: 'jwt', SESSION_JWT_ENCRYPTION: 'yes' }, 'SESSION_JWT_ENCRYPTION: must be on or off'],
    [{ SESSION_JWT_ENCRYPTION: 'on' }, 'SESSION_JWT_ENCRYPTION: applies to SESSION_MECHANISM=jwt only'],
    [{ REDIS_URL: 'http://127.0.0.1' }, 'REDIS_URL: must be a redis:// or rediss:// URL'],
    [{ REDIS_PREFIX: 'has space' }, 'REDIS_PREFIX: must be 1 to 64 letters, digits, "_", ":", "." or "-"'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ SESSION_SECRET: 'short' }, 'SESSION_SECRET: must be at least 32 bytes'],
    [{ NODE_ENV: 'production' }, 'SESSION_SECRET: is required in production: at least 32 random bytes']
  ]
  for (const [env, message] of cases) {
    t.throws(() => readConfig(env), new ConfigError(message.split(':')[0] as string, message.slice(message.indexOf(':') + 2)), message)
  }
})
