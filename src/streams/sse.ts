/**
 * Server-sent events framing for OpenAI-style streams. Encoders and fixed frames are made once.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Response headers of every event stream; `x-accel-buffering` stops nginx from holding it. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** The closing frame OpenAI clients wait for. */
export const DONE_FRAME: Uint8Array = encoder.encode("data: [DONE]\n\n");

/** A comment frame: ignored by clients, keeps proxies and idle timers from closing the stream. */
export const KEEP_ALIVE_FRAME: Uint8Array = encoder.encode(": keep-alive\n\n");

/**
 * A comment frame with `text` after the colon, as an upstream sent it. `text` must hold no line
 * break (the SSE parser never yields one).
 *
 * @example
 * ```ts
 * commentFrame(" ping"); // bytes of ': ping\n\n'
 * ```
 */
export function commentFrame(text: string): Uint8Array {
  return encoder.encode(`:${text}\n\n`);
}

/**
 * One `data:` event carrying `value` as JSON. JSON never contains a raw newline, so a single
 * `data:` line is always a well-formed event.
 *
 * @example
 * ```ts
 * dataFrame({ ok: true }); // bytes of 'data: {"ok":true}\n\n'
 * ```
 */
export function dataFrame(value: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(value)}\n\n`);
}

/** Event-stream text (whole events, possibly several) as bytes for the wire, with the one encoder. */
export function encodeEvents(text: string): Uint8Array {
  return encoder.encode(text);
}
