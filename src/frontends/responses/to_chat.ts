/**
 * A Responses request in the canonical chat form. Items become messages rule by rule (one rule
 * per item type, each checking what it reads); consecutive assistant-side items (reasoning, an
 * assistant message, tool calls) make one assistant message, the way chat carries a turn. Item
 * types a chat upstream cannot use are left out and logged at debug.
 *
 * @module
 */

import { isRecord } from "../../canonical/errors.ts";
import type { ChatRequest, ToolCall } from "../../canonical/types.ts";
import type { Logger } from "../../operations/log.ts";
import { chatToolChoice, chatTools, customArguments } from "./tools.ts";
import type { ContentPart, JsonObject } from "./types.ts";
import { invalid, type ResponsesRequest } from "./validate.ts";

type Message = Record<string, unknown>;

/** The assistant turn being gathered from consecutive items. */
interface AssistantTurn {
  content: string[];
  reasoning: string[];
  toolCalls: ToolCall[];
}

/**
 * Collects messages; an assistant turn stays open until an item of another role arrives. A tool
 * call left without an output (an interrupted turn) gets one saying so before the conversation
 * goes on, since OpenAI-style upstreams refuse a call that is never answered.
 */
class Messages {
  readonly list: Message[] = [];
  readonly #calls = new Set<string>();
  /** Calls of the latest assistant turn that no output has answered yet. */
  readonly #unanswered = new Set<string>();
  #turn: AssistantTurn | undefined;

  turn(): AssistantTurn {
    return this.#turn ??= { content: [], reasoning: [], toolCalls: [] };
  }

  call(call: ToolCall): void {
    this.#calls.add(call.id);
    this.turn().toolCalls.push(call);
  }

  /** A tool result must answer a call made earlier in the conversation. */
  result(callId: string, content: string, at: string): void {
    if (!this.#calls.has(callId)) {
      throw invalid(`${at}.call_id ${callId} answers no function or custom tool call`, at);
    }
    this.close();
    this.#unanswered.delete(callId);
    this.list.push({ role: "tool", tool_call_id: callId, content });
  }

  push(message: Message): void {
    this.close();
    this.#answerTheRest();
    this.list.push(message);
  }

  /** Ends the open assistant turn, if any; call {@link Messages.end} after the last item. */
  close(): void {
    const turn = this.#turn;
    if (!turn) return;
    this.#turn = undefined;
    this.#answerTheRest();
    const message: Message = {
      role: "assistant",
      content: turn.content.length > 0 ? turn.content.join("\n\n") : null,
    };
    if (turn.reasoning.length > 0) message.reasoning_content = turn.reasoning.join("\n\n");
    if (turn.toolCalls.length > 0) message.tool_calls = turn.toolCalls;
    this.list.push(message);
    for (const call of turn.toolCalls) this.#unanswered.add(call.id);
  }

  end(): Message[] {
    this.close();
    this.#answerTheRest();
    return this.list;
  }

  #answerTheRest(): void {
    for (const id of this.#unanswered) {
      this.list.push({ role: "tool", tool_call_id: id, content: INTERRUPTED });
    }
    this.#unanswered.clear();
  }
}

/** The output of a call whose output never came. */
const INTERRUPTED = "The call was interrupted: it produced no output.";

const ROLES: Record<string, string> = {
  user: "user",
  assistant: "assistant",
  system: "system",
  developer: "system",
};

