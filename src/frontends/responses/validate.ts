/**
 * Checks a Responses API request body: the top-level fields the proxy reads, with the types it
 * relies on. Items are checked as they are translated (`to_chat.ts`), rule by rule; fields a chat
 * upstream cannot use (`include`, `prompt_cache_key`, `service_tier`, `truncation`, …) are
 * accepted and ignored.
 *
 * @module
 */

import { ApiError, isRecord } from "../../canonical/errors.ts";
import type { JsonObject } from "./types.ts";

/** A validated request; `input` is always a list of items (a string becomes one user message). */
export interface ResponsesRequest {
  model?: string;
  input: JsonObject[];
  instructions?: string | JsonObject[];
  stream: boolean;
  store: boolean;
  previous_response_id?: string;
  tools: JsonObject[];
  tool_choice?: string | JsonObject;
  parallel_tool_calls?: boolean;
  max_output_tokens?: number;
  temperature?: number;
  top_p?: number;
  reasoning?: { effort?: string | null; summary?: string | null };
  text?: { format?: JsonObject; [field: string]: unknown };
  metadata?: JsonObject;
  user?: string;
}

type Check = (v: unknown) => boolean;
const isString: Check = (v) => typeof v === "string";
const isNumber: Check = (v) => typeof v === "number" && Number.isFinite(v);
const isBool: Check = (v) => typeof v === "boolean";

/** Optional fields: `null` means absent (the SDKs send it), anything else must pass the check. */
const FIELD_TYPES: Record<string, [Check, string]> = {
  model: [(v) => isString(v) && (v as string).trim() !== "", "a non-empty string"],
  instructions: [(v) => isString(v) || Array.isArray(v), "a string or a list of items"],
  stream: [isBool, "a boolean"],
  store: [isBool, "a boolean"],
  previous_response_id: [(v) => isString(v) && v !== "", "a non-empty string"],
  tools: [Array.isArray, "an array"],
  tool_choice: [(v) => isString(v) || isRecord(v), "a string or an object"],
  parallel_tool_calls: [isBool, "a boolean"],
  max_output_tokens: [(v) => Number.isInteger(v) && (v as number) >= 1, "a positive integer"],
  temperature: [(v) => isNumber(v) && (v as number) >= 0 && (v as number) <= 2, "from 0 to 2"],
  top_p: [(v) => isNumber(v) && (v as number) >= 0 && (v as number) <= 1, "from 0 to 1"],
  reasoning: [isRecord, "an object"],
  text: [isRecord, "an object"],
  metadata: [isRecord, "an object"],
  user: [isString, "a string"],
};

const FIELD_CHECKS = Object.entries(FIELD_TYPES).map(([field, [check, what]]) =>
  [field, check, what] as const
);

const REASONING_EFFORTS = new Set(["none", "minimal", "low", "medium", "high", "xhigh"]);
const SUMMARIES = new Set(["auto", "concise", "detailed", "none"]);
const TEXT_FORMATS = new Set(["text", "json_object", "json_schema"]);

/**
 * The parsed body as a {@link ResponsesRequest}, or a 400 naming the field. `model` may be absent
 * only when the operator forces one.
 *
 * @example
 * ```ts
 * validateResponsesRequest({ model: "internlm/x", input: "Hi" }, false).input;
 * // [{ type: "message", role: "user", content: "Hi" }]
 * ```
 */
export function validateResponsesRequest(body: unknown, modelOptional: boolean): ResponsesRequest {
  if (!isRecord(body)) throw invalid("request body must be a JSON object", null);
  for (const [field, check, what] of FIELD_CHECKS) {
    const v = body[field];
    if (v !== undefined && v !== null && !check(v)) {
      throw invalid(`${field} must be ${what}`, field);
    }
  }
  if (body.model == null && !modelOptional) throw invalid("model is required", "model");
  const input = body.input;
  let items: JsonObject[];
  if (typeof input === "string") {
    items = [{ type: "message", role: "user", content: input }];
  } else if (Array.isArray(input)) {
    input.forEach((item, i) => {
      if (!isRecord(item)) throw invalid(`input[${i}] must be an object`, `input[${i}]`);
      if (item.type !== undefined && typeof item.type !== "string") {
        throw invalid(`input[${i}].type must be a string`, `input[${i}].type`);
      }
    });
    items = input as JsonObject[];
  } else if (input == null && typeof body.previous_response_id === "string") {
    items = [];
  } else {
    throw invalid("input must be a string or a list of items", "input");
  }
  (body.tools as unknown[] | undefined ?? []).forEach((tool, i) => {
    if (!isRecord(tool) || typeof tool.type !== "string") {
      throw invalid(`tools[${i}] must be an object with a type`, `tools[${i}]`);
    }
  });
  checkReasoning(body.reasoning);
  checkText(body.text);
  return {
    ...(withoutNulls(body) as Omit<ResponsesRequest, "input" | "stream" | "store" | "tools">),
    input: items,
    stream: body.stream === true,
    store: body.store !== false,
    tools: (body.tools ?? []) as JsonObject[],
  };
}

function checkReasoning(reasoning: unknown): void {
  if (!isRecord(reasoning)) return;
  const { effort, summary } = reasoning;
  if (effort != null && !(typeof effort === "string" && REASONING_EFFORTS.has(effort))) {
    throw invalid(
      `reasoning.effort must be one of: ${[...REASONING_EFFORTS].join(", ")}`,
      "reasoning.effort",
    );
  }
  if (summary != null && !(typeof summary === "string" && SUMMARIES.has(summary))) {
    throw invalid(
      `reasoning.summary must be one of: ${[...SUMMARIES].join(", ")}`,
      "reasoning.summary",
    );
  }
}

function checkText(text: unknown): void {
  if (!isRecord(text) || text.format == null) return;
  const format = text.format;
  if (!isRecord(format) || typeof format.type !== "string" || !TEXT_FORMATS.has(format.type)) {
    throw invalid(
      `text.format.type must be one of: ${[...TEXT_FORMATS].join(", ")}`,
      "text.format.type",
    );
  }
  if (format.type === "json_schema") {
    if (typeof format.name !== "string" || format.name === "") {
      throw invalid("text.format.name is required for json_schema", "text.format.name");
    }
    if (!isRecord(format.schema)) {
      throw invalid("text.format.schema must be an object", "text.format.schema");
    }
  }
}

function withoutNulls(body: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(body)) if (value !== null) out[key] = value;
  return out;
}

/**
 * A 400 in OpenAI's shape naming `param`.
 *
 * @example
 * ```ts
 * throw invalid("input must be a string or a list of items", "input");
 * ```
 */
export function invalid(message: string, param: string | null): ApiError {
  return new ApiError(400, message, { param, code: "invalid_request" });
}
