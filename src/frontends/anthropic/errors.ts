/**
 * Errors in Anthropic's shape, `{"type":"error","error":{"type","message"}}`, with the status and
 * error type Anthropic uses for each case. An upstream that is down or failing is Anthropic's
 * `529 overloaded_error`, which the SDKs and Claude Code retry with backoff.
 *
 * @module
 */

import { type ApiError, jsonResponse } from "../../canonical/errors.ts";
import { dataEvent } from "../../streams/sse.ts";

/** The body of an Anthropic error response and of an `error` stream event. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

/** Anthropic's overloaded status: no HTTP meaning, but every Anthropic client knows it. */
export const OVERLOADED = 529;

/**
 * 5xx codes a retry cannot fix (the operator's configuration, or an answer the upstream will
 * give again): they stay `api_error` with their own status rather than "overloaded".
 */
const NOT_TRANSIENT = new Set([
  "no_api_key",
  "upstream_keys_rejected",
  "upstream_response_too_large",
  "internal_error",
]);

/** Anthropic's error type for each status it documents. */
const TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  504: "timeout_error",
  [OVERLOADED]: "overloaded_error",
};

/**
 * The status and body Anthropic would answer `error` with.
 *
 * @example
 * ```ts
 * anthropicError(new ApiError(502, "InternLM upstream error (500): boom"));
 * // { status: 529, body: { type: "error", error: { type: "overloaded_error", message: "…" } } }
 * ```
 */
export function anthropicError(error: ApiError): { status: number; body: AnthropicErrorBody } {
  let status = error.status;
  if ((status === 502 || status === 503) && !NOT_TRANSIENT.has(error.code ?? "")) {
    status = OVERLOADED;
  }
  const type = TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return { status, body: { type: "error", error: { type, message: error.message } } };
}

/**
 * A complete error response, with the error's headers (`retry-after` on a 429).
 *
 * @example
 * ```ts
 * anthropicErrorResponse(new ApiError(400, "messages: required")).status; // 400
 * ```
 */
export function anthropicErrorResponse(error: ApiError): Response {
  const { status, body } = anthropicError(error);
  return jsonResponse(body, status, error.headers);
}

/**
 * The `event: error` of a stream that already started.
 *
 * @example
 * ```ts
 * anthropicErrorEvent(error); // 'event: error\ndata: {"type":"error","error":{…}}\n\n'
 * ```
 */
export function anthropicErrorEvent(error: ApiError): string {
  return dataEvent(anthropicError(error).body, "error");
}
