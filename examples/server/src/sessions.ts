import { hkdfSync } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import { sessionkit, MemoryStore, type SessionStore, type Transport } from '@sessionkit/core'
import { RedisStore } from '@sessionkit/redis'
import { sessionkitCookie, cookieTransport } from '@sessionkit/cookie'
import { sessionkitHeader, headerTransport } from '@sessionkit/header'
import { sessionkitQuery, queryTransport } from '@sessionkit/query'
import { sessionkitJwt } from '@sessionkit/jwt'
import type { Config, Mechanism } from './config.js'

const TRANSPORTS: Record<Exclude<Mechanism, 'jwt'>, () => Transport> = {
  cookie: () => cookieTransport(),
  header: () => headerTransport(),
  query: () => queryTransport()
}

/**
 * The only place the mechanism appears: one plugin for one mechanism, core with ordered transports
 * for a comma list. Every route below it is the same whatever is chosen.
 */
export async function registerSessions (app: FastifyInstance, config: Config, now?: () => number): Promise<void> {
  const store = await openStore(config, now)
  app.addHook('onClose', async () => store.close())
  const engine = { secret: config.secret, store, ...(now === undefined ? {} : { now }) }
  const [only, ...more] = config.mechanisms
  if (only === 'jwt') {
    // the same secret as a one-key HMAC ring, and when tokens are encrypted, a sealing secret
    // derived from it (a signing secret is never a sealing one); POST /refresh comes with the plugin
    const { secret, ...rest } = engine
    const sealing = config.jwtEncryption
      ? { encryptionKeys: [{ kid: 'example', secret: Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'sessionkit example sealing secret', 32)) }] }
      : {}
    await app.register(sessionkitJwt, { ...rest, ...sealing, transport: config.jwtTransport, keys: [{ kid: 'example', algorithm: 'HS256', secret }] })
    return
  }
  if (more.length === 0) {
    const plugin = { cookie: sessionkitCookie, header: sessionkitHeader, query: sessionkitQuery }[only as Exclude<Mechanism, 'jwt'>]
    await app.register(plugin, engine)
    return
  }
  if (config.mechanisms.includes('cookie')) await app.register(fastifyCookie)
  await app.register(sessionkit, { ...engine, transports: (config.mechanisms as Array<Exclude<Mechanism, 'jwt'>>).map((name) => TRANSPORTS[name]()) })
}

/** The configured store, connected. A Redis that does not answer in 5 s stops start-up. */
async function openStore (config: Config, now?: () => number): Promise<SessionStore & { close (): unknown }> {
  if (config.store === 'memory') return new MemoryStore(now === undefined ? {} : { now })
  const store = new RedisStore({ connection: config.redisUrl, prefix: config.redisPrefix })
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`REDIS_URL: no Redis answered at ${config.redisUrl} within 5 s`)), 5_000)
  })
  try {
    await Promise.race([store.ready(), timeout])
  } catch (err) {
    await store.close()
    throw err
  } finally {
    clearTimeout(timer)
  }
  return store
}
