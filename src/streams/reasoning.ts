/**
 * Deep-thinking output arrives in three dialects: a `reasoning_content` field, a `reasoning`
 * field, or a `<think>…</think>` block leading the content. Clients get one: `reasoning_content`.
 *
 * @module
 */

import type { AssistantMessage } from "../canonical/types.ts";

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

/** What one piece of streamed content turned out to be. */
export interface ThinkPiece {
  reasoning: string;
  content: string;
}

/**
 * {@link splitThink} for content that arrives in pieces: a leading `<think>` block becomes
 * reasoning as it streams, even when a tag is cut across pieces. Text that might still turn out
 * to be (part of) a tag, or whitespace around the block, is held back until the next piece or
 * {@link ThinkSplitter.end}; everything else passes at once.
 *
 * @example
 * ```ts
 * const s = new ThinkSplitter();
 * s.push("<thi");              // { reasoning: "", content: "" }  (held: maybe a tag)
 * s.push("nk>hmm</th");        // { reasoning: "hmm", content: "" }
 * s.push("ink>\n\nHi");        // { reasoning: "", content: "Hi" }
 * ```
 */
export class ThinkSplitter {
  /** start: nothing but whitespace yet; opened: `<think>` seen, reasoning not yet begun. */
  #state: "start" | "opened" | "thinking" | "after" | "plain" = "start";
  #held = "";

  push(piece: string): ThinkPiece {
    const text = this.#held + piece;
    this.#held = "";
    switch (this.#state) {
      case "start": {
        const start = text.trimStart();
        if (start.startsWith(THINK_OPEN)) {
          this.#state = "opened";
          return this.push(start.slice(THINK_OPEN.length));
        }
        if (start === "" || THINK_OPEN.startsWith(start)) {
          this.#held = text;
          return { reasoning: "", content: "" };
        }
        this.#state = "plain";
        return { reasoning: "", content: text };
      }
      case "opened": {
        const reasoning = text.trimStart();
        if (reasoning === "") return { reasoning: "", content: "" };
        this.#state = "thinking";
        return this.push(reasoning);
      }
      case "thinking": {
        const end = text.indexOf(THINK_CLOSE);
        if (end >= 0) {
          this.#state = "after";
          const rest = this.push(text.slice(end + THINK_CLOSE.length));
          return { reasoning: text.slice(0, end).trimEnd(), content: rest.content };
        }
        const keep = heldTail(text);
        this.#held = text.slice(keep);
        return { reasoning: text.slice(0, keep), content: "" };
      }
      case "after": {
        const content = text.trimStart();
        if (content !== "") this.#state = "plain";
        return { reasoning: "", content };
      }
      case "plain":
        return { reasoning: "", content: text };
    }
  }

  /** The content is over: whatever was held back, for what it is. */
  end(): ThinkPiece {
    const held = this.#held;
    this.#held = "";
    if (this.#state === "thinking") return { reasoning: held.trimEnd(), content: "" };
    return { reasoning: "", content: this.#state === "start" ? held : "" };
  }
}

/** Where the part of `text` that may belong to a closing tag (or precede it) begins. */
function heldTail(text: string): number {
  let cut = text.length;
  for (let k = Math.min(THINK_CLOSE.length - 1, text.length); k > 0; k--) {
    if (text.endsWith(THINK_CLOSE.slice(0, k))) {
      cut = text.length - k;
      break;
    }
  }
  while (cut > 0 && /\s/.test(text[cut - 1])) cut--;
  return cut;
}
