/**
 * Server-sent events framing, as text: every dialect's stream writer builds its events with these.
 *
 * @module
 */

/** Response headers of every event stream; `x-accel-buffering` stops nginx from holding it. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** A comment event: ignored by SSE clients, keeps proxies and idle timers from closing the stream. */
export const KEEP_ALIVE_COMMENT = ": keep-alive\n\n";

/**
 * A comment event with `text` after the colon, as an upstream sent it. `text` must hold no line
 * break (the SSE parser never yields one).
 *
 * @example
 * ```ts
 * commentEvent(" ping"); // ': ping\n\n'
 * ```
 */
export function commentEvent(text: string): string {
  return `:${text}\n\n`;
}

/**
 * One event carrying `value` as JSON in a single `data:` line (JSON never contains a raw
 * newline), named `event` when given.
 *
 * @example
 * ```ts
 * dataEvent({ ok: true }); // 'data: {"ok":true}\n\n'
 * dataEvent({ type: "ping" }, "ping"); // 'event: ping\ndata: {"type":"ping"}\n\n'
 * ```
 */
export function dataEvent(value: unknown, event?: string): string {
  const data = `data: ${JSON.stringify(value)}\n\n`;
  return event === undefined ? data : `event: ${event}\n${data}`;
}
