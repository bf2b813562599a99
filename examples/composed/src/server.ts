import { randomBytes } from 'node:crypto'
import { buildComposedApp } from './app.js'

const secret = process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url')
const app = await buildComposedApp({ secret, logger: true })
if (process.env.SESSION_SECRET === undefined) app.log.warn('SESSION_SECRET is not set: using a random one for this run')
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' })
