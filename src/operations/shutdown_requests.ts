/**
 * When the proxy is asked to stop: SIGTERM or SIGINT (SIGINT or SIGBREAK on Windows), or its parent
 * process going away. Wrappers make both messy. Under `npx deno task dev`, one Ctrl-C reaches the
 * proxy twice, from the terminal and forwarded by `deno task`, a millisecond apart; and a wrapper
 * that dies without passing its signal on leaves the proxy serving with no one to stop it. So
 * signals that follow the last one within {@link DUPLICATE_SIGNAL_MS} count as that one, and a
 * change of parent (the parent died, the proxy was handed to init) counts as a request to stop.
 *
 * @module
 */

/** Signals this close to the one before are the same request, delivered twice by a wrapper. */
export const DUPLICATE_SIGNAL_MS = 1_000;

/** How often the parent process is looked at. */
export const PARENT_POLL_MS = 1_000;

/** What the watcher may observe; tests give their own. */
export interface ShutdownWatchOptions {
  signals?: readonly Deno.Signal[];
  now?: () => number;
  /** The parent's pid, now. */
  ppid?: () => number;
  pollMs?: number;
  addSignalListener?: (signal: Deno.Signal, handler: () => void) => void;
  removeSignalListener?: (signal: Deno.Signal, handler: () => void) => void;
}

/** The signals a shutdown listens to on this platform: Windows delivers only SIGINT and SIGBREAK. */
export const SHUTDOWN_SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGTERM", "SIGINT"];

/**
 * Calls `onRequest` with a reason (`SIGTERM`, `parent process 123 exited`) once per request to
 * stop: the first signal, each later signal that comes more than {@link DUPLICATE_SIGNAL_MS} after
 * the one before, and the parent going away. Returns a function that stops watching.
 *
 * @example
 * ```ts
 * let asked = 0;
 * const stop = watchShutdownRequests((reason) => {
 *   if (asked++ === 0) console.log(`${reason}: draining`);
 *   else console.log(`${reason}: ending what is left`);
 * });
 * stop();
 * ```
 */
export function watchShutdownRequests(
  onRequest: (reason: string) => void,
  options: ShutdownWatchOptions = {},
): () => void {
  const now = options.now ?? Date.now;
  const ppid = options.ppid ?? (() => Deno.ppid);
  const add = options.addSignalListener ?? Deno.addSignalListener;
  const remove = options.removeSignalListener ?? Deno.removeSignalListener;
  let lastSignal = -Infinity;
  const handlers = (options.signals ?? SHUTDOWN_SIGNALS).map((signal) => {
    const handler = () => {
      const at = now();
      const duplicate = at - lastSignal <= DUPLICATE_SIGNAL_MS;
      lastSignal = at;
      if (!duplicate) onRequest(signal);
    };
    add(signal, handler);
    return { signal, handler };
  });

  const parent = ppid();
  // A process started by init (or as a container's PID 1) has no parent to outlive.
  const watchParent = parent > 1;
  const timer = watchParent
    ? setInterval(() => {
      if (ppid() === parent) return;
      clearInterval(timer);
      onRequest(`parent process ${parent} exited`);
    }, options.pollMs ?? PARENT_POLL_MS)
    : undefined;
  // The poll must not be what keeps the process alive.
  if (timer !== undefined) Deno.unrefTimer(timer);

  return () => {
    clearInterval(timer);
    for (const { signal, handler } of handlers) remove(signal, handler);
  };
}
