/**
 * Reads a request's JSON body for any front end: the body size cap is enforced while reading (so
 * a huge body is never buffered), then UTF-8, JSON and nesting depth.
 *
 * @module
 */

import { BodyTooLarge, readCappedBody, strictUtf8 } from "./body.ts";
import { ApiError } from "../canonical/errors.ts";

/** Bounds on what a client may send. */
export interface RequestLimits {
  maxBodyBytes: number;
  maxMessages: number;
  maxDepth: number;
}

/** The request body as text; not UTF-8 is a 400. */
function bodyText(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ApiError(400, "request body is not valid UTF-8", { code: "invalid_body" });
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, `request body is larger than the limit of ${maxBytes} bytes`, {
    code: "request_too_large",
  });
}

/** Parses JSON, refusing nesting deeper than `maxDepth` (deep nesting is a stack-exhaustion lever). */
export function parseJson(text: string, maxDepth: number): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, "request body is not valid JSON", { code: "invalid_json" });
  }
  if (depthOf(value, maxDepth) > maxDepth) {
    throw new ApiError(400, `request JSON is nested deeper than ${maxDepth} levels`, {
      code: "invalid_json",
    });
  }
  return value;
}

// The walk's work list, reused by every call (a call never yields), so checking allocates nothing.
const pending: unknown[] = [];
const pendingDepths: number[] = [];

function visit(value: unknown, depth: number): void {
  if (typeof value === "object" && value !== null) {
    pending.push(value);
    pendingDepths.push(depth);
  }
}

/** Nesting depth of a parsed JSON value, counted without recursion and stopping past `limit`. */
function depthOf(root: unknown, limit: number): number {
  let max = 0;
  visit(root, 1);
  try {
    while (pending.length > 0) {
      const value = pending.pop() as object;
      const depth = pendingDepths.pop()!;
      if (depth > max && (max = depth) > limit) return max;
      if (Array.isArray(value)) {
        for (const child of value) visit(child, depth + 1);
      } else {
        for (const key in value) visit((value as Record<string, unknown>)[key], depth + 1);
      }
    }
    return max;
  } finally {
    pending.length = 0;
    pendingDepths.length = 0;
  }
}

/**
 * The parsed JSON body of `request`, within `limits`; every failure is an `ApiError` (413 or 400).
 *
 * @example
 * ```ts
 * const body = await readJson(request, config.limits);
 * ```
 */
export async function readJson(request: Request, limits: RequestLimits): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readCappedBody(request, limits.maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw tooLarge(limits.maxBodyBytes);
    throw new ApiError(400, "could not read the request body", { code: "invalid_body" });
  }
  return parseJson(bodyText(bytes), limits.maxDepth);
}
