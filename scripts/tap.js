// Runs tap for a package whose tests need Redis. On a machine without Redis (outside CI) those
// tests skip themselves with a reason, and the coverage they would have given cannot be asked for;
// in CI (CI=true) nothing skips and 100 % coverage holds.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { join, sep } from 'node:path'

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const reachable = await new Promise((resolve) => {
  const socket = connect(Number(url.port || 6379), url.hostname, () => { socket.destroy(); resolve(true) })
  socket.on('error', () => resolve(false))
  socket.setTimeout(1_000, () => { socket.destroy(); resolve(false) })
})
const binary = (process.env.PATH ?? '').split(':').some((dir) => existsSync(`${dir}/redis-server`))
const partial = process.env.CI !== 'true' && (!reachable || !binary)
if (partial) console.log('# Redis or redis-server missing: those tests skip, and coverage is not enforced for this run')
// tap's own runner, found from the package being tested
const main = createRequire(join(process.cwd(), 'package.json')).resolve('tap')
const run = join(main.slice(0, main.lastIndexOf(`${sep}dist${sep}`)), 'dist', 'esm', 'run.mjs')
const result = spawnSync(process.execPath, [run, ...(partial ? ['--allow-incomplete-coverage'] : []), ...process.argv.slice(2)], { stdio: 'inherit' })
if (result.error !== undefined) console.error(result.error)
process.exit(result.status ?? 1)
