import t from 'tap'
import { NO_REDIS_SERVER } from './fixtures/redis-server.js'
import { Cluster } from 'ioredis'
import { storeConformance } from '@sessionkit/core/testing'
import { RedisStore } from '@sessionkit/redis'
import { ownCluster } from './fixtures/cluster.js'

t.test('storeConformance against a real three-node Redis Cluster', { skip: NO_REDIS_SERVER }, async (t) => {
  const nodes = await ownCluster(t)
  const client = new Cluster(nodes, { enableOfflineQueue: false, redisOptions: { commandTimeout: 1_000 } })
  t.teardown(() => client.disconnect())
  await new Promise((resolve) => client.once('ready', resolve))
  const masters = client.nodes('master').length
  t.equal(masters, 3, 'three masters')
  let n = 0
  storeConformance(t, {
    create: () => {
      const store = new RedisStore({ client, prefix: `c${n++}:` })
      t.equal(store.boundedLatency, true, 'no offline queue and a command timeout: bounded')
      return store
    },
    ttlOf: async (store, id) => {
      const prefix = `c${n - 1}:`
      const ttl = await (store as RedisStore).client.pttl(`${prefix}s:{${id}}`)
      return ttl < 0 ? null : ttl
    }
  })
})
