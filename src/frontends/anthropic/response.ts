/**
 * A canonical `chat.completion` as an Anthropic `message`: content blocks in the order Claude
 * writes them (thinking, text, tool_use), a stop reason that matches what was emitted, and
 * Anthropic's usage fields.
 *
 * @module
 */

import { ApiError, isRecord } from "../../canonical/errors.ts";
import type { ChatCompletion, Choice, Usage } from "../../canonical/types.ts";

/** A content block of an answer. */
export type ContentBlock =
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

/**
 * The `signature` of every thinking block. Anthropic's is a proof the thinking is its own; the
 * proxy has nothing to prove and drops thinking sent back, but the field must not be empty:
 * clients replay an unsigned thinking block as plain text (pi does, so the model would read its
 * reasoning as its own earlier answer).
 */
export const THINKING_SIGNATURE = "llm-proxy";

/** Anthropic's usage object. */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** An Anthropic `message` (a non-streamed answer). */
export interface AnthropicMessageResponse {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  stop_reason: string;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/**
 * `msg_…` from the completion's id (one id, two prefixes, so the request log's id and the
 * client's can be matched).
 *
 * @example
 * ```ts
 * messageId("chatcmpl-abc123"); // "msg_abc123"
 * ```
 */
export function messageId(completionId: string): string {
  return `msg_${completionId.replace(/^chatcmpl-/, "")}`;
}

/**
 * An id for a tool call the upstream sent without one (Anthropic's `toolu_` form).
 *
 * @example
 * ```ts
 * toolUseId(); // "toolu_3f0c9a…"
 * ```
 */
export function toolUseId(): string {
  return `toolu_${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * Anthropic's usage from the canonical one; prompt tokens read from a cache are Anthropic's
 * `cache_read_input_tokens`, not part of `input_tokens`.
 *
 * @example
 * ```ts
 * anthropicUsage({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }).input_tokens; // 10
 * ```
 */
export function anthropicUsage(usage: Usage | null | undefined): AnthropicUsage {
  const details = usage?.prompt_tokens_details;
  const cached = isRecord(details) && typeof details.cached_tokens === "number"
    ? details.cached_tokens
    : 0;
  const prompt = typeof usage?.prompt_tokens === "number" ? usage.prompt_tokens : 0;
  return {
    input_tokens: Math.max(0, prompt - cached),
    output_tokens: typeof usage?.completion_tokens === "number" ? usage.completion_tokens : 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

/**
 * The stop reason for what was emitted: `tool_use` whenever a tool call went out (whatever the
 * upstream's finish reason), else the upstream's reason in Anthropic's words. A stop sequence is
 * only known when the upstream names the one it hit (vLLM's and LMDeploy's `stop_reason`).
 *
 * @example
 * ```ts
 * stopReason("length", false, undefined, []); // { reason: "max_tokens", sequence: null }
 * ```
 */
export function stopReason(
  finish: string | null | undefined,
  emittedToolUse: boolean,
  upstreamStop: unknown,
  stopSequences: readonly string[],
): { reason: string; sequence: string | null } {
  if (emittedToolUse) return { reason: "tool_use", sequence: null };
  if (finish === "length") return { reason: "max_tokens", sequence: null };
  if (finish === "content_filter") return { reason: "refusal", sequence: null };
  if (typeof upstreamStop === "string" && stopSequences.includes(upstreamStop)) {
    return { reason: "stop_sequence", sequence: upstreamStop };
  }
  return { reason: "end_turn", sequence: null };
}

/**
 * A tool call's arguments as the object Anthropic's `input` is. An upstream that wrote something
 * else is a failed answer (502), never a crash or a silently empty input.
 *
 * @example
 * ```ts
 * toolInput('{"path":"a.txt"}', "Write"); // { path: "a.txt" }
 * ```
 */
export function toolInput(args: string, name: string): Record<string, unknown> {
  if (args.trim() === "") return {};
  let input: unknown;
  try {
    input = JSON.parse(args);
  } catch {
    input = undefined;
  }
  if (!isRecord(input)) {
    throw new ApiError(
      502,
      `the upstream model called tool ${name} with arguments that are not a JSON object: ${
        args.length > 200 ? `${args.slice(0, 200)}…` : args
      }`,
      { code: "bad_upstream_response" },
    );
  }
  return input;
}

/**
 * The answer's content blocks, in order: thinking, text, tool calls. Empty text is no block.
 *
 * @example
 * ```ts
 * contentBlocks({ role: "assistant", content: "Hi" }); // [{ type: "text", text: "Hi" }]
 * ```
 */
export function contentBlocks(message: Choice["message"]): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  if (message.reasoning_content) {
    blocks.push({
      type: "thinking",
      thinking: message.reasoning_content,
      signature: THINKING_SIGNATURE,
    });
  }
  if (message.content) blocks.push({ type: "text", text: message.content });
  for (const call of message.tool_calls ?? []) {
    const name = call.function?.name ?? "";
    blocks.push({
      type: "tool_use",
      id: call.id || toolUseId(),
      name,
      input: toolInput(call.function?.arguments ?? "", name),
    });
  }
  return blocks;
}

/**
 * The first choice of `completion` as an Anthropic message (Anthropic has no `n`).
 *
 * @example
 * ```ts
 * const message = toAnthropicMessage(completion, request.stop_sequences ?? []);
 * ```
 */
export function toAnthropicMessage(
  completion: ChatCompletion,
  stopSequences: readonly string[],
): AnthropicMessageResponse {
  const choice = completion.choices[0];
  const content = contentBlocks(choice.message);
  const stop = stopReason(
    choice.finish_reason,
    content.some((b) => b.type === "tool_use"),
    choice.stop_reason,
    stopSequences,
  );
  return {
    id: messageId(completion.id),
    type: "message",
    role: "assistant",
    model: completion.model,
    content,
    stop_reason: stop.reason,
    stop_sequence: stop.sequence,
    usage: anthropicUsage(completion.usage),
  };
}
