/** Where the credential is kept: the browser's storage, or memory only. */
export type StorageKind = 'session' | 'local' | 'memory'

/** The part of the Web Storage API the client uses. */
export interface StorageLike {
  getItem (key: string): string | null
  setItem (key: string, value: string): void
  removeItem (key: string): void
}

class MemoryArea implements StorageLike {
  readonly #items = new Map<string, string>()
  getItem (key: string): string | null { return this.#items.get(key) ?? null }
  setItem (key: string, value: string): void { this.#items.set(key, value) }
  removeItem (key: string): void { this.#items.delete(key) }
}

/**
 * Storage that never throws: a browser may refuse storage (`SecurityError` in a sandboxed frame or
 * with cookies blocked, `QuotaExceededError` when full); from the first refusal on, the client
 * keeps the credential in memory for the life of the page.
 */
export class SafeStorage {
  #area: StorageLike
  #fellBack: boolean

  constructor (area: StorageLike | null) {
    this.#fellBack = area === null
    this.#area = area ?? new MemoryArea()
  }

  /** True once the client keeps its credential in memory only. */
  get inMemory (): boolean {
    return this.#fellBack
  }

  get (key: string): string | null {
    return this.#try(() => this.#area.getItem(key), null)
  }

  set (key: string, value: string): void {
    this.#try(() => this.#area.setItem(key, value), undefined, () => this.#area.setItem(key, value))
  }

  remove (key: string): void {
    this.#try(() => this.#area.removeItem(key), undefined)
  }

  #try<T> (operation: () => T, fallback: T, retry?: () => T): T {
    try {
      return operation()
    } catch {
      if (!this.#fellBack) {
        this.#fellBack = true
        this.#area = new MemoryArea()
        if (retry !== undefined) return retry()
      }
      return fallback
    }
  }
}

/** The storage area for a kind, or `null` when the browser will not give it (it may throw). */
export function storageArea (kind: 'session' | 'local', scope: { sessionStorage?: StorageLike, localStorage?: StorageLike }): StorageLike | null {
  try {
    return (kind === 'local' ? scope.localStorage : scope.sessionStorage) ?? null
  } catch {
    return null
  }
}
