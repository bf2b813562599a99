import { expect, test } from 'tstyche'
import { Cluster, Redis } from 'ioredis'
import { RedisStore, type RedisStoreOptions } from '@sessionkit/redis'
import type { SessionStore } from '@sessionkit/core'

test('a SessionStore over one Redis or a Cluster', () => {
  expect(new RedisStore()).type.toBeAssignableTo<SessionStore>()
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ client: new Redis() })
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ client: new Cluster([]) })
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ client: new Redis({ protocol: 3, replyMapping: 'resp3' }) })
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ client: new Cluster([], { redisOptions: { protocol: 3, replyMapping: 'resp3' } }) })
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ connection: { host: '127.0.0.1', protocol: 2 as const } })
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ connection: 'redis://127.0.0.1:6379', prefix: 'app:' })
  expect<RedisStoreOptions>().type.toBeAssignableFrom({ connection: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX })
  expect<RedisStoreOptions>().type.not.toBeAssignableFrom({ prefix: 42 })
  expect<RedisStoreOptions>().type.not.toBeAssignableFrom({ client: {} })
})
