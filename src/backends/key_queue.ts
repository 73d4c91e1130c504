/**
 * Requests waiting for a key whose budget is spent (`key_pacing.ts`), served in the order they
 * came as budgets free up, each for at most its queue time, after which it is answered 429 with
 * `retry-after` instead of being sent to an upstream that is sure to refuse it.
 *
 * @module
 */

import { ApiError } from "../canonical/errors.ts";
import type { KeyLease, KeyPool } from "./keys.ts";
import type { Clock, KeyPacer } from "./key_pacing.ts";

/** What one request waits for. */
export interface KeyRequest {
  tried: ReadonlySet<number>;
  /** The upstream model (keys cooling for it alone are skipped). */
  model: string;
  /** The request's estimated tokens, for `tpm`. */
  tokens: number;
}

interface Waiter {
  request: KeyRequest;
  resolve(lease: KeyLease | undefined): void;
  reject(err: unknown): void;
}

/**
 * @example
 * ```ts
 * const queue = new KeyQueue(pool, pacer, SYSTEM_CLOCK);
 * const lease = await queue.lease({ tried: new Set(), model: "m", tokens: 100 }, signal, 30_000, "InternLM");
 * ```
 */
export class KeyQueue {
  readonly #waiters: Waiter[] = [];
  #cancelTimer: (() => void) | undefined;
  #timerAt = Infinity;

  constructor(
    private readonly pool: KeyPool,
    private readonly pacer: KeyPacer,
    private readonly clock: Clock,
  ) {}

  /** Requests waiting now. */
  get length(): number {
    return this.#waiters.length;
  }

  /**
   * A key for `request`: at once when one has budget and nobody waits before it, else when its
   * turn comes. Undefined when no key is usable at all (cooling, benched, tried: the caller says
   * why); rejects with a 429 after `maxWaitMs`, or with `signal`'s reason.
   */
  lease(
    request: KeyRequest,
    signal: AbortSignal,
    maxWaitMs: number,
    vendor: string,
  ): Promise<KeyLease | undefined> {
    if (this.#waiters.length === 0) {
      const lease = this.#take(request);
      if (lease || this.#readyAt(request) === undefined) return Promise.resolve(lease);
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const done = () => {
        cancelDeadline();
        signal.removeEventListener("abort", onAbort);
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
      const waiter: Waiter = {
        request,
        resolve: (lease) => {
          done();
          resolve(lease);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = () => waiter.reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      const cancelDeadline = this.clock.setTimer(() => {
        const position = this.#waiters.indexOf(waiter);
        waiter.reject(this.#queueTimeout(request, position, maxWaitMs, vendor));
        this.#schedule();
      }, maxWaitMs);
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  /** Serves waiters in order while keys have budget, then sleeps until the next one frees. */
  #dispatch(): void {
    for (const waiter of [...this.#waiters]) {
      const lease = this.#take(waiter.request);
      if (lease) waiter.resolve(lease);
      else if (this.#readyAt(waiter.request) === undefined) waiter.resolve(undefined);
    }
    this.#schedule();
  }

  #schedule(): void {
    let at = Infinity;
    for (const waiter of this.#waiters) at = Math.min(at, this.#readyAt(waiter.request) ?? at);
    if (at === this.#timerAt) return;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#cancelTimer = this.clock.setTimer(() => {
      this.#cancelTimer = undefined;
      this.#timerAt = Infinity;
      this.#dispatch();
    }, Math.max(0, at - this.clock.now()));
  }

  #take(request: KeyRequest): KeyLease | undefined {
    const lease = this.pool.acquire(request.tried, {
      model: request.model,
      ready: (i) => this.pacer.ready(i, request.tokens),
    });
    if (lease) this.pacer.take(lease.index, request.tokens);
    return lease;
  }

  /** When some key `request` may use has budget again; undefined when none is usable at all. */
  #readyAt(request: KeyRequest): number | undefined {
    let at: number | undefined;
    for (let i = 0; i < this.pool.size; i++) {
      if (!this.pool.usable(i, request.tried, request.model)) continue;
      const ready = this.pacer.readyAt(i, request.tokens);
      if (at === undefined || ready < at) at = ready;
    }
    return at;
  }

  /** The 429 of a request that waited its queue time out, `position` from the front. */
  #queueTimeout(request: KeyRequest, position: number, waitedMs: number, vendor: string): ApiError {
    const ahead = Math.max(0, position) * this.pacer.interval / Math.max(1, this.pool.size);
    const free = (this.#readyAt(request) ?? this.clock.now()) - this.clock.now();
    const seconds = Math.max(1, Math.ceil((Math.max(0, free) + ahead) / 1000));
    const { rpm, tpm } = this.pacer.budget;
    const budget = [rpm && `${rpm} requests`, tpm && `${tpm} tokens`].filter(Boolean).join(" and ");
    return new ApiError(
      429,
      `every ${vendor} API key is at its budget of ${budget} a minute; waited ` +
        `${Math.round(waitedMs / 1000)}s in the proxy's queue; retry in ${seconds}s`,
      { code: "rate_limit_exceeded", headers: { "retry-after": String(seconds) } },
    );
  }
}
