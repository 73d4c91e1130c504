/**
 * An estimate of how many input tokens a canonical chat request costs, for the dialects that
 * have a token-counting endpoint (Anthropic's `count_tokens`, Gemini's `countTokens`). It counts
 * what reaches the model: every message's text, tool calls and tool results, the tool
 * definitions, and the chat template's few tokens per message, with a real BPE tokenizer
 * (`o200k_base` from `gpt-tokenizer`). InternLM's own tokenizers differ, so the result is an
 * estimate; docs/frontends/anthropic.md says how close it came on a sample.
 *
 * The tokenizer's tables (about 35 MB of heap) are loaded on the first count, not at start:
 * most deployments never count.
 *
 * @module
 */

import { isRecord } from "../canonical/errors.ts";
import type { ChatRequest } from "../canonical/types.ts";

/**
 * What one image is counted as. The proxy does not decode images; InternLM's vision models
 * spend 256 tokens per 448-pixel tile and cut a typical screenshot into about six tiles.
 */
export const IMAGE_TOKENS = 1_600;

/** A chat template's framing of one message (`<|im_start|>role\n … <|im_end|>\n`). */
const PER_MESSAGE = 4;
/** The assistant turn the template opens for the answer. */
const REPLY_PRIMING = 3;
/**
 * The template's preamble around the tool definitions, when there are any: about what a
 * Qwen3-style template (Intern-S1's) writes to explain them and the call format.
 */
const TOOLS_FRAMING = 80;

/** Tokens in one piece of text. */
export type Counter = (text: string) => number;
let loading: Promise<Counter> | undefined;

function counter(): Promise<Counter> {
  return loading ??= import("gpt-tokenizer/encoding/o200k_base").then(({ countTokens }) =>
  // Text that spells a special token (`<|endoftext|>`) is ordinary text to the model's
  // template, and must not make the tokenizer throw.
  (text: string) => text === "" ? 0 : countTokens(text, { disallowedSpecial: new Set() }));
}

/**
 * The estimated input tokens of `chat`: its messages and its `tools`.
 *
 * @example
 * ```ts
 * await countChatTokens({ model: "m", messages: [{ role: "user", content: "Hello!" }] }); // 9
 * ```
 */
export async function countChatTokens(chat: CountedRequest): Promise<number> {
  return chatTokens(chat, await counter());
}

/** What a count reads of a request. */
export type CountedRequest = Pick<ChatRequest, "messages"> & { tools?: unknown };

/**
 * `chat`'s tokens with `count` telling the tokens of each piece of text. With the UTF-8 byte
 * length as `count` it is a bound no tokenizer exceeds (every token is at least one byte).
 *
 * @example
 * ```ts
 * chatTokens({ messages: [{ role: "user", content: "Hello!" }] }, (t) => t.length); // 17
 * ```
 */
export function chatTokens(chat: CountedRequest, count: Counter): number {
  let tokens = REPLY_PRIMING;
  for (const message of chat.messages) {
    tokens += PER_MESSAGE + count(typeof message.role === "string" ? message.role : "");
    tokens += contentTokens(message.content, count);
    if (Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls) {
        const fn = isRecord(call) && isRecord(call.function) ? call.function : {};
        tokens += count(String(fn.name ?? "")) + count(String(fn.arguments ?? ""));
      }
    }
  }
  if (Array.isArray(chat.tools) && chat.tools.length > 0) {
    tokens += TOOLS_FRAMING;
    for (const tool of chat.tools) {
      tokens += count(JSON.stringify(tool));
    }
  }
  return tokens;
}

/** A message's `content`: a string, or parts (text, images, anything else as its JSON). */
function contentTokens(content: unknown, count: Counter): number {
  if (typeof content === "string") return count(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (!isRecord(part)) continue;
    if (part.type === "text" && typeof part.text === "string") tokens += count(part.text);
    else if (part.type === "image_url") tokens += IMAGE_TOKENS;
    else tokens += count(JSON.stringify(part));
  }
  return tokens;
}
