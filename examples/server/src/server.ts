import { buildApp } from './app.js'
import { ConfigError, readConfig } from './config.js'

try {
  const config = readConfig()
  const app = await buildApp(config)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'closing')
      app.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
  await app.listen({ port: config.port, host: config.host })
  app.log.info(`sessions by ${config.mechanisms.join(' + ')}, ${config.store} store`)
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`invalid configuration: ${err.message}`)
    process.exit(2)
  }
  throw err
}
