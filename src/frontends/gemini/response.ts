/**
 * A canonical completion as Gemini's `GenerateContentResponse`: each choice a candidate whose
 * parts are the reasoning (a `thought: true` part, only when the client asked for thoughts), the
 * text, and one `functionCall` part per tool call (arguments parsed to an object), with the
 * finish reason and usage in Gemini's names.
 *
 * @module
 */

import { isRecord } from "../../canonical/errors.ts";
import type { ChatCompletion, ToolCall, Usage } from "../../canonical/types.ts";
import type {
  Candidate,
  FinishReason,
  GenerateContentResponse,
  Part,
  UsageMetadata,
} from "./types.ts";

/** Chat finish reasons in Gemini's names; a function call ends with `STOP` there. */
const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  stop: "STOP",
  tool_calls: "STOP",
  function_call: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
};

/**
 * Gemini's finish reason for a chat one; none (a stream that just ended) is `STOP`.
 *
 * @example
 * ```ts
 * finishReason("length"); // "MAX_TOKENS"
 * ```
 */
export function finishReason(reason: string | null | undefined): FinishReason {
  if (reason === null || reason === undefined) return "STOP";
  return FINISH_REASONS[reason] ?? "OTHER";
}

/**
 * Chat usage as `usageMetadata`: reasoning tokens are counted apart (`thoughtsTokenCount`), as
 * Gemini does, so `candidatesTokenCount` is the answer's alone.
 *
 * @example
 * ```ts
 * usageMetadata({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
 * // { promptTokenCount: 5, candidatesTokenCount: 7, totalTokenCount: 12 }
 * ```
 */
export function usageMetadata(usage: Usage): UsageMetadata {
  const details = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  const prompt = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const thoughts = typeof details.reasoning_tokens === "number" ? details.reasoning_tokens : 0;
  const meta: UsageMetadata = {
    promptTokenCount: usage.prompt_tokens ?? 0,
    candidatesTokenCount: Math.max(0, (usage.completion_tokens ?? 0) - thoughts),
    totalTokenCount: usage.total_tokens ??
      (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0),
  };
  if (thoughts > 0) meta.thoughtsTokenCount = thoughts;
  if (typeof prompt.cached_tokens === "number" && prompt.cached_tokens > 0) {
    meta.cachedContentTokenCount = prompt.cached_tokens;
  }
  return meta;
}

/**
 * A tool call as a `functionCall` part, or undefined when its arguments are not a JSON object
 * (Gemini's `MALFORMED_FUNCTION_CALL`). An upstream that gave no id gets `call_<n>`.
 *
 * @example
 * ```ts
 * functionCallPart({ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }, 0);
 * // { functionCall: { id: "c1", name: "f", args: { a: 1 } } }
 * ```
 */
export function functionCallPart(
  call: Pick<ToolCall, "id" | "function">,
  index: number,
): Part | undefined {
  const text = call.function?.arguments ?? "";
  let args: unknown = {};
  if (text.trim() !== "") {
    try {
      args = JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  if (!isRecord(args)) return undefined;
  return {
    functionCall: { id: call.id || `call_${index}`, name: call.function?.name ?? "", args },
  };
}

/**
 * `candidate` with `calls` added as `functionCall` parts; calls whose arguments are not a JSON
 * object are left out and make the finish reason `MALFORMED_FUNCTION_CALL`, as Gemini's own.
 *
 * @example
 * ```ts
 * withCalls({ content: { role: "model", parts: [] }, finishReason: "STOP", index: 0 }, calls);
 * ```
 */
export function withCalls(
  candidate: Candidate,
  calls: ReadonlyArray<Pick<ToolCall, "id" | "function">>,
): Candidate {
  let malformed = 0;
  for (const [i, call] of calls.entries()) {
    const part = functionCallPart(call, i);
    if (part) candidate.content.parts.push(part);
    else malformed++;
  }
  if (malformed > 0) {
    candidate.finishReason = "MALFORMED_FUNCTION_CALL";
    candidate.finishMessage =
      `${malformed} function call(s) had arguments that are not a JSON object`;
  }
  return candidate;
}

/** One choice as a candidate. */
function candidate(
  choice: ChatCompletion["choices"][number],
  includeThoughts: boolean,
): Candidate {
  const { message } = choice;
  const parts: Part[] = [];
  if (includeThoughts && message.reasoning_content) {
    parts.push({ text: message.reasoning_content, thought: true });
  }
  if (message.content) parts.push({ text: message.content });
  return withCalls(
    {
      content: { role: "model", parts },
      finishReason: finishReason(choice.finish_reason),
      index: choice.index,
    },
    message.tool_calls ?? [],
  );
}

/**
 * `completion` in Gemini's shape; `modelVersion` is the model that answered
 * (`<backend>/<model>`), `responseId` the completion's id.
 *
 * @example
 * ```ts
 * toGeminiResponse(completion, false).candidates[0].content.parts; // [{ text: "Hello!" }]
 * ```
 */
export function toGeminiResponse(
  completion: ChatCompletion,
  includeThoughts: boolean,
): GenerateContentResponse {
  const response: GenerateContentResponse = {
    candidates: completion.choices.map((c) => candidate(c, includeThoughts)),
    modelVersion: completion.model,
    responseId: completion.id,
  };
  if (completion.usage) response.usageMetadata = usageMetadata(completion.usage);
  return response;
}
