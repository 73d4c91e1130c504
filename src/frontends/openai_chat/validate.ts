/**
 * Checks an OpenAI chat-completion request body: the fields the proxy (or every upstream) relies
 * on; everything else passes through untouched.
 *
 * @module
 */

import { ApiError, isRecord } from "../../canonical/errors.ts";
import type { ChatRequest } from "../../canonical/types.ts";
import type { RequestLimits } from "../../edge/request.ts";

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
