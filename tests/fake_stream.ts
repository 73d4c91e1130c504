/**
 * Scripts for the fake upstream's `sse` replies: the events an OpenAI-compatible server streams,
 * cut into awkward TCP-sized parts, sent slowly, or held back until the test says so.
 *
 * @example
 * ```ts
 * up.streams = true;
 * up.setResponder(() => ({
 *   kind: "sse",
 *   parts: cutBytes(sseEvents({ content: ["Hel", "lo"] }).join(""), [3, 17]),
 * }));
 * ```
 *
 * @module
 */

/** What the fake server streams. */
export interface StreamScript {
  /** Content deltas, one chunk each. */
  content: string[];
  /** Reasoning deltas, sent before the content. */
  reasoning?: string[];
  /** The delta field reasoning travels in (vLLM/Ollama say `reasoning`). */
  reasoningField?: "reasoning" | "reasoning_content";
  /** The model named in every chunk (default `"served-model"`). */
  model?: string;
  finishReason?: string;
  /** A `choices: []` chunk with this usage before `[DONE]`. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** End with `data: [DONE]` (default true). */
  done?: boolean;
}

/** The events, one `data: …\n\n` string each, that a server streams for `script`. */
export function sseEvents(script: StreamScript): string[] {
  const base = {
    id: "chatcmpl-fake-stream",
    object: "chat.completion.chunk",
    created: 1_720_000_000,
    model: script.model ?? "served-model",
  };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    sseData({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  const field = script.reasoningField ?? "reasoning_content";
  return [
    chunk({ role: "assistant", content: "" }),
    ...(script.reasoning ?? []).map((r) => chunk({ [field]: r })),
    ...script.content.map((c) => chunk({ content: c })),
    chunk({}, script.finishReason ?? "stop"),
    ...(script.usage ? [sseData({ ...base, choices: [], usage: script.usage })] : []),
    ...(script.done === false ? [] : ["data: [DONE]\n\n"]),
  ];
}

/** One `data:` event carrying `value` as JSON. */
export function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/** `text`'s UTF-8 bytes cut at the given byte offsets (ascending), so cuts can split a character. */
export function cutBytes(text: string, offsets: number[]): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const end of [...offsets, bytes.length]) {
    if (end > start) parts.push(bytes.subarray(start, end));
    start = end;
  }
  return parts;
}

/** Yields `parts`, pausing `ms` before each after the first: an upstream that writes slowly. */
export async function* slowly<T>(parts: Iterable<T>, ms: number): AsyncGenerator<T> {
  let first = true;
  for (const part of parts) {
    if (!first) await new Promise((resolve) => setTimeout(resolve, ms));
    first = false;
    yield part;
  }
}

/**
 * A one-shot barrier between the test and the fake upstream. `wait()` gives up after `limitMs`
 * (so a broken proxy fails the test instead of hanging it) and records that it did.
 */
export class Gate {
  opened = false;
  gaveUp = false;
  #open!: () => void;
  readonly #promise = new Promise<void>((resolve) => this.#open = resolve);

  open(): void {
    this.opened = true;
    this.#open();
  }

  async wait(limitMs = 5_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<void>((resolve) =>
      timer = setTimeout(() => {
        this.gaveUp = true;
        resolve();
      }, limitMs)
    );
    try {
      await Promise.race([this.#promise, limit]);
    } finally {
      clearTimeout(timer);
    }
  }
}
