import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, readConfig } from './config.js'

// `pnpm start`. What stops start-up is one line on stderr, never a stack trace, and an exit code: 2
// for a bad setting; 1 for a Redis that does not answer or an address that cannot be listened on.
// SIGINT and SIGTERM close the server (exit 0).
let app: FastifyInstance | undefined
try {
  const config = readConfig()
  const started = app = await buildApp(config)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, async () => {
      started.log.info({ signal }, 'closing')
      await started.close()
      process.exit(0)
    })
  }
  await started.listen({ port: config.port, host: config.host })
  started.log.info(`sessions by ${config.mechanisms.join(' + ')}, ${config.store} store`)
} catch (err) {
  await app?.close()
  console.error(failure(err as Error))
  process.exit(err instanceof ConfigError ? 2 : 1)
}

function failure (err: Error): string {
  if (err instanceof ConfigError) return `invalid configuration: ${err.message}`
  const hint = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another program listens there: set PORT to another port)' : ''
  return `cannot start: ${err.message}${hint}`
}
