/**
 * Turns one finished `chat.completion` into the `chat.completion.chunk` sequence a streaming
 * upstream would have sent: role, reasoning, content, tool calls, finish, usage.
 *
 * @module
 */

import type { ChunkStream, StreamEvent } from "../backends/backend.ts";
import type { ChatCompletion, ChatCompletionChunk, ChunkDelta } from "../canonical/types.ts";
import type { StreamWriter } from "../frontends/frontend.ts";

/** How to cut the completion into chunks. */
export interface SynthesisOptions {
  /** Most UTF-16 units of text per delta (a piece may be one shorter to keep a pair whole). */
  pieceSize: number;
  /** Send a final `choices: []` chunk with usage (`stream_options.include_usage`). */
  includeUsage: boolean;
}

/**
 * Pushes onto `out` the JSON of every chunk of one choice, in stream order (role, reasoning,
 * content, tool calls) but for the final one; `frame` is the event's text around its delta.
 */
function pushChoiceChunks(
  out: string[],
  [open, close]: readonly [string, string],
  message: ChatCompletion["choices"][number]["message"],
  size: number,
): void {
  out.push(`${open}{"role":"assistant","content":""}${close}`);
  const text = (field: string, value: string | null | undefined) =>
    pushJsonPieces(out, value ?? "", size, `${open}{"${field}":`, `}${close}`);
  text("reasoning_content", message.reasoning_content);
  text("content", message.content);
  for (const [i, call] of (message.tool_calls ?? []).entries()) {
    const delta: ChunkDelta = {
      tool_calls: [{
        index: i,
        id: call.id,
        type: call.type ?? "function",
        function: { name: call.function?.name ?? "", arguments: "" },
      }],
    };
    out.push(`${open}${JSON.stringify(delta)}${close}`);
    const args = `${open}{"tool_calls":[{"index":${i},"function":{"arguments":`;
    pushJsonPieces(out, call.function?.arguments ?? "", size, args, `}}]}${close}`);
  }
}

/** The closing `choices: []` chunk with usage, when it is asked for and known. */
function usageChunk(
  completion: ChatCompletion,
  options: SynthesisOptions,
): ChatCompletionChunk | undefined {
  if (!options.includeUsage || !completion.usage) return undefined;
  const { id, created, model, usage } = completion;
  return { id, object: "chat.completion.chunk", created, model, choices: [], usage };
}

/**
 * Pushes onto `out` every chunk for `completion`, each chunk's JSON between `event[0]` and
 * `event[1]`, in fragments to be joined. What every chunk shares (`id`, `object`, `created`,
 * `model`) is serialised once, so a chunk costs only the stringifying of its delta, and a text
 * delta not even that; each chunk's text is what `JSON.stringify` would make of it.
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * pushCompletionChunks(out, completion, { pieceSize: 32, includeUsage: false }, ["data: ", "\n\n"]);
 * const body = out.join("");
 * ```
 */
export function pushCompletionChunks(
  out: string[],
  completion: ChatCompletion,
  options: SynthesisOptions,
  [before, after]: readonly [string, string],
): void {
  const { id, created, model } = completion;
  const shared = JSON.stringify({ id, object: "chat.completion.chunk", created, model });
  const head = `${before}${shared.slice(0, -1)},"choices":[{"index":`;
  const tail = `${options.includeUsage ? `}],"usage":null}` : `}]}`}${after}`;
  for (const { index, message, finish_reason } of completion.choices) {
    const open = `${head}${index},"delta":`;
    pushChoiceChunks(out, [open, `,"finish_reason":null${tail}`], message, options.pieceSize);
    out.push(`${open}{},"finish_reason":${JSON.stringify(finish_reason ?? "stop")}${tail}`);
  }
  const last = usageChunk(completion, options);
  if (last) out.push(`${before}${JSON.stringify(last)}${after}`);
}

/**
 * The chunks for `completion` ({@link pushCompletionChunks}), as the JSON text of each.
 *
 * @example
 * ```ts
 * const chunks = completionChunkJson(completion, { pieceSize: 32, includeUsage: false })
 *   .map((json) => JSON.parse(json));
 * ```
 */
export function completionChunkJson(
  completion: ChatCompletion,
  options: SynthesisOptions,
): string[] {
  const out: string[] = [];
  // JSON.stringify never writes a raw line break: one ends each chunk unambiguously.
  pushCompletionChunks(out, completion, options, ["", "\n"]);
  return out.join("").split("\n").slice(0, -1);
}

/**
 * About how much event text one pull of {@link synthesizedEvents} hands over. Events go in batches
 * because each write to the client has a fixed cost far above that of a 200-byte event; the cap
 * keeps a pull bounded, so a slow client still holds back a long answer, and no string made is
 * larger than that.
 */
const BATCH_CHARS = 16 * 1024;

/**
 * The events of `completion` in `writer`'s dialect, as a {@link ChunkStream} of ready-made wire
 * text, a batch of about {@link BATCH_CHARS} joined each time the reader pulls. A writer without
 * a whole-completion path of its own gets the chunks one by one, as if they had been streamed.
 *
 * @example
 * ```ts
 * const events = synthesizedEvents(completion, { pieceSize: 32, includeUsage: true }, writer);
 * ```
 */
