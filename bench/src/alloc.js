// pnpm --filter @sessionkit/bench run alloc <read|write|update|plain> <contender> [other contender] [--by-file]
// Bytes the server allocates per request, by the function that allocates them: V8's sampling heap
// profiler, with the objects the GC has already collected, around a fixed number of requests
// (autocannon, after a warm-up). Unlike req/s it hardly moves with the machine's load, so it tells
// a change of a few hundred bytes apart on a machine too noisy for throughput to. Given two
// contenders, the difference, largest first.
import autocannon from 'autocannon'
import { ROUTES, ask, perRequestRows, startServer, stopServer, target, where } from './harness.js'

const REQUESTS = 20_000
const byFile = process.argv.includes('--by-file')
const [scenario, ...names] = process.argv.slice(2).filter((arg) => arg !== '--by-file')
if (ROUTES[scenario] === undefined || names.length === 0 || names.length > 2) {
  throw new Error('usage: alloc <read|write|update|plain> <contender> [other contender] [--by-file]')
}

async function allocation (name) {
  const server = await startServer(name)
  try {
    const load = target(server, scenario)
    await autocannon({ ...load, duration: 2 })
    await ask(server, 'alloc-start')
    const result = await autocannon({ ...load, amount: REQUESTS })
    const head = await ask(server, 'alloc-stop')
    const bytes = new Map()
    const walk = (node, caller) => {
      const { functionName, url, lineNumber } = node.callFrame
      const frame = byFile ? (where(url) || functionName || '(VM)') : `${functionName || '(anonymous)'} ${where(url)}:${lineNumber + 1}`
      // a builtin (`Map`, `keys`, `next`) is named with the function that called it
      const key = url === '' && caller !== undefined && !byFile ? `${frame} in ${caller}` : frame
      if (node.selfSize > 0) bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize)
      for (const child of node.children) walk(child, url === '' ? caller : frame)
    }
    walk(head, undefined)
    const served = result.requests.total
    const perRequest = new Map([...bytes].map(([key, total]) => [key, total / served]))
    let total = 0
    for (const value of perRequest.values()) total += value
    return { name, served, perRequest, total }
  } finally {
    await stopServer(server)
  }
}

const results = []
for (const name of names) results.push(await allocation(name))
for (const { name, served, total } of results) console.log(`${name} ${scenario}: ${Math.round(total)} bytes allocated per request (${served} requests)`)
const [first, second] = results
const rows = perRequestRows(first, second)
const by = byFile ? 'by source file' : 'by function'
console.log(second === undefined ? `\nbytes per request, ${by}` : `\nbytes per request that ${second.name} allocates beyond ${first.name}, ${by}`)
for (const [key, value] of rows.slice(0, 30)) console.log(`${Math.round(value).toString().padStart(7)}  ${key}`)
