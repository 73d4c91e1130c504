/**
 * Per-key budgets, kept before the upstream enforces them: `rpm` requests a minute, spread evenly
 * (one every 60/rpm seconds per key, so a budget enforced per second is kept too), and `tpm`
 * tokens a minute (a bucket that holds one minute's tokens and refills continuously). A request
 * is charged its estimated tokens when it takes the key, and the difference once the upstream
 * says what it used.
 *
 * @module
 */

/** A backend's budget per key; a field left out is not paced. */
export interface PacingBudget {
  rpm?: number;
  tpm?: number;
}

/** Where time comes from; tests give their own. */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The clock of the running proxy. */
export const SYSTEM_CLOCK: Clock = {
  now: Date.now,
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

const MINUTE = 60_000;

/**
 * @example
 * ```ts
 * const pacer = new KeyPacer(3, { rpm: 30 }, SYSTEM_CLOCK);
 * if (pacer.ready(0, 500)) pacer.take(0, 500);
 * pacer.readyAt(0, 500); // 2 s after the take
 * ```
 */
export class KeyPacer {
  /** Per slot: the earliest moment (epoch ms) the next request may start. */
  readonly #next: number[];
  /** Per slot: tokens left in the bucket at `#at`. */
  readonly #tokens: number[];
  readonly #at: number[];
  readonly #interval: number;

  constructor(
    size: number,
    readonly budget: PacingBudget,
    private readonly clock: Clock,
  ) {
    this.#interval = budget.rpm ? MINUTE / budget.rpm : 0;
    this.#next = new Array(size).fill(0);
    this.#tokens = new Array(size).fill(budget.tpm ?? 0);
    this.#at = new Array(size).fill(clock.now());
  }

  /** True when a budget is set at all. */
  get active(): boolean {
    return this.#interval > 0 || this.budget.tpm !== undefined;
  }

  /** The time between two requests on one key (0: not paced by requests). */
  get interval(): number {
    return this.#interval;
  }

  /** True when slot `i` may take a request of `tokens` now. */
  ready(i: number, tokens: number): boolean {
    return this.readyAt(i, tokens) <= this.clock.now();
  }

  /** When slot `i` may take a request of `tokens` (epoch ms; now or earlier if it may). */
  readyAt(i: number, tokens: number): number {
    let at = this.#next[i];
    const tpm = this.budget.tpm;
    if (tpm !== undefined) {
      // A request larger than the whole bucket waits for a full bucket, not for ever.
      const need = Math.min(tokens, tpm);
      const missing = need - this.#level(i);
      if (missing > 0) at = Math.max(at, this.clock.now() + Math.ceil(missing * MINUTE / tpm));
    }
    return at;
  }

  /** Slot `i` takes a request of `tokens`. */
  take(i: number, tokens: number): void {
    const now = this.clock.now();
    if (this.#interval > 0) this.#next[i] = Math.max(now, this.#next[i]) + this.#interval;
    this.charge(i, tokens);
  }

  /**
   * Slot `i` cannot take a request before `at` after all (another replica spent its budget):
   * the take of `tokens` that assumed otherwise is undone.
   */
  defer(i: number, at: number, tokens: number): void {
    this.#next[i] = Math.max(this.#next[i], at);
    this.charge(i, -tokens);
  }

  /** Tokens used on slot `i` beyond (or, negative, below) what it was charged. */
  charge(i: number, tokens: number): void {
    if (this.budget.tpm === undefined) return;
    this.#tokens[i] = Math.min(this.budget.tpm, this.#level(i) - tokens);
    this.#at[i] = this.clock.now();
  }

  /** Tokens in slot `i`'s bucket now. */
  #level(i: number): number {
    const tpm = this.budget.tpm!;
    const now = this.clock.now();
    return Math.min(tpm, this.#tokens[i] + (now - this.#at[i]) * tpm / MINUTE);
  }
}
