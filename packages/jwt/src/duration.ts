import { errors } from '@sessionkit/core'

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const TEXT = /^(\d+)\s*(ms|s|m|h|d)$/

/** Milliseconds from a positive integer or a text such as `'15m'`; anything else fails registration. */
export function duration (option: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value
  const match = typeof value === 'string' ? TEXT.exec(value.trim()) : null
  const ms = match === null ? NaN : Number(match[1]) * (UNITS[match[2] as string] as number)
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new errors.FST_SESSIONKIT_INVALID_OPTION(option, 'must be a positive number of milliseconds or a text such as "15m", "12h", "30d"')
  }
  return ms
}
