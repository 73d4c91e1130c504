/**
 * Timers and subscriptions tied to an `AbortSignal`. A client that hangs up leaves nothing running
 * on its behalf: sleeps clear their timer on every path, and a disposed deadline leaves its shared
 * timer with nothing to do (that timer is unreferenced, so it keeps neither the process nor a test
 * alive).
 *
 * @module
 */

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A signal that aborts with its parent or when its time is up. */
export interface Deadline {
  signal: AbortSignal;
  /** True when the time ran out (as opposed to the parent aborting). */
  timedOut(): boolean;
  /** Cancels the deadline and detaches from the parent; call in `finally`. */
  dispose(): void;
}

/**
 * Something due at a bucket's moment. The entries of long-lived sets are objects like this, not
 * closures: a closure made inside a request's handling keeps every variable of its scope alive,
 * and measured under load that doubled what survived the young generation (more GC, more RSS).
 */
export interface Due {
  fire(): void;
}

/** Deadlines due at one moment, and the one timer that fires them. */
interface Bucket {
  entries: Set<Due>;
  timer: ReturnType<typeof setTimeout>;
}

/** Pending buckets by the moment (ms on the `performance.now()` clock) they fire. */
const buckets = new Map<number, Bucket>();

/**
 * Puts `due` in the bucket of everything due `ms` from now, rounded up to a power-of-two
 * granularity of about 1% of `ms` (at least 8 ms): concurrent requests with the same timeout land
 * in the same bucket, and one timer per bucket serves them all. A request thus costs a set entry,
 * not a timer of its own. A bucket's timer holds the process open only while it has entries; once
 * they are all withdrawn it is unreferenced and left to fire into an empty set (there are at most
 * about a hundred such timers per distinct timeout).
 */
function schedule(due: Due, ms: number): Bucket {
  const now = performance.now();
  const granularity = 2 ** Math.max(3, Math.floor(Math.log2(ms / 100)));
  const at = Math.ceil((now + ms) / granularity) * granularity;
  let bucket = buckets.get(at);
  if (bucket === undefined) {
    const entries = new Set<Due>();
    const timer = setTimeout(() => {
      buckets.delete(at);
      for (const entry of entries) entry.fire();
    }, at - now);
    bucket = { entries, timer };
    buckets.set(at, bucket);
  } else if (bucket.entries.size === 0) {
    bucket.timer.ref();
  }
  bucket.entries.add(due);
  return bucket;
}

/** Takes `due` out of its bucket, letting the bucket's timer go once nothing is left in it. */
function withdraw(due: Due, bucket: Bucket): void {
  if (bucket.entries.delete(due) && bucket.entries.size === 0) bucket.timer.unref();
}

/**
 * Calls `due.fire()` once `ms` have passed, unless the returned function is called first; like
 * deadlines, it shares a timer with everything due at the same moment (it may run up to 1% or
 * 8 ms late, see {@link schedule}), so arming and cancelling it cost a set entry, not a timer.
 *
 * @example
 * ```ts
 * const cancel = later(50, { fire: () => console.log("still waiting") });
 * await work();
 * cancel();
 * ```
 */
export function later(ms: number, due: Due): () => void {
  const bucket = schedule(due, Math.max(0, ms));
  return () => withdraw(due, bucket);
}

/** A {@link Deadline}: due in its bucket, and the listener of its parent's abort. */
class AttemptDeadline implements Deadline, Due {
  readonly #controller = new AbortController();
  readonly #bucket: Bucket;
  #expired = false;

  constructor(readonly parent: AbortSignal, ms: number) {
    this.#bucket = schedule(this, Math.max(0, ms));
    if (parent.aborted) this.handleEvent();
    else parent.addEventListener("abort", this, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  timedOut(): boolean {
    return this.#expired;
  }

  fire(): void {
    this.#expired = true;
    this.#controller.abort(new DOMException("deadline exceeded", "TimeoutError"));
  }

  /** The parent aborted. */
  handleEvent(): void {
    this.#controller.abort(this.parent.reason);
  }

  dispose(): void {
    withdraw(this, this.#bucket);
    this.parent.removeEventListener("abort", this);
  }
}

/**
 * A signal that aborts with its parent or once `ms` have passed (up to 1% or 8 ms later: deadlines
 * share timers, see {@link schedule}).
 *
 * @example
 * ```ts
 * const d = deadline(request.signal, 5_000);
 * try { await fetch(url, { signal: d.signal }); } finally { d.dispose(); }
 * ```
 */
export function deadline(parent: AbortSignal, ms: number): Deadline {
  return new AttemptDeadline(parent, ms);
}

/** The controllers each shared signal aborts, with the reason of each, behind one listener. */
const subscribers = new WeakMap<AbortSignal, Map<AbortController, () => unknown>>();

/**
 * Aborts `controller` with `reason()` when `signal` aborts (at once if it has), until the returned
 * function is called. For a signal shared by every request, such as a shutdown's drain deadline:
 * subscribing and leaving cost the same however many requests are in flight, where
 * `addEventListener` and `removeEventListener` scan all the signal's listeners each time.
 *
 * @example
 * ```ts
 * const leave = whenAborted(drainDeadline, upstream, () => new Error("shutting down"));
 * try { await work(upstream.signal); } finally { leave(); }
 * ```
 */
export function whenAborted(
  signal: AbortSignal,
  controller: AbortController,
  reason: () => unknown,
): () => void {
  if (signal.aborted) {
    controller.abort(reason());
    return () => {};
  }
  let map = subscribers.get(signal);
  if (map === undefined) {
    const all = map = new Map();
    subscribers.set(signal, all);
    signal.addEventListener("abort", () => {
      for (const [c, why] of all) c.abort(why());
      all.clear();
    }, { once: true });
  }
  map.set(controller, reason);
  return () => void map.delete(controller);
}
