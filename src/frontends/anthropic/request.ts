/**
 * An Anthropic Messages request translated to the canonical chat request, rule by rule (the
 * table is in docs/frontends/anthropic.md). What has no canonical meaning (`cache_control`,
 * `output_config`, `context_management`, server tools, thinking signatures) is dropped, never
 * sent on; what is dropped that a user might miss is named in the debug log.
 *
 * @module
 */

import { isRecord } from "../../canonical/errors.ts";
import type { ChatRequest } from "../../canonical/types.ts";
import { repairToolPairs } from "../../pipeline/tool_pairs.ts";
import type { AnthropicMessage, Block, MessagesRequest } from "./validate.ts";

type ChatMessage = Record<string, unknown>;
type Part = Record<string, unknown>;

/** Top-level fields accepted and left out (named in the debug log when present). */
const UNMAPPED = [
  "top_k",
  "output_config",
  "context_management",
  "service_tier",
  "container",
  "mcp_servers",
] as const;

/** The canonical request, and what was left out (for the debug log). */
export interface Translation {
  chat: ChatRequest;
  dropped: string[];
}

/**
 * @example
 * ```ts
 * const { chat } = toChatRequest({ model: "m", max_tokens: 100, messages: [{ role: "user", content: "Hi" }] });
 * chat.messages; // [{ role: "user", content: "Hi" }]
 * ```
 */