/** What each item type adds to the conversation. */
const ITEM_RULES: Record<string, (item: JsonObject, at: string, out: Messages) => void> = {
  message(item, at, out) {
    const role = ROLES[item.role as string];
    if (!role) {
      throw invalid(`${at}.role must be one of: ${Object.keys(ROLES).join(", ")}`, `${at}.role`);
    }
    const parts = contentParts(item.content, `${at}.content`);
    if (role === "assistant") {
      const text = parts.map((p) => p.text ?? "").join("");
      if (text !== "") out.turn().content.push(text);
      return;
    }
    const images = parts.some((p) => p.type === "image_url");
    if (images && role === "system") {
      throw invalid(`${at}.content: images are only accepted from the user`, `${at}.content`);
    }
    out.push({
      role,
      content: images ? parts : parts.map((p) => p.text ?? "").join("\n"),
    });
  },
  function_call(item, at, out) {
    const [callId, name, args] = strings(item, at, ["call_id", "name", "arguments"]);
    out.call({ id: callId, type: "function", function: { name, arguments: args } });
  },
  custom_tool_call(item, at, out) {
    const [callId, name, input] = strings(item, at, ["call_id", "name", "input"]);
    out.call({
      id: callId,
      type: "function",
      function: { name, arguments: customArguments(input) },
    });
  },
  function_call_output(item, at, out) {
    const [callId] = strings(item, at, ["call_id"]);
    out.result(callId, toolOutput(item.output, `${at}.output`), at);
  },
  custom_tool_call_output(item, at, out) {
    const [callId] = strings(item, at, ["call_id"]);
    out.result(callId, toolOutput(item.output, `${at}.output`), at);
  },
  // Tools sent as an input item (Codex with its own models): `toChatRequest` offers them.
  additional_tools() {},
  reasoning(item, at, out) {
    // Summaries, or the raw reasoning text some servers send; encrypted content means nothing
    // to a chat upstream and is never sent.
    const texts = [item.summary, item.content].flatMap((list, k) => {
      if (list == null) return [];
      if (!Array.isArray(list)) {
        const field = k === 0 ? "summary" : "content";
        throw invalid(`${at}.${field} must be an array`, `${at}.${field}`);
      }
      return list.filter((p) => isRecord(p) && typeof p.text === "string").map((p) => p.text);
    });
    const text = texts.join("\n\n");
    if (text !== "") out.turn().reasoning.push(text);
  },
};

function strings(item: JsonObject, at: string, fields: string[]): string[] {
  return fields.map((field) => {
    const v = item[field];
    if (typeof v !== "string") throw invalid(`${at}.${field} must be a string`, `${at}.${field}`);
    return v;
  });
}

/** A chat content part: `{type: "text", text}` or `{type: "image_url", image_url: {url}}`. */
interface ChatPart {
  type: "text" | "image_url";
  text?: string;
  image_url?: { url: string; detail?: string };
}

const PART_RULES: Record<string, (part: ContentPart, at: string) => ChatPart> = {
  input_text: (part, at) => ({ type: "text", text: partString(part, "text", at) }),
  output_text: (part, at) => ({ type: "text", text: partString(part, "text", at) }),
  text: (part, at) => ({ type: "text", text: partString(part, "text", at) }),
  refusal: (part, at) => ({ type: "text", text: partString(part, "refusal", at) }),
  input_image: (part, at) => {
    if (typeof part.image_url !== "string" || part.image_url === "") {
      throw invalid(
        `${at}.image_url must be a URL or a data URL (file ids are not supported)`,
        `${at}.image_url`,
      );
    }
    const detail = typeof part.detail === "string" ? { detail: part.detail } : {};
    return { type: "image_url", image_url: { url: part.image_url, ...detail } };
  },
};

function partString(part: ContentPart, field: "text" | "refusal", at: string): string {
  const v = part[field];
  if (typeof v !== "string") throw invalid(`${at}.${field} must be a string`, `${at}.${field}`);
  return v;
}

function contentParts(content: unknown, at: string): ChatPart[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) throw invalid(`${at} must be a string or an array of parts`, at);
  return content.map((part, i) => {
    const where = `${at}[${i}]`;
    const rule = isRecord(part) && typeof part.type === "string"
      ? PART_RULES[part.type]
      : undefined;
    if (!rule) {
      throw invalid(
        `${where}.type must be one of: ${Object.keys(PART_RULES).join(", ")}`,
        `${where}.type`,
      );
    }
    return rule(part as ContentPart, where);
  });
}

