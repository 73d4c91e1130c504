/**
 * Turns one finished `chat.completion` into the `chat.completion.chunk` sequence a streaming
 * upstream would have sent: role, reasoning, content, tool calls, finish, usage.
 *
 * @module
 */

import type { ChunkStream, StreamEvent } from "./backends/backend.ts";
import type { ChatCompletion, ChatCompletionChunk, ChunkDelta } from "./types.ts";

/** How to cut the completion into chunks. */
export interface SynthesisOptions {
  /** Most UTF-16 units of text per delta (a piece may be one shorter to keep a pair whole). */
  pieceSize: number;
  /** Send a final `choices: []` chunk with usage (`stream_options.include_usage`). */
  includeUsage: boolean;
}

/**
 * Yields the chunks for `completion`, lazily, so a stream pulls them only as fast as the client
 * reads.
 *
 * @example
 * ```ts
 * for (const chunk of completionChunks(completion, { pieceSize: 32, includeUsage: false })) {
 *   console.log(chunk.choices[0]?.delta);
 * }
 * ```
 */
export function* completionChunks(
  completion: ChatCompletion,
  options: SynthesisOptions,
): Generator<ChatCompletionChunk> {
  const { id, created, model } = completion;
  const usage = options.includeUsage ? { usage: null } : {};
  const chunk = (index: number, delta: ChunkDelta, finish: string | null = null) => ({
    id,
    object: "chat.completion.chunk" as const,
    created,
    model,
    choices: [{ index, delta, finish_reason: finish }],
    ...usage,
  });

  for (const { index, message, finish_reason } of completion.choices) {
    yield chunk(index, { role: "assistant", content: "" });
    for (const piece of splitText(message.reasoning_content ?? "", options.pieceSize)) {
      yield chunk(index, { reasoning_content: piece });
    }
    for (const piece of splitText(message.content ?? "", options.pieceSize)) {
      yield chunk(index, { content: piece });
    }
    for (const [i, call] of (message.tool_calls ?? []).entries()) {
      yield chunk(index, {
        tool_calls: [{
          index: i,
          id: call.id,
          type: call.type ?? "function",
          function: { name: call.function?.name ?? "", arguments: "" },
        }],
      });
      for (const piece of splitText(call.function?.arguments ?? "", options.pieceSize)) {
        yield chunk(index, { tool_calls: [{ index: i, function: { arguments: piece } }] });
      }
    }
    yield chunk(index, {}, finish_reason ?? "stop");
  }
  if (options.includeUsage && completion.usage) {
    yield {
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [],
      usage: completion.usage,
    };
  }
}

/**
 * The chunks of `completion` as a {@link ChunkStream}, each made only when the reader pulls it.
 *
 * @example
 * ```ts
 * const events = synthesizedEvents(completion, { pieceSize: 32, includeUsage: true });
 * ```
 */
export function synthesizedEvents(
  completion: ChatCompletion,
  options: SynthesisOptions,
): ChunkStream {
  const chunks = completionChunks(completion, options);
  return new ReadableStream<StreamEvent>({
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue({ chunk: next.value });
    },
  }, { highWaterMark: 0 });
}

/**
 * Cuts `text` into pieces of at most `size` UTF-16 units, never between the two halves of a
 * surrogate pair, so every piece is valid text on its own.
 */
export function* splitText(text: string, size: number): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + size, text.length);
    // A high surrogate right before the cut means the cut is inside a code point.
    if (end < text.length && end - start > 1 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
    yield text.slice(start, end);
    start = end;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