export function synthesizedEvents(
  completion: ChatCompletion,
  options: SynthesisOptions,
  writer: StreamWriter,
): ChunkStream {
  const parts = completionParts(completion, options, writer);
  let next = 0;
  return new ReadableStream<StreamEvent>({
    pull(controller) {
      // Nothing else is written between two batches, so a batch may end inside an event.
      const from = next;
      for (let chars = 0; next < parts.length && chars < BATCH_CHARS; next++) {
        chars += parts[next].length;
      }
      if (from === next) controller.close();
      else controller.enqueue({ frames: parts.slice(from, next).join("") });
    },
  }, { highWaterMark: 0 });
}

/**
 * The most text (content, reasoning and tool arguments, in UTF-16 units) of a completion that
 * {@link synthesizedText} writes as one string; a longer answer goes out in batches, so that no
 * string made for it is larger than a batch.
 */
const ONE_BODY_CHARS = 256 * 1024;

/** True when `completion` is small enough for {@link synthesizedText}. */
export function fitsOneBody(completion: ChatCompletion): boolean {
  let chars = 0;
  for (const { message } of completion.choices) {
    chars += (message.content?.length ?? 0) + (message.reasoning_content?.length ?? 0);
    for (const call of message.tool_calls ?? []) chars += call.function?.arguments?.length ?? 0;
  }
  return chars <= ONE_BODY_CHARS;
}

/**
 * Every event of `completion` in `writer`'s dialect, closing text included, as one string: the
 * body of a stream whose answer is already whole, sent in one go (no stream to pull, no batch
 * to encode). Its fragments are concatenated once, so no event is copied on its way into the body.
 *
 * @example
 * ```ts
 * return new Response(synthesizedText(completion, options, writer), { headers: writer.headers });
 * ```
 */
export function synthesizedText(
  completion: ChatCompletion,
  options: SynthesisOptions,
  writer: StreamWriter,
): string {
  const parts = completionParts(completion, options, writer);
  parts.push(writer.end());
  // Concatenated, not joined: the fragments become one rope, which V8 makes flat in one pass
  // when the body is counted or written, for less than `join` costs (−3 to −5 % CPU per chat
  // stream request, bench/RESULTS.md round 5).
  let text = "";
  for (const part of parts) text += part;
  return text;
}

/**
 * The text of every event of `completion`, in fragments: the writer's own whole-completion path,
 * else each chunk written by `writer`. The chunks are parsed back from their JSON rather than
 * built a second way, so both paths cut a completion identically.
 */
function completionParts(
  completion: ChatCompletion,
  options: SynthesisOptions,
  writer: StreamWriter,
): string[] {
  writer.whole?.(completion);
  const out: string[] = [];
  if (writer.completionParts) {
    writer.completionParts(completion, out);
    return out;
  }
  for (const json of completionChunkJson(completion, options)) {
    out.push(writer.chunk(JSON.parse(json) as ChatCompletionChunk));
  }
  return out;
}

/**
 * Pushes onto `out`, for each piece of `text`, the event around it: `open`, the piece as a JSON
 * string, `close`. Pieces are at most `size` UTF-16 units, never cut between the two halves of a
 * surrogate pair, so every piece is valid text on its own. Text with nothing to escape (the usual
 * case) goes in as slices between quotes: no `JSON.stringify` and no concatenation per piece.
 * `open` may be a function that pushes what comes before each piece, when that changes from one
 * event to the next (a sequence number, say).
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * pushJsonPieces(out, 'ab"c', 2, "data: {\"text\":", "}\n\n");
 * out.join(""); // 'data: {"text":"ab"}\n\ndata: {"text":"\\"c"}\n\n'
 * ```
 */
export function pushJsonPieces(
  out: string[],
  text: string,
  size: number,
  open: string | ((out: string[]) => void),
  close: string,
): void {
  if (text === "") return;
  // Escaping is per character and a piece never splits a surrogate pair: text that needs none
  // as a whole needs none in any piece.
  const plain = JSON.stringify(text).length === text.length + 2;
  const opening = typeof open !== "string" ? undefined : plain ? `${open}"` : open;
  const closing = plain ? `"${close}` : close;
  for (let start = 0; start < text.length;) {
    const end = pieceEnd(text, start, size);
    if (opening !== undefined) out.push(opening);
    else {
      (open as (out: string[]) => void)(out);
      if (plain) out.push('"');
    }
    const piece = text.slice(start, end);
    out.push(plain ? piece : JSON.stringify(piece), closing);
    start = end;
  }
}

/** Where the piece of `text` from `start` ends: `size` on, or one less to keep a pair whole. */
function pieceEnd(text: string, start: number, size: number): number {
  const end = Math.min(start + size, text.length);
  // A high surrogate right before the cut means the cut is inside a code point.
  return end < text.length && end - start > 1 && isHighSurrogate(text.charCodeAt(end - 1))
    ? end - 1
    : end;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
