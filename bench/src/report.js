// node src/report.js : writes results/latest.json into the READMEs (the repository's and the
// bench's), between the `<!-- bench:start -->` and `<!-- bench:end -->` marks, with the targets of
// the benchmarks issue checked against it.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calibration } from './calibration.js'
import { MECHANISMS, overHand } from './yardstick.js'

const here = dirname(fileURLToPath(import.meta.url))
const report = JSON.parse(readFileSync(join(here, '..', 'results', 'latest.json'), 'utf8'))

const row = (scenario, contender) => report.rows.find((r) => r.scenario === scenario && r.contender === contender)
const fixed = (value) => value === undefined || value === null ? 'n/a' : value.toFixed(2)
/** The spread of a contender's paired ratios over the rounds. */
const spread = (r) => r?.ratios === undefined ? '' : `${Math.min(...r.ratios).toFixed(2)}–${Math.max(...r.ratios).toFixed(2)}`

/** Each target: what it asks, the measured values, and whether every one of them meets it. */
function targets () {
  const list = []
  const check = (label, pairs, atLeast, pick) => {
    const values = pairs.map(([scenario, contender]) => pick(row(scenario, contender)))
    const byBare = pick === vsBare
    // the ratios to bare with three decimals, so that a miss by less than 0.005 does not read as a hit
    const shown = (value) => byBare && typeof value === 'number' ? value.toFixed(3) : fixed(value)
    const short = pairs
      .map(([, contender], index) => [contender.replace('sessionkit-', ''), values[index]])
      .filter(([, value]) => value === undefined || value === null || value < atLeast)
    list.push({
      label,
      values: values.map(shown).join(' / '),
      spread: byBare ? pairs.map(([scenario, contender]) => spread(row(scenario, contender))).join(' / ') : '',
      cpu: byBare ? pairs.map(([scenario, contender]) => fixed(row(scenario, contender)?.cpuVsBare)).join(' / ') : '',
      met: short.length === 0,
      short: short.map(([name, value]) => typeof value === 'number' ? `${name} by ${(atLeast - value).toFixed(3)}` : `${name}: not measured`).join(', ')
    })
  }
  const vsBare = (r) => r?.vsBare
  const vsAnchor = (r) => r?.vsAnchor
  check('cookie / header / query read >= 0.85 of bare', MECHANISMS.map((m) => ['read', m]), 0.85, vsBare)
  check('... and >= 1.8x `@fastify/session`', MECHANISMS.map((m) => ['read', m]), 1.8, vsAnchor)
  check('cookie / header / query write >= 0.70 of bare', MECHANISMS.map((m) => ['write', m]), 0.7, vsBare)
  const yardstick = overHand(report.rows)
  if (yardstick !== null) {
    list.push({
      label: 'for scale: the same write by hand (`by-hand`: a 256-bit token signed, stored under its hash, sent in a cookie), no target',
      values: yardstick.hand.vsBare.toFixed(3),
      spread: spread(yardstick.hand),
      cpu: fixed(yardstick.hand.cpuVsBare),
      met: null
    })
    list.push({
      label: '... cookie / header / query write over `by-hand`\'s, no target',
      values: yardstick.mechanisms.map(({ ratio }) => fixed(ratio)).join(' / '),
      spread: '',
      cpu: '',
      met: null
    })
  }
  check('jwt read >= 0.85 of bare', [['read', 'sessionkit-jwt']], 0.85, vsBare)
  check('jwt read >= 1.3x `@fastify/jwt` (revocation on)', [['read', 'sessionkit-jwt']], 1.3, vsAnchor)
  check('Redis read >= 1.3x `@fastify/session` + connect-redis', [['read', 'sessionkit-cookie+redis']], 1.3, vsAnchor)
  check('cookie / header / query no-session route >= 0.97 of bare', MECHANISMS.map((m) => ['plain', m]), 0.97, vsBare)
  const control = ['read', 'write', 'update', 'plain'].map((scenario) => row(scenario, 'bare-control'))
  if (control.every((r) => r !== undefined)) {
    list.push({
      label: 'for scale: bare Fastify against itself (read / write / update / plain), no target',
      values: control.map((r) => fixed(r.vsBare)).join(' / '),
      spread: control.map(spread).join(' / '),
      cpu: control.map((r) => fixed(r.cpuVsBare)).join(' / '),
      met: null
    })
  }
  list.push({ label: 'memory store <= 400 B per idle small session', values: `${report.memory.sessionkit} B`, spread: '', cpu: '', met: report.memory.sessionkit <= 400 })
  return list
}

