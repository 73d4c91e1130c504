/**
 * A Gemini `GenerateContentRequest` as a canonical chat request: the conversation (see
 * `contents.ts`), the function declarations and tool config, and the generation config.
 * Built-in tools the proxy has no counterpart for (`googleSearch`, `codeExecution`,
 * `urlContext`, …) and `safetySettings` are left out rather than refused, the way a model
 * without them would answer anyway.
 *
 * @module
 */

import { ApiError } from "../../canonical/errors.ts";
import type { ChatRequest } from "../../canonical/types.ts";
import type { Logger } from "../../operations/log.ts";
import { toMessages } from "./contents.ts";
import { invalidArgument } from "./errors.ts";
import {
  at,
  field,
  objectAt,
  optionalArray,
  optionalBoolean,
  optionalNumber,
  optionalObject,
  optionalString,
  requiredString,
} from "./fields.ts";
import { toJsonSchema } from "./schema.ts";

type Json = Record<string, unknown>;

/** A Gemini request, translated. */
export interface GeminiChat {
  chat: ChatRequest;
  /** Reasoning goes back as thought parts (`thinkingConfig.includeThoughts`). */
  includeThoughts: boolean;
}

/**
 * Translates `body`, the JSON of a `generateContent` call for `model` (the path's model id).
 *
 * @example
 * ```ts
 * const { chat } = toChatRequest({ contents: [{ role: "user", parts: [{ text: "Hi" }] }] },
 *   "gemini-2.5-flash", log);
 * chat.messages; // [{ role: "user", content: "Hi" }]
 * ```
 */
export function toChatRequest(body: unknown, model: string, log: Logger): GeminiChat {
  const request = objectAt(body, "GenerateContentRequest");
  if (field(request, "cachedContent") !== undefined) {
    throw invalidArgument("cachedContent", "cached contents are not supported by this proxy");
  }
  const chat: ChatRequest = {
    model,
    messages: toMessages(field(request, "contents"), field(request, "systemInstruction")),
  };
  const tools = functionTools(optionalArray(request, "tools", ""), log);
  const config = optionalObject(request, "toolConfig", "");
  applyToolConfig(
    chat,
    tools,
    config && optionalObject(config, "functionCallingConfig", "toolConfig"),
  );
  const generation = optionalObject(request, "generationConfig", "") ?? {};
  applyGenerationConfig(chat, generation);
  const thinking = optionalObject(generation, "thinkingConfig", "generationConfig");
  const includeThoughts = thinking ? applyThinking(chat, thinking) : false;
  return { chat, includeThoughts };
}

/** The function declarations of every tool, as chat tools; built-in tools are left out. */
function functionTools(tools: unknown[] | undefined, log: Logger): Json[] {
  const out: Json[] = [];
  const skipped = new Set<string>();
  for (const [i, value] of (tools ?? []).entries()) {
    const path = `tools[${i}]`;
    const tool = objectAt(value, path);
    for (const key of Object.keys(tool)) {
      if (key !== "functionDeclarations" && key !== "function_declarations") skipped.add(key);
    }
    for (const [j, decl] of (optionalArray(tool, "functionDeclarations", path) ?? []).entries()) {
      out.push(
        functionTool(
          objectAt(decl, `${path}.functionDeclarations[${j}]`),
          `${path}.functionDeclarations[${j}]`,
        ),
      );
    }
  }
  if (skipped.size > 0) {
    log.debug(
      `gemini: built-in tools left out (no counterpart upstream): ${[...skipped].join(", ")}`,
    );
  }
  return out;
}

function functionTool(decl: Json, path: string): Json {
  const name = requiredString(decl, "name", path);
  const fn: Json = { name };
  const description = optionalString(decl, "description", path);
  if (description) fn.description = description;
  const jsonSchema = field(decl, "parametersJsonSchema");
  const openApi = field(decl, "parameters");
  fn.parameters = jsonSchema !== undefined && jsonSchema !== null
    ? toJsonSchema(jsonSchema, at(path, "parametersJsonSchema"), "json")
    : openApi !== undefined && openApi !== null
    ? toJsonSchema(openApi, at(path, "parameters"), "openapi")
    : { type: "object", properties: {} };
  return { type: "function", function: fn };
}

/** `functionCallingConfig.mode` to `tool_choice`. */
const TOOL_CHOICE: Readonly<Record<string, string | undefined>> = {
  MODE_UNSPECIFIED: undefined,
  AUTO: "auto",
  VALIDATED: "auto",
  ANY: "required",
  NONE: "none",
};

/**
 * Sets `tools` and `tool_choice`. `ANY` with `allowedFunctionNames` keeps only those functions
 * (chat has no "one of these" choice); with a single name, it is that function's choice.
 */
