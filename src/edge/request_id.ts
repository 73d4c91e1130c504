/**
 * Request ids: the `x-request-id` a caller sent, when it is safe to repeat in headers and log
 * lines, or a fresh one. Every response carries it back, so a client, the proxy's log and any
 * load balancer in front can be matched up.
 *
 * @module
 */

/** The header read from requests and set on every response. */
export const REQUEST_ID_HEADER = "x-request-id";

/** The longest incoming id kept; longer ones are replaced. */
export const MAX_REQUEST_ID_LENGTH = 128;

// Enough for UUIDs, ULIDs, hex and base64 ids; nothing that could break a log line or a header.
const SAFE_ID = /^[A-Za-z0-9._:+/=-]+$/;

/**
 * The id of a request: `incoming` when it is 1 to {@link MAX_REQUEST_ID_LENGTH} safe characters
 * (letters, digits and `. _ : + / = -`), otherwise a new random UUID.
 *
 * @example
 * ```ts
 * requestId(request.headers.get(REQUEST_ID_HEADER)); // "3f0c…" or the caller's own id
 * ```
 */
export function requestId(incoming: string | null): string {
  if (isValidRequestId(incoming)) return incoming;
  return crypto.randomUUID();
}

/** True when `id` may be used as a request id as it is. */
export function isValidRequestId(id: string | null): id is string {
  return id !== null && id.length > 0 && id.length <= MAX_REQUEST_ID_LENGTH && SAFE_ID.test(id);
}
