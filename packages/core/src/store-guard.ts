import type { FastifyBaseLogger } from 'fastify'
import { errors } from './errors.js'

/** Runs a store call bounded in time, turning any failure into one coded 503 that leaks nothing. */
export type StoreGuard = <T>(operation: () => Promise<T>) => Promise<T>

/**
 * A guard for store calls: `timeout` milliseconds at most (`null` when the store bounds its own
 * latency), the original error logged, never sent.
 */
export function createStoreGuard (timeout: number | null, log: FastifyBaseLogger): StoreGuard {
  return async function guarded<T> (operation: () => Promise<T>): Promise<T> {
    try {
      if (timeout === null) return await operation()
      return await withTimeout(operation(), timeout)
    } catch (err) {
      if ((err as { code?: unknown }).code === 'FST_SESSIONKIT_CORRUPT_RECORD') throw err
      log.error({ err }, 'session store call failed')
      throw new errors.FST_SESSIONKIT_STORE_UNAVAILABLE({ cause: err })
    }
  }
}

function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`store call took more than ${ms} ms`)), ms)
    promise.then((value) => {
      clearTimeout(timer)
      resolve(value)
    }, (err: unknown) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}
