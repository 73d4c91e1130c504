/**
 * Errors in Google's shape, `{"error":{"code","message","status"}}`, the status being the gRPC
 * name Google's HTTP mapping gives the HTTP status. A rate limit also carries a `RetryInfo`
 * detail, which Gemini CLI reads to wait and retry instead of giving up.
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { GeminiErrorBody } from "./types.ts";

/** gRPC status names by HTTP status; any other 4xx is `INVALID_ARGUMENT`, 5xx `INTERNAL`. */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  405: "UNIMPLEMENTED",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";

/**
 * The gRPC status name for an HTTP status.
 *
 * @example
 * ```ts
 * grpcStatus(429); // "RESOURCE_EXHAUSTED"
 * ```
 */
export function grpcStatus(status: number): string {
  return STATUS_NAMES[status] ?? (status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT");
}

/**
 * The body for `error`; a `retry-after` header becomes a `RetryInfo` detail too.
 *
 * @example
 * ```ts
 * geminiErrorBody(new ApiError(404, "no such model")).error.status; // "NOT_FOUND"
 * ```
 */
export function geminiErrorBody(error: ApiError): GeminiErrorBody {
  const body: GeminiErrorBody = {
    error: { code: error.status, message: error.message, status: grpcStatus(error.status) },
  };
  const retryAfter = Number(error.headers["retry-after"]);
  if (error.headers["retry-after"] !== undefined && Number.isFinite(retryAfter)) {
    body.error.details = [{ "@type": RETRY_INFO, retryDelay: `${retryAfter}s` }];
  }
  return body;
}

/**
 * A whole error response: the body, the status and the error's headers (`retry-after`, …).
 *
 * @example
 * ```ts
 * geminiErrorResponse(new ApiError(429, "slow down", { headers: { "retry-after": "3" } }));
 * ```
 */
export function geminiErrorResponse(error: ApiError): Response {
  return jsonResponse(geminiErrorBody(error), error.status, error.headers);
}

/**
 * A 400 `INVALID_ARGUMENT` about the request's field at `path`.
 *
 * @example
 * ```ts
 * throw invalidArgument("contents[0].parts", "must be an array");
 * ```
 */
export function invalidArgument(path: string, problem: string): ApiError {
  return new ApiError(400, `Invalid value at '${path}': ${problem}`, {
    param: path,
    code: "invalid_argument",
  });
}
