/**
 * The keys of a map oldest first, for a map kept bounded by deleting its oldest entry (a cache, or
 * the memory store's least recently active session), where every key handed out is deleted before
 * the next is asked for.
 *
 * `map.keys().next()` would be the obvious oldest key, but a new iterator starts at the first slot
 * of the map's table, and V8 leaves the slot of every deleted entry in place until the table is
 * rebuilt: with entries deleted from the front, each eviction walks past all the earlier ones, tens
 * of thousands of slots at 100,000 entries (`pnpm --filter @sessionkit/bench run evict`: about 10 µs
 * per insert into a full map of 10,000, 70 µs into one of 100,000, against 0.3 and 1 µs resumed,
 * on a 2-core EPYC). One iterator kept open resumes
 * where it stopped: every key before it has been deleted, and an entry re-inserted (a touched
 * session) comes after it, so its next key is the oldest live one. V8's map iterators survive the
 * table being rebuilt; one that has run out is replaced.
 *
 * An open iterator also keeps every table the map has outgrown since its last step alive (V8 links
 * them for it), so the iterator is made at the first eviction, when the map is full, and dropped by
 * `release()` when the map is about to shrink and grow again: made at construction, it held about
 * 40 bytes per session of a store that grew to 100,000 (`node --expose-gc bench/src/memory.js`).
 */
export class OldestKeys<K> {
  readonly #map: ReadonlyMap<K, unknown>
  #cursor: Iterator<K> | null = null

  constructor (map: ReadonlyMap<K, unknown>) {
    this.#map = map
  }

  /** The oldest key, or `undefined` if the map is empty. The caller deletes it. */
  next (): K | undefined {
    this.#cursor ??= this.#map.keys()
    let step = this.#cursor.next()
    if (step.done === true) {
      this.#cursor = this.#map.keys()
      step = this.#cursor.next()
    }
    return step.value
  }

  /** Drops the iterator (the next call makes a new one), so that it holds no outgrown table. */
  release (): void {
    this.#cursor = null
  }
}
