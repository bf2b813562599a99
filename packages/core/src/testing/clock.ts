/** A clock that moves only when told: inject `clock.now` wherever a `now` option is taken. */
export class ManualClock {
  #time: number

  constructor (start = Date.UTC(2030, 0, 1)) {
    this.#time = start
  }

  readonly now = (): number => this.#time

  /** Moves the clock forward by `ms` milliseconds. */
  advance (ms: number): void {
    this.#time += ms
  }
}