function summary () {
  const { machine, settings, revision } = report
  const failures = report.rows.reduce((sum, r) => sum + r.failures, 0)
  const at = revision === null ? '' : ` at commit ${revision.commit}${revision.changed ? ' (with uncommitted changes)' : ''}`
  return `${report.date.slice(0, 16).replace('T', ' ')} UTC, \`pnpm bench --${report.mode}\`${at}, ${machine.cpus} cores (${machine.model.trim()}), ` +
    `${machine.memoryGiB} GiB, Node ${machine.node}; ${settings.connections} connections, ${settings.rounds} rounds, ` +
    `each sample ${settings.duration} s and paired with a sample of bare Fastify beside it, given the same requests; medians; ${report.seconds} s in all; ` +
    `${failures === 0 ? 'no request failed' : `${failures} requests failed`}. Memory per idle small session: sessionkit MemoryStore ` +
    `${report.memory.sessionkit} B, \`@fastify/session\` MemoryStore ${report.memory.fastifySession} B (${report.memory.sessions.toLocaleString('en')} sessions).`
}

function targetTable () {
  const lines = ['| target | this run (median of the paired ratios) | spread over the rounds | server CPU per request, bare over ours | status |', '| --- | --- | --- | --- | --- |']
  for (const t of targets()) lines.push(`| ${t.label} | ${t.values} | ${t.spread} | ${t.cpu} | ${t.met === null ? '' : t.met ? 'met' : `**not met** (${t.short})`} |`)
  return lines.join('\n')
}

/** The anchors' reads against the issue's ranges: how far this run's machine is like the one the targets were set on. */
function calibrationTable () {
  const standings = calibration(report.rows)
  const inside = standings.filter((a) => a.standing === 'inside').length
  const lines = [
    `Where this run's machine stands: the benchmarks issue quotes each anchor's read as measured on the machines its targets were set on; here ${inside} of ${standings.length} read within those ranges (\`bench/src/calibration.js\`).`,
    '',
    '| anchor, read | × bare, this run | the issue\'s range | |',
    '| --- | ---: | ---: | --- |'
  ]
  for (const a of standings) lines.push(`| ${a.label} | ${fixed(a.ratio)} | ${a.low.toFixed(2)}–${a.high.toFixed(2)} | ${a.standing} |`)
  return lines.join('\n')
}

function fullTable () {
  const lines = ['| scenario | contender | req/s | p99 ms | × bare | × anchor | CPU µs/req | CPU × bare |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const r of report.rows) {
    lines.push(`| ${r.scenario} | ${r.contender} | ${r.rps} | ${r.p99} | ${r.vsBare.toFixed(2)} | ${r.vsAnchor === null ? '' : `${r.vsAnchor.toFixed(2)} (${r.anchor})`} | ${r.cpuPerRequest.toFixed(1)} | ${r.cpuVsBare.toFixed(2)} |`)
  }
  return lines.join('\n')
}

function sessionkitTable () {
  const lines = ['| scenario | sessionkit | × bare | × closest anchor |', '| --- | --- | ---: | ---: |']
  for (const r of report.rows.filter((r) => r.kind === 'sessionkit')) {
    lines.push(`| ${r.scenario} | ${r.contender} | ${r.vsBare.toFixed(2)} | ${r.vsAnchor === null ? '' : `${r.vsAnchor.toFixed(2)} (${r.anchor})`} |`)
  }
  return lines.join('\n')
}

function replace (file, body) {
  const text = readFileSync(file, 'utf8')
  const start = text.indexOf('<!-- bench:start -->')
  const end = text.indexOf('<!-- bench:end -->')
  if (start === -1 || end < start) throw new Error(`${file}: no <!-- bench:start --> ... <!-- bench:end --> marks`)
  writeFileSync(file, `${text.slice(0, start)}<!-- bench:start -->\n${body}\n${text.slice(end)}`)
}

replace(join(here, '..', '..', 'README.md'), [
  summary(), '', sessionkitTable(), '', '![Throughput as a ratio of bare Fastify](bench/results/chart.svg)', '',
  'Against the targets of the benchmarks issue:', '', targetTable(), '', calibrationTable(), ''
].join('\n'))
replace(join(here, '..', 'README.md'), [
  summary(), '', fullTable(), '', '![Throughput as a ratio of bare Fastify](results/chart.svg)', '',
  'Against the targets of the benchmarks issue:', '', targetTable(), '', calibrationTable(), ''
].join('\n'))
console.log('README.md and bench/README.md: the latest run written in')
