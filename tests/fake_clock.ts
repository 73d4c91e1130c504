/**
 * A clock for pacing tests: time moves only when the test says, and timers fire in order as it
 * does, so a minute of pacing takes no minute.
 *
 * @module
 */

import type { Clock } from "../src/backends/key_pacing.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * @example
 * ```ts
 * const clock = new FakeClock();
 * clock.setTimer(() => console.log("2 s later"), 2000);
 * await clock.advance(2000);
 * ```
 */
export class FakeClock implements Clock {
  #now = 1_800_000_000_000;
  #seq = 0;
  #timers: Timer[] = [];

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time on by `ms`, firing each timer due on the way at its own moment, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= until)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
      // Let what the timer settled run before the next one.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.#now = until;
  }
}
