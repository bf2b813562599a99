import { errors } from './errors.js'

const RESERVED = new Set(['__proto__', 'constructor', 'prototype'])

/** Throws `FST_SESSIONKIT_RESERVED_KEY` for a key that would corrupt a plain object. */
export function assertKey (key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '' || RESERVED.has(key)) {
    throw new errors.FST_SESSIONKIT_RESERVED_KEY(String(key))
  }
}

/**
 * A deep copy of `value` made only of what JSON carries exactly, or a coded error naming the key and
 * what is wrong. Copying at `set` means a caller mutating its own object later changes nothing stored.
 */
export function cloneStorable (key: string, value: unknown): unknown {
  // a primitive has nothing inside it to check for cycles: it gets the shared empty set, never written
  return copy(key, value, value !== null && typeof value === 'object' ? new Set() : NO_ANCESTORS)
}

const NO_ANCESTORS: Set<object> = new Set()

function copy (key: string, value: unknown, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) fail(key, `the number ${value} does not survive JSON`)
      return value
    case 'object':
      break
    default:
      fail(key, `a ${typeof value} does not survive JSON`)
  }
  if (value === null) return null
  if (ancestors.has(value)) fail(key, 'it contains a cycle')
  ancestors.add(value)
  let result: unknown
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) out[i] = copy(key, value[i], ancestors)
    result = out
  } else {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      fail(key, `an instance of ${(value as object).constructor?.name ?? 'a class'} does not survive JSON`)
    }
    const out: Record<string, unknown> = {}
    for (const name of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[name]
      if (item === undefined) continue
      if (name === '__proto__') fail(key, 'it contains a "__proto__" key')
      out[name] = copy(key, item, ancestors)
    }
    result = out
  }
  ancestors.delete(value)
  return result
}

function fail (key: string, reason: string): never {
  throw new errors.FST_SESSIONKIT_INVALID_VALUE(key, reason)
}