export function toChatRequest(request: MessagesRequest): Translation {
  const dropped: string[] = [];
  const messages: ChatMessage[] = [];
  const system = systemText(request.system, dropped);
  if (system !== undefined) messages.push({ role: "system", content: system });
  for (const message of request.messages) messages.push(...translateMessage(message, dropped));

  const chat: ChatRequest = { model: request.model ?? "", messages: repairToolPairs(messages) };
  if (request.max_tokens !== undefined) chat.max_tokens = request.max_tokens;
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  if (request.stop_sequences?.length) chat.stop = request.stop_sequences;
  if (request.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  const user = request.metadata?.user_id;
  if (typeof user === "string" && user !== "") chat.user = user;
  if (request.thinking) chat.thinking_mode = request.thinking.type !== "disabled";

  const tools = translateTools(request.tools ?? [], dropped);
  if (tools.length > 0) chat.tools = tools;
  const choice = request.tool_choice;
  if (choice) {
    // With no tools left (all were server tools), a choice would only make the upstream refuse.
    if (tools.length > 0 || choice.type === "none") chat.tool_choice = toolChoice(choice);
    if (choice.disable_parallel_tool_use === true && tools.length > 0) {
      chat.parallel_tool_calls = false;
    }
  }
  for (const field of UNMAPPED) if (request[field] !== undefined) dropped.push(field);
  return { chat, dropped };
}

/** `system` as one string: a string as is, text blocks joined. */
function systemText(system: MessagesRequest["system"], dropped: string[]): string | undefined {
  if (system === undefined) return undefined;
  if (typeof system === "string") return system;
  return joinTexts(system, dropped, "system");
}

/**
 * Claude Code's first system block is its billing header for Anthropic's servers
 * (`x-anthropic-billing-header: cc_version=…`), no instruction to a model.
 */
const BILLING_HEADER = "x-anthropic-billing-header:";

function joinTexts(blocks: Block[], dropped: string[], where: string): string {
  const texts: string[] = [];
  for (const block of blocks) {
    if (block.type !== "text") dropped.push(`${where} block ${block.type}`);
    else if ((block.text as string).startsWith(BILLING_HEADER)) dropped.push("billing header");
    else texts.push(block.text as string);
  }
  return texts.join("\n");
}

/** One Anthropic message as the canonical messages it becomes (a user turn may become several). */
function translateMessage(message: AnthropicMessage, dropped: string[]): ChatMessage[] {
  const { role, content } = message;
  if (typeof content === "string") return [{ role, content }];
  if (role === "system") return [{ role, content: joinTexts(content, dropped, "system") }];
  return role === "assistant"
    ? [assistantMessage(content, dropped)]
    : userMessages(content, dropped);
}

/** Text and `tool_use` blocks; thinking stays behind (it is the model's, not the conversation's). */
function assistantMessage(content: Block[], dropped: string[]): ChatMessage {
  const texts: string[] = [];
  const toolCalls: Part[] = [];
  for (const block of content) {
    if (block.type === "text") texts.push(block.text as string);
    else if (block.type === "tool_use") {
      toolCalls.push({
        id: block.id,
        type: "function",
        function: { name: block.name, arguments: JSON.stringify(block.input) },
      });
    } else if (block.type !== "thinking" && block.type !== "redacted_thinking") {
      dropped.push(`assistant block ${block.type}`);
    }
  }
  const message: ChatMessage = {
    role: "assistant",
    content: texts.length > 0 || toolCalls.length === 0 ? texts.join("\n") : null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

/**
 * A user turn: its tool results first, as `tool` messages in order (the canonical form wants
 * them right after the assistant's calls), then the rest, images from tool results included, as
 * one user message.
 */
function userMessages(content: Block[], dropped: string[]): ChatMessage[] {
  const results: ChatMessage[] = [];
  const parts: Part[] = [];
  for (const block of content) {
    if (block.type === "tool_result") {
      results.push(toolMessage(block, parts, dropped));
    } else {
      const part = userPart(block, dropped);
      if (part) parts.push(part);
    }
  }
  if (parts.length === 0) return results.length > 0 ? results : [{ role: "user", content: "" }];
  const textOnly = parts.every((p) => p.type === "text");
  return [
    ...results,
    { role: "user", content: textOnly ? parts.map((p) => p.text).join("\n") : parts },
  ];
}

function userPart(block: Block, dropped: string[]): Part | undefined {
  if (block.type === "text") return { type: "text", text: block.text };
  if (block.type === "image") return imagePart(block.source as Record<string, unknown>);
  if (block.type === "document" && isRecord(block.source) && block.source.type === "text") {
    return { type: "text", text: String(block.source.data ?? "") };
  }
  dropped.push(`user block ${block.type}`);
  return undefined;
}

function imagePart(source: Record<string, unknown>): Part {
  const url = source.type === "url"
    ? source.url
    : `data:${source.media_type};base64,${source.data}`;
  return { type: "image_url", image_url: { url } };
}

/** A `tool_result` as a `tool` message; its images go to `images`, shown in the next user turn. */
function toolMessage(block: Block, images: Part[], dropped: string[]): ChatMessage {
  let text: string;
  if (Array.isArray(block.content)) {
    const texts: string[] = [];
    for (const inner of block.content as Block[]) {
      const part = userPart(inner, dropped);
      if (part?.type === "text") texts.push(part.text as string);
      else if (part) images.push(part);
    }
    text = texts.join("\n");
  } else {
    text = (block.content as string | undefined) ?? "";
  }
  // The canonical form has no error flag: the model reads it from the text, as Claude would.
  if (block.is_error === true) text = `Error: ${text}`;
  return { role: "tool", tool_call_id: block.tool_use_id, content: text };
}

/**
 * Client tools become functions. Anthropic's own tool types (web search, code execution, the
 * versioned bash and editor tools) have no schema an upstream could use, and deferred tools
 * (`defer_loading`) are by definition not shown to the model until a tool search (Claude Code's
 * own `ToolSearch` tool, which stays) fetches their schema as text: both are left out.
 */
function translateTools(tools: Record<string, unknown>[], dropped: string[]): Part[] {
  const out: Part[] = [];
  for (const tool of tools) {
    if (tool.type !== undefined && tool.type !== "custom") {
      dropped.push(`tool ${tool.name} (${tool.type})`);
      continue;
    }
    if (tool.defer_loading === true) {
      dropped.push(`tool ${tool.name} (deferred)`);
      continue;
    }
    const fn: Part = { name: tool.name, parameters: tool.input_schema };
    if (typeof tool.description === "string") fn.description = tool.description;
    out.push({ type: "function", function: fn });
  }
  return out;
}

function toolChoice(choice: NonNullable<MessagesRequest["tool_choice"]>): unknown {
  if (choice.type === "any") return "required";
  if (choice.type === "tool") return { type: "function", function: { name: choice.name } };
  return choice.type;
}
