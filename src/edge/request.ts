/**
 * Reads and validates a chat completion request: the body size cap is enforced while reading (so
 * a huge body is never buffered), then JSON, nesting depth and the fields the proxy relies on.
 *
 * @module
 */

import { BodyTooLarge, readCappedBody, strictUtf8 } from "./body.ts";
import { ApiError, isRecord } from "../canonical/errors.ts";
import type { ChatRequest } from "../canonical/types.ts";

/** Bounds on what a client may send. */
export interface RequestLimits {
  maxBodyBytes: number;
  maxMessages: number;
  maxDepth: number;
}

/** Reads the request body as text, refusing with 413 once it passes `maxBytes`. */
export async function readBody(request: Request, maxBytes: number): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readCappedBody(request, maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw tooLarge(maxBytes);
    throw new ApiError(400, "could not read the request body", { code: "invalid_body" });
  }
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

type Check = (v: unknown) => boolean;
const isBool: Check = (v) => typeof v === "boolean";
const isString: Check = (v) => typeof v === "string";
const isNumber: Check = (v) => typeof v === "number" && Number.isFinite(v);
const isInteger: Check = (v) => Number.isInteger(v);
const isArray: Check = Array.isArray;

/** Optional top-level fields whose type the proxy (or every upstream) depends on. */
const FIELD_TYPES: Record<string, [Check, string]> = {
  stream: [isBool, "a boolean"],
  stream_options: [(v) => v === null || isRecord(v), "an object"],
  n: [
    (v) => isInteger(v) && (v as number) >= 1 && (v as number) <= 128,
    "an integer from 1 to 128",
  ],
  tools: [isArray, "an array"],
  thinking_mode: [isBool, "a boolean"],
  reasoning_effort: [(v) => v === null || isString(v), "a string"],
  temperature: [isNumber, "a number"],
  top_p: [isNumber, "a number"],
  max_tokens: [(v) => v === null || isInteger(v), "an integer"],
  max_completion_tokens: [(v) => v === null || isInteger(v), "an integer"],
  presence_penalty: [isNumber, "a number"],
  frequency_penalty: [isNumber, "a number"],
  seed: [(v) => v === null || isInteger(v), "an integer"],
  user: [isString, "a string"],
};

const FIELD_CHECKS = Object.entries(FIELD_TYPES).map(([field, [check, what]]) =>
  [field, check, what] as const
);

/**
 * Checks the parsed body is a chat request. `model` may be absent only when the operator forces
 * one, since then the client's choice is ignored anyway.
 */
export function validateChatRequest(
  body: unknown,
  limits: RequestLimits,
  modelOptional: boolean,
): ChatRequest {
  if (!isRecord(body)) throw invalid("request body must be a JSON object", null);
  if (body.model === undefined && !modelOptional) throw invalid("model is required", "model");
  if (body.model !== undefined && (typeof body.model !== "string" || body.model.trim() === "")) {
    throw invalid("model must be a non-empty string", "model");
  }
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid("messages must be a non-empty array", "messages");
  }
  if (messages.length > limits.maxMessages) {
    throw invalid(`messages has more than the limit of ${limits.maxMessages} entries`, "messages");
  }
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isRecord(m)) throw invalid(`messages[${i}] must be an object`, `messages[${i}]`);
    if (typeof m.role !== "string" || m.role === "") {
      throw invalid(`messages[${i}].role must be a non-empty string`, `messages[${i}].role`);
    }
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== "string" && !Array.isArray(c)) {
      throw invalid(
        `messages[${i}].content must be a string, an array of parts or null`,
        `messages[${i}].content`,
      );
    }
  }
  for (const [field, check, what] of FIELD_CHECKS) {
    if (body[field] !== undefined && !check(body[field])) {
      throw invalid(`${field} must be ${what}`, field);
    }
  }
  const opts = body.stream_options;
  if (
    isRecord(opts) && opts.include_usage !== undefined && typeof opts.include_usage !== "boolean"
  ) {
    throw invalid("stream_options.include_usage must be a boolean", "stream_options.include_usage");
  }
  return body as ChatRequest;
}

function invalid(message: string, param: string | null): ApiError {
  return new ApiError(400, message, { param, code: "invalid_request" });
}