/** A tool result as chat's string content; images and files in it cannot travel and are named. */
function toolOutput(output: unknown, at: string): string {
  if (typeof output === "string") return output;
  if (!Array.isArray(output)) throw invalid(`${at} must be a string or an array of parts`, at);
  return output.map((part, i) => {
    if (!isRecord(part)) throw invalid(`${at}[${i}] must be an object`, `${at}[${i}]`);
    if (typeof part.text === "string") return part.text;
    return `[${String(part.type)} omitted]`;
  }).join("\n");
}

/**
 * The chat messages of `items`, after the system message made of `instructions`.
 *
 * @example
 * ```ts
 * itemsToMessages([{ type: "message", role: "developer", content: "Be brief." }], undefined, log);
 * // [{ role: "system", content: "Be brief." }]
 * ```
 */
export function itemsToMessages(
  items: readonly JsonObject[],
  instructions: string | JsonObject[] | undefined,
  log: Logger,
): Message[] {
  const out = new Messages();
  if (typeof instructions === "string") {
    if (instructions !== "") out.push({ role: "system", content: instructions });
  } else if (instructions) {
    addItems(instructions, "instructions", out, log);
  }
  addItems(items, "input", out, log);
  return out.end();
}

function addItems(items: readonly JsonObject[], where: string, out: Messages, log: Logger): void {
  items.forEach((item, i) => {
    const at = `${where}[${i}]`;
    // A message may leave its type out (the SDKs' "easy" input messages); nothing else may.
    const type = item.type ?? (item.role === undefined ? undefined : "message");
    if (typeof type !== "string") throw invalid(`${at}.type must be a string`, `${at}.type`);
    const rule = ITEM_RULES[type];
    if (rule) return rule(item, at, out);
    log.debug(`responses: ${at} of type ${type} left out: a chat upstream cannot use it`);
  });
}

/** What translating a request gives: the chat request, and the names of its custom tools. */
export interface ChatTranslation {
  chat: ChatRequest;
  customTools: ReadonlySet<string>;
}

/**
 * The canonical chat request for `request` continuing `history` (earlier turns' items).
 *
 * @example
 * ```ts
 * const { chat } = toChatRequest(request, [], "internlm/internlm2.5-latest", log);
 * ```
 */
export function toChatRequest(
  request: ResponsesRequest,
  items: readonly JsonObject[],
  model: string,
  log: Logger,
): ChatTranslation {
  const { tools, custom } = chatTools([...request.tools, ...itemTools(items)], log);
  const chat: ChatRequest = {
    model,
    messages: itemsToMessages(items, request.instructions, log),
    stream_options: { include_usage: true },
  };
  if (tools.length > 0) {
    chat.tools = tools;
    const choice = chatToolChoice(request.tool_choice);
    if (choice !== undefined) chat.tool_choice = choice;
    if (request.parallel_tool_calls !== undefined) {
      chat.parallel_tool_calls = request.parallel_tool_calls;
    }
  }
  if (request.max_output_tokens !== undefined) chat.max_tokens = request.max_output_tokens;
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  const effort = request.reasoning?.effort;
  if (typeof effort === "string") chat.reasoning_effort = effort;
  const format = responseFormat(request.text?.format);
  if (format) chat.response_format = format;
  return { chat, customTools: custom };
}

/** The tools of `additional_tools` items, which Codex sends instead of `tools` for its own models. */
function itemTools(items: readonly JsonObject[]): JsonObject[] {
  return items.flatMap((item) =>
    item.type === "additional_tools" && Array.isArray(item.tools)
      ? item.tools.filter((tool): tool is JsonObject =>
        isRecord(tool) && typeof tool.type === "string"
      )
      : []
  );
}

/** `text.format` as chat's `response_format`; plain text needs none. */
function responseFormat(format: JsonObject | undefined): JsonObject | undefined {
  if (format?.type === "json_object") return { type: "json_object" };
  if (format?.type !== "json_schema") return undefined;
  const { name, schema, strict, description } = format;
  return {
    type: "json_schema",
    json_schema: {
      name,
      schema,
      ...(typeof strict === "boolean" && { strict }),
      ...(typeof description === "string" && { description }),
    },
  };
}