function applyToolConfig(chat: ChatRequest, tools: Json[], config: Json | undefined): void {
  const path = "toolConfig.functionCallingConfig";
  const mode = config && optionalString(config, "mode", path)?.toUpperCase();
  if (mode !== undefined && !(mode in TOOL_CHOICE)) {
    throw invalidArgument(
      at(path, "mode"),
      `must be one of ${Object.keys(TOOL_CHOICE).join(", ")}`,
    );
  }
  const allowed = config && optionalArray(config, "allowedFunctionNames", path);
  let chosen = tools;
  if (mode === "ANY" && allowed && allowed.length > 0) {
    const names = new Set(allowed.map((n, i) => {
      if (typeof n !== "string") {
        throw invalidArgument(`${path}.allowedFunctionNames[${i}]`, "must be a string");
      }
      return n;
    }));
    chosen = tools.filter((t) => names.has((t.function as Json).name as string));
    if (chosen.length === 0) {
      throw invalidArgument(
        at(path, "allowedFunctionNames"),
        "names none of the declared functions",
      );
    }
  }
  if (chosen.length === 0) return;
  chat.tools = chosen;
  const choice = mode === undefined ? undefined : TOOL_CHOICE[mode];
  if (mode === "ANY" && chosen.length === 1 && allowed && allowed.length > 0) {
    chat.tool_choice = { type: "function", function: { name: (chosen[0].function as Json).name } };
  } else if (choice !== undefined) {
    chat.tool_choice = choice;
  }
}

/** Sampling and length settings, one to one. */
function applyGenerationConfig(chat: ChatRequest, config: Json): void {
  const path = "generationConfig";
  const numbers: Array<[string, string, boolean]> = [
    ["temperature", "temperature", false],
    ["topP", "top_p", false],
    ["maxOutputTokens", "max_tokens", true],
    ["presencePenalty", "presence_penalty", false],
    ["frequencyPenalty", "frequency_penalty", false],
    ["seed", "seed", true],
  ];
  for (const [name, target, integer] of numbers) {
    const value = optionalNumber(config, name, path, integer);
    if (value !== undefined) chat[target] = value;
  }
  const candidates = optionalNumber(config, "candidateCount", path, true);
  if (candidates !== undefined) {
    if (candidates < 1 || candidates > 8) {
      throw invalidArgument(at(path, "candidateCount"), "must be from 1 to 8");
    }
    if (candidates > 1) chat.n = candidates;
  }
  const stop = optionalArray(config, "stopSequences", path);
  if (stop && stop.length > 0) {
    chat.stop = stop.map((s, i) => {
      if (typeof s !== "string") {
        throw invalidArgument(`${path}.stopSequences[${i}]`, "must be a string");
      }
      return s;
    });
  }
  const format = responseFormat(config);
  if (format) chat.response_format = format;
}

/** `responseMimeType: application/json`, with a schema or without, as `response_format`. */
function responseFormat(config: Json): Json | undefined {
  const path = "generationConfig";
  const mime = optionalString(config, "responseMimeType", path);
  if (mime?.toLowerCase() !== "application/json") return undefined;
  const jsonSchema = field(config, "responseJsonSchema");
  const openApi = field(config, "responseSchema");
  const schema = jsonSchema !== undefined && jsonSchema !== null
    ? toJsonSchema(jsonSchema, at(path, "responseJsonSchema"), "json")
    : openApi !== undefined && openApi !== null
    ? toJsonSchema(openApi, at(path, "responseSchema"), "openapi")
    : undefined;
  if (schema === undefined) return { type: "json_object" };
  return { type: "json_schema", json_schema: { name: "response", schema } };
}

/** `thinkingLevel` values; `MINIMAL` is as good as off. */
const THINKING_LEVELS: Readonly<Record<string, boolean | undefined>> = {
  THINKING_LEVEL_UNSPECIFIED: undefined,
  MINIMAL: false,
  LOW: true,
  MEDIUM: true,
  HIGH: true,
};

/**
 * `thinkingConfig` to `thinking_mode`: a budget of 0 or level `MINIMAL` is off, any other budget
 * (-1 is "dynamic") or level is on, nothing said leaves the backend's default. Returns
 * `includeThoughts`.
 */
function applyThinking(chat: ChatRequest, config: Json): boolean {
  const path = "generationConfig.thinkingConfig";
  const budget = optionalNumber(config, "thinkingBudget", path, true);
  const levelName = optionalString(config, "thinkingLevel", path)?.toUpperCase();
  if (levelName !== undefined && !(levelName in THINKING_LEVELS)) {
    throw invalidArgument(
      at(path, "thinkingLevel"),
      `must be one of ${Object.keys(THINKING_LEVELS).join(", ")}`,
    );
  }
  const level = levelName === undefined ? undefined : THINKING_LEVELS[levelName];
  if (budget !== undefined) chat.thinking_mode = budget !== 0;
  else if (level !== undefined) chat.thinking_mode = level;
  return optionalBoolean(config, "includeThoughts", path) ?? false;
}

/**
 * The model id of a route's path parameter: `gemini-2.5-pro`, `internlm/intern-s1`; a leading
 * `models/` (a client that doubled it) is dropped.
 *
 * @example
 * ```ts
 * modelFromPath("models/gemini-2.5-pro"); // "gemini-2.5-pro"
 * ```
 */
export function modelFromPath(param: string | undefined): string {
  const model = (param ?? "").replace(/^models\//, "");
  if (model.trim() === "") {
    throw new ApiError(400, "the model name in the path is empty", { code: "invalid_argument" });
  }
  return model;
}
