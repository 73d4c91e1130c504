/**
 * Timers tied to an `AbortSignal`. Every timer here is cleared on every path, so a client that
 * hangs up leaves nothing running (and Deno's test sanitizers stay quiet).
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
  /** Clears the timer and detaches from the parent; call in `finally`. */
  dispose(): void;
}

/**
 * @example
 * ```ts
 * const d = deadline(request.signal, 5_000);
 * try { await fetch(url, { signal: d.signal }); } finally { d.dispose(); }
 * ```
 */
export function deadline(parent: AbortSignal, ms: number): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onParentAbort = () => controller.abort(parent.reason);
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException("deadline exceeded", "TimeoutError"));
  }, Math.max(0, ms));
  if (parent.aborted) onParentAbort();
  else parent.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => expired,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParentAbort);
    },
  };
}
