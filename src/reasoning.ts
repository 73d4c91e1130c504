/**
 * Deep-thinking output arrives in three dialects: a `reasoning_content` field, a `reasoning`
 * field, or a `<think>…</think>` block leading the content. Clients get one: `reasoning_content`.
 *
 * @module
 */

import type { AssistantMessage } from "./types.ts";

const THINK_OPEN = "<think>";
const THINK_CLOSE = "</think>";

/**
 * Moves reasoning into `reasoning_content` and out of `content`, in place.
 *
 * @example
 * ```ts
 * const m = { role: "assistant" as const, content: "<think>hmm</think>Hi" };
 * normalizeReasoning(m); // m.reasoning_content === "hmm", m.content === "Hi"
 * ```
 */
export function normalizeReasoning(message: AssistantMessage): void {
  const fromField = pickString(message.reasoning_content) ?? pickString(message.reasoning);
  delete message.reasoning;
  if (fromField !== undefined) {
    message.reasoning_content = fromField;
    return;
  }
  delete message.reasoning_content;
  if (typeof message.content !== "string") return;
  const split = splitThink(message.content);
  if (split) {
    message.reasoning_content = split.reasoning;
    message.content = split.content;
  }
}

function pickString(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Splits a leading `<think>` block off `text`. An unclosed block (the answer was cut off by
 * `max_tokens` mid-thought) is all reasoning.
 */
export function splitThink(text: string): { reasoning: string; content: string } | undefined {
  const start = text.length - text.trimStart().length;
  if (!text.startsWith(THINK_OPEN, start)) return undefined;
  const bodyStart = start + THINK_OPEN.length;
  const end = text.indexOf(THINK_CLOSE, bodyStart);
  if (end < 0) return { reasoning: text.slice(bodyStart).trim(), content: "" };
  return {
    reasoning: text.slice(bodyStart, end).trim(),
    content: text.slice(end + THINK_CLOSE.length).trimStart(),
  };
}
