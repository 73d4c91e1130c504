/**
 * Checks an Anthropic Messages request body before it is translated: every field the translation
 * reads has the type Anthropic documents, or the client gets a 400 `invalid_request_error`
 * naming the field. Fields it does not read (and block or tool types it leaves out) are not
 * checked: Claude Code sends new ones with every release.
 *
 * @module
 */

import { ApiError, isRecord } from "../../canonical/errors.ts";
import type { RequestLimits } from "../../edge/request.ts";

/** A content block as the translation reads it; `type` is checked, the rest per type. */
export interface Block {
  type: string;
  [field: string]: unknown;
}

/** One entry of `messages`. */
export interface AnthropicMessage {
  role: "user" | "assistant" | "system";
  content: string | Block[];
}

/** A validated Messages (or count_tokens) request. */
export interface MessagesRequest {
  model?: string;
  messages: AnthropicMessage[];
  system?: string | Block[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  stream?: boolean;
  metadata?: { user_id?: string | null };
  tools?: Record<string, unknown>[];
  tool_choice?: { type: string; name?: string; disable_parallel_tool_use?: boolean };
  thinking?: { type: string; budget_tokens?: number };
  [field: string]: unknown;
}

type Check = (v: unknown) => boolean;
const isString: Check = (v) => typeof v === "string";
const isNumber: Check = (v) => typeof v === "number" && Number.isFinite(v);
const isObject: Check = isRecord;
const isStringArray: Check = (v) => Array.isArray(v) && v.every(isString);
const optional = (check: Check): Check => (v) => v === undefined || check(v);
const nullable = (check: Check): Check => (v) => v === undefined || v === null || check(v);
const oneOf = (...values: string[]): Check => (v) => values.includes(v as string);

/** Top-level fields: [check, what the field must be]. */
const FIELDS: Record<string, [Check, string]> = {
  max_tokens: [(v) => Number.isInteger(v) && (v as number) >= 1, "an integer ≥ 1"],
  temperature: [isNumber, "a number"],
  top_p: [isNumber, "a number"],
  top_k: [(v) => Number.isInteger(v) && (v as number) >= 0, "an integer ≥ 0"],
  stop_sequences: [isStringArray, "an array of strings"],
  stream: [(v) => typeof v === "boolean", "a boolean"],
  metadata: [(v) => isRecord(v) && nullable(isString)(v.user_id), "an object"],
  tools: [(v) => Array.isArray(v), "an array"],
  tool_choice: [isObject, "an object"],
  thinking: [isObject, "an object"],
};
const FIELD_CHECKS = Object.entries(FIELDS);

/** Per block type, the fields the translation reads: [field, check, what]. */
const BLOCK_FIELDS: Record<string, [string, Check, string][]> = {
  text: [["text", isString, "a string"]],
  image: [["source", isObject, "an object"]],
  document: [["source", isObject, "an object"]],
  tool_use: [
    ["id", isString, "a string"],
    ["name", isString, "a string"],
    ["input", isObject, "an object"],
  ],
  tool_result: [
    ["tool_use_id", isString, "a string"],
    ["content", (v) => v === undefined || isString(v) || Array.isArray(v), "a string or blocks"],
    ["is_error", optional((v) => typeof v === "boolean"), "a boolean"],
  ],
  thinking: [["thinking", isString, "a string"]],
  redacted_thinking: [["data", isString, "a string"]],
};

/** Per image source type, its fields. */
const SOURCE_FIELDS: Record<string, [string, Check, string][]> = {
  base64: [["media_type", isString, "a string"], ["data", isString, "a string"]],
  url: [["url", isString, "a string"]],
};

/**
 * The parsed `body` as a {@link MessagesRequest}, or a 400 in Anthropic's terms. `model` may be
 * absent when the operator forces one; `messages` may be as long as the proxy's limit.
 *
 * @example
 * ```ts
 * const request = validateMessagesRequest(await readJson(req, limits), limits, false);
 * ```
 */
export function validateMessagesRequest(
  body: unknown,
  limits: RequestLimits,
  modelOptional: boolean,
): MessagesRequest {
  if (!isRecord(body)) throw invalid("the request body must be a JSON object");
  if (body.model === undefined ? !modelOptional : !isString(body.model) || body.model === "") {
    throw invalid("model: a non-empty string is required");
  }
  const { messages } = body;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid("messages: a non-empty array is required");
  }
  if (messages.length > limits.maxMessages) {
    throw invalid(`messages: more than the limit of ${limits.maxMessages} entries`);
  }
  messages.forEach((m, i) => checkMessage(m, `messages.${i}`));
  checkSystem(body.system);
  for (const [field, [check, what]] of FIELD_CHECKS) {
    if (body[field] !== undefined && !check(body[field])) {
      throw invalid(`${field}: must be ${what}`);
    }
  }
  if (Array.isArray(body.tools)) body.tools.forEach((t, i) => checkTool(t, `tools.${i}`));
  if (isRecord(body.tool_choice)) checkToolChoice(body.tool_choice);
  if (isRecord(body.thinking)) checkThinking(body.thinking);
  return body as MessagesRequest;
}

