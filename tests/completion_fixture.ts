/**
 * A canonical `ChatCompletion` to translate, for the front ends' response tests: one choice with
 * the given assistant message, and usage with cached and reasoning tokens so that every dialect's
 * usage fields have something to show.
 *
 * @module
 */

import type { ChatCompletion } from "../src/canonical/types.ts";

/** What every {@link completionOf} completion reports it used. */
const USAGE = {
  prompt_tokens: 30,
  completion_tokens: 7,
  total_tokens: 37,
  prompt_tokens_details: { cached_tokens: 10 },
  completion_tokens_details: { reasoning_tokens: 3 },
};

/**
 * A completion `chatcmpl-abc` of `internlm/intern-s1` whose one choice is `message` (over an
 * assistant message with no content), ending with `finish`; `choice` adds fields to the choice.
 * Its usage: 30 prompt tokens (10 cached), 7 completion tokens (3 of reasoning), 37 in all.
 *
 * @example
 * ```ts
 * completionOf({ content: "Hi", reasoning_content: "hmm" });
 * completionOf({ tool_calls: [call] }, "tool_calls");
 * completionOf({ content: "x" }, "stop", { stop_reason: "END" });
 * ```
 */
export function completionOf(
  message: Record<string, unknown>,
  finish: string | null = "stop",
  choice: Record<string, unknown> = {},
): ChatCompletion {
  return {
    id: "chatcmpl-abc",
    object: "chat.completion",
    created: 1,
    model: "internlm/intern-s1",
    choices: [{
      index: 0,
      message: { role: "assistant", content: null, ...message },
      finish_reason: finish,
      ...choice,
    }],
    usage: structuredClone(USAGE),
  };
}
