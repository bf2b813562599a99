// An SVG bar chart of each contender's throughput as a ratio of bare Fastify, per scenario.
const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;')

export function chart (report) {
  const scenarios = [...new Set(report.rows.map((row) => row.scenario))]
  const barHeight = 16
  const labelWidth = 230
  const plotWidth = 420
  const blocks = scenarios.map((scenario) => report.rows.filter((row) => row.scenario === scenario))
  const height = 60 + blocks.reduce((sum, rows) => sum + 28 + rows.length * (barHeight + 4), 0)
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 80}" height="${height}" font-family="system-ui, sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="10" y="22" font-size="15" font-weight="600">Throughput as a ratio of bare Fastify (${escape(report.mode)} mode, ${escape(report.date.slice(0, 10))}, ${report.machine.cpus} cores)</text>`]
  let y = 44
  for (const [index, rows] of blocks.entries()) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="600">${escape(scenarios[index])}</text>`)
    y += 20
    for (const row of rows) {
      const width = Math.max(1, Math.min(1.2, row.vsBare) / 1.2 * plotWidth)
      const colour = row.kind === 'sessionkit' ? '#2f6fde' : row.kind === 'baseline' ? '#8fb0ea' : row.contender === 'bare' || row.kind === 'control' ? '#7a7a7a' : '#d08a2a'
      parts.push(`<text x="${labelWidth - 8}" y="${y + 12}" text-anchor="end">${escape(row.contender)}</text>`)
      parts.push(`<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${colour}"/>`)
      parts.push(`<text x="${labelWidth + width + 6}" y="${y + 12}">${row.vsBare.toFixed(2)}</text>`)
      y += barHeight + 4
    }
    y += 8
  }
  const one = labelWidth + plotWidth / 1.2
  parts.push(`<line x1="${one}" y1="40" x2="${one}" y2="${height - 10}" stroke="#333" stroke-dasharray="3 3"/>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