function checkMessage(m: unknown, at: string): void {
  if (!isRecord(m)) throw invalid(`${at}: must be an object`);
  if (!oneOf("user", "assistant", "system")(m.role)) {
    throw invalid(`${at}.role: must be "user" or "assistant"`);
  }
  checkContent(m.content, `${at}.content`);
}

function checkContent(content: unknown, at: string): void {
  if (isString(content)) return;
  if (!Array.isArray(content)) throw invalid(`${at}: must be a string or an array of blocks`);
  content.forEach((block, i) => checkBlock(block, `${at}.${i}`));
}

function checkBlock(block: unknown, at: string): void {
  if (!isRecord(block) || !isString(block.type)) {
    throw invalid(`${at}: must be a content block (an object with a string type)`);
  }
  for (const [field, check, what] of BLOCK_FIELDS[block.type as string] ?? []) {
    if (!check(block[field])) throw invalid(`${at}.${field}: must be ${what}`);
  }
  if (block.type === "image") checkSource(block.source as Record<string, unknown>, `${at}.source`);
  if (block.type === "tool_result" && Array.isArray(block.content)) {
    block.content.forEach((inner, i) => checkBlock(inner, `${at}.content.${i}`));
  }
}

function checkSource(source: Record<string, unknown>, at: string): void {
  const fields = SOURCE_FIELDS[source.type as string];
  if (!fields) throw invalid(`${at}.type: must be "base64" or "url"`);
  for (const [field, check, what] of fields) {
    if (!check(source[field])) throw invalid(`${at}.${field}: must be ${what}`);
  }
}

function checkSystem(system: unknown): void {
  if (system === undefined || isString(system)) return;
  if (!Array.isArray(system)) throw invalid("system: must be a string or an array of text blocks");
  system.forEach((block, i) => checkBlock(block, `system.${i}`));
}

function checkTool(tool: unknown, at: string): void {
  if (!isRecord(tool)) throw invalid(`${at}: must be an object`);
  if (!isString(tool.name)) throw invalid(`${at}.name: must be a string`);
  // Anthropic-defined tools (`bash_20250124`, `web_search_…`) carry no schema of their own.
  if (tool.type !== undefined && tool.type !== "custom") return;
  if (!isRecord(tool.input_schema)) throw invalid(`${at}.input_schema: must be an object`);
  if (!optional(isString)(tool.description)) throw invalid(`${at}.description: must be a string`);
}

function checkToolChoice(choice: Record<string, unknown>): void {
  if (!oneOf("auto", "any", "tool", "none")(choice.type)) {
    throw invalid('tool_choice.type: must be "auto", "any", "tool" or "none"');
  }
  if (choice.type === "tool" && !isString(choice.name)) {
    throw invalid("tool_choice.name: a string is required when type is tool");
  }
  if (!optional((v) => typeof v === "boolean")(choice.disable_parallel_tool_use)) {
    throw invalid("tool_choice.disable_parallel_tool_use: must be a boolean");
  }
}

function checkThinking(thinking: Record<string, unknown>): void {
  if (!oneOf("enabled", "disabled", "adaptive")(thinking.type)) {
    throw invalid('thinking.type: must be "enabled", "disabled" or "adaptive"');
  }
  if (!optional(Number.isInteger as Check)(thinking.budget_tokens)) {
    throw invalid("thinking.budget_tokens: must be an integer");
  }
}

/**
 * A 400 `invalid_request_error`; the message leads with the field, as Anthropic's do.
 *
 * @example
 * ```ts
 * throw invalid("max_tokens: must be an integer ≥ 1");
 * ```
 */
export function invalid(message: string): ApiError {
  return new ApiError(400, message, { type: "invalid_request_error", code: "invalid_request" });
}
