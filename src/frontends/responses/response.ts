/**
 * The response object: a chat completion as the Responses API answers it. Output items in order:
 * the reasoning (as a summary), the assistant's text, then its tool calls; each with an id given
 * out once, so the events of a stream and the stored response agree.
 *
 * @module
 */

import type { AssistantMessage, ChatCompletion, Usage } from "../../canonical/types.ts";
import type { ItemIds } from "./ids.ts";
import { toolCallItem } from "./tools.ts";
import type {
  ContentPart,
  JsonObject,
  OutputItem,
  ResponseObject,
  ResponseUsage,
} from "./types.ts";
import type { ResponsesRequest } from "./validate.ts";

/** What a response echoes of its request, and how it names things. */
export interface ResponseContext {
  id: string;
  createdAt: number;
  request: ResponsesRequest;
  customTools: ReadonlySet<string>;
  ids: ItemIds;
}

/** Chat finish reasons that cut the answer short, as the Responses API names them. */
const INCOMPLETE: Record<string, string> = {
  length: "max_output_tokens",
  content_filter: "content_filter",
};

/**
 * The response object before any output: what `response.created` carries, and the base of every
 * later state.
 *
 * @example
 * ```ts
 * responseShell(ctx, "internlm/internlm2.5-latest").status; // "in_progress"
 * ```
 */
export function responseShell(ctx: ResponseContext, model: string): ResponseObject {
  const r = ctx.request;
  return {
    id: ctx.id,
    object: "response",
    created_at: ctx.createdAt,
    status: "in_progress",
    background: false,
    error: null,
    incomplete_details: null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    model,
    output: [],
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    reasoning: { effort: r.reasoning?.effort ?? null, summary: r.reasoning?.summary ?? null },
    store: r.store,
    temperature: r.temperature ?? null,
    text: { format: { type: "text" }, ...r.text },
    tool_choice: r.tool_choice ?? "auto",
    tools: r.tools,
    top_p: r.top_p ?? null,
    truncation: "disabled",
    usage: null,
    user: r.user ?? null,
    metadata: r.metadata ?? {},
  };
}

/**
 * The response's final state: `completed`, or `incomplete` with why when the answer was cut.
 *
 * @example
 * ```ts
 * finishResponse(responseShell(ctx, model), items, "length", usage).status; // "incomplete"
 * ```
 */
export function finishResponse(
  shell: ResponseObject,
  output: OutputItem[],
  finishReason: string | null,
  usage: Usage | undefined | null,
): ResponseObject {
  const reason = finishReason ? INCOMPLETE[finishReason] : undefined;
  return {
    ...shell,
    status: reason ? "incomplete" : "completed",
    incomplete_details: reason ? { reason } : null,
    output,
    usage: usage ? responseUsage(usage) : null,
  };
}

/**
 * A whole completion as a response object.
 *
 * @example
 * ```ts
 * const response = toResponse(completion, ctx);
 * response.output.map((item) => item.type); // ["reasoning", "message"]
 * ```
 */
export function toResponse(completion: ChatCompletion, ctx: ResponseContext): ResponseObject {
  const choice = completion.choices[0];
  const output = choice ? outputItems(choice.message, choice.finish_reason, ctx) : [];
  return finishResponse(
    responseShell(ctx, completion.model),
    output,
    choice?.finish_reason ?? null,
    completion.usage,
  );
}

/**
 * The output items of one assistant message, ids given out in order.
 *
 * @example
 * ```ts
 * outputItems({ role: "assistant", content: "Hi" }, "stop", ctx).map((i) => i.type); // ["message"]
 * ```
 */
export function outputItems(
  message: AssistantMessage,
  finishReason: string | null,
  ctx: ResponseContext,
): OutputItem[] {
  const items: OutputItem[] = [];
  if (message.reasoning_content) {
    items.push({
      type: "reasoning",
      id: ctx.ids.next("rs"),
      summary: [{ type: "summary_text", text: message.reasoning_content }],
    });
  }
  const content: ContentPart[] = [];
  if (typeof message.content === "string" && message.content !== "") {
    content.push(textPart(message.content));
  }
  if (typeof message.refusal === "string" && message.refusal !== "") {
    content.push({ type: "refusal", refusal: message.refusal });
  }
  if (content.length > 0) {
    items.push({
      type: "message",
      id: ctx.ids.next("msg"),
      status: finishReason && INCOMPLETE[finishReason] ? "incomplete" : "completed",
      role: "assistant",
      content,
    });
  }
  for (const call of message.tool_calls ?? []) {
    const custom = ctx.customTools.has(call.function?.name ?? "");
    items.push(toolCallItem(call, ctx.ids.next(custom ? "ctc" : "fc"), ctx.customTools));
  }
  return items;
}

/**
 * An `output_text` part.
 *
 * @example
 * ```ts
 * textPart("Hi"); // { type: "output_text", text: "Hi", annotations: [], logprobs: [] }
 * ```
 */
export function textPart(text: string): ContentPart {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

/**
 * Every `output_text` of the assistant's messages, joined: the SDKs' `output_text`. Their stream
 * helpers read it from the final event; from a JSON response they compute it themselves.
 *
 * @example
 * ```ts
 * outputText(response.output); // "Paris."
 * ```
 */
export function outputText(output: readonly OutputItem[]): string {
  let text = "";
  for (const item of output) {
    if (item.type !== "message") continue;
    for (const part of item.content) if (part.type === "output_text") text += part.text ?? "";
  }
  return text;
}

/**
 * Chat usage in the Responses API's names.
 *
 * @example
 * ```ts
 * responseUsage({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }).output_tokens; // 7
 * ```
 */
export function responseUsage(usage: Usage): ResponseUsage {
  const details = (v: unknown, field: string) =>
    typeof v === "object" && v !== null && typeof (v as JsonObject)[field] === "number"
      ? (v as JsonObject)[field] as number
      : 0;
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: details(usage.prompt_tokens_details, "cached_tokens") },
    output_tokens: usage.completion_tokens,
    output_tokens_details: {
      reasoning_tokens: details(usage.completion_tokens_details, "reasoning_tokens"),
    },
    total_tokens: usage.total_tokens,
  };
}
