import type { FastifyBaseLogger } from 'fastify'
import { errors } from './errors.js'

/** Runs a store call bounded in time, turning any failure into one coded 503 that leaks nothing. */
export interface StoreGuard {
  <T>(operation: () => Promise<T>): Promise<T>
  /** The same for a synchronous call (`store.sync`): a throw becomes the same coded 503. */
  now <T>(operation: () => T): T
}

/**
 * A guard for store calls: `timeout` milliseconds at most (`null` when the store bounds its own
 * latency), the original error logged, never sent.
 */
export function createStoreGuard (timeout: number | null, log: FastifyBaseLogger): StoreGuard {
  function failed (err: unknown): Error {
    if ((err as { code?: unknown }).code === 'FST_SESSIONKIT_CORRUPT_RECORD') return err as Error
    log.error({ err }, 'session store call failed')
    return new errors.FST_SESSIONKIT_STORE_UNAVAILABLE({ cause: err })
  }
  async function guarded<T> (operation: () => Promise<T>): Promise<T> {
    try {
      if (timeout === null) return await operation()
      return await withTimeout(within(performance.now() + timeout, operation), timeout)
    } catch (err) {
      throw failed(err)
    }
  }
  guarded.now = function now<T> (operation: () => T): T {
    try {
      return operation()
    } catch (err) {
      throw failed(err)
    }
  }
  return guarded
}

/** The deadline of the store call being made, while the guard makes it (see `storeCallDeadline`). */
let current: number | undefined

/** Calls `operation` with `deadline` as the current store call's: it is read synchronously, at the call. */
function within<T> (deadline: number, operation: () => Promise<T>): Promise<T> {
  const outer = current
  current = deadline
  try {
    return operation()
  } finally {
    current = outer
  }
}

/**
 * For a store method, when the engine called it: the time (`performance.now()`) at which the engine
 * stops waiting for it and answers 503 (its `storeTimeout`), or `undefined` when nothing bounds
 * the call (a store with `boundedLatency`, a call from outside the engine). Read it synchronously, on
 * entry: a store whose operation takes several calls (read, compare, write) checks it before each,
 * so that nothing is written after the client was told the write failed.
 */
export function storeCallDeadline (): number | undefined {
  return current
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
