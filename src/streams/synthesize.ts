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
 * Pushes onto `out` one chunk's JSON per piece of `text`: `open`, the delta (`before`, the piece
 * as a JSON string, `after`), `close`.
 */
function pushTextChunks(
  out: string[],
  [open, close]: readonly [string, string],
  [before, after]: readonly [string, string],
  text: string,
  size: number,
): void {
  const head = `${open}${before}`;
  const tail = `${after}${close}`;
  for (const piece of jsonPieces(text, size)) out.push(head + piece + tail);
}

/**
 * Pushes onto `out` the JSON of every chunk of one choice, in stream order (role, reasoning,
 * content, tool calls) but for the final one; `frame` is the chunk's text around its delta.
 */
function pushChoiceChunks(
  out: string[],
  frame: readonly [string, string],
  message: ChatCompletion["choices"][number]["message"],
  size: number,
): void {
  out.push(`${frame[0]}{"role":"assistant","content":""}${frame[1]}`);
  pushTextChunks(out, frame, [`{"reasoning_content":`, "}"], message.reasoning_content ?? "", size);
  pushTextChunks(out, frame, [`{"content":`, "}"], message.content ?? "", size);
  for (const [i, call] of (message.tool_calls ?? []).entries()) {
    const delta: ChunkDelta = {
      tool_calls: [{
        index: i,
        id: call.id,
        type: call.type ?? "function",
        function: { name: call.function?.name ?? "", arguments: "" },
      }],
    };
    out.push(`${frame[0]}${JSON.stringify(delta)}${frame[1]}`);
    const args = [`{"tool_calls":[{"index":${i},"function":{"arguments":`, "}}]}"] as const;
    pushTextChunks(out, frame, args, call.function?.arguments ?? "", size);
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
 * The chunks for `completion`, as the JSON text of each. What every chunk shares (`id`,
 * `object`, `created`, `model`) is serialised once, so a chunk costs only the stringifying of its
 * delta, and a text delta not even that; the text is what `JSON.stringify` would make of the
 * whole chunk.
 *
 * @example
 * ```ts
 * const body = completionChunkJson(completion, { pieceSize: 32, includeUsage: false })
 *   .map((json) => `data: ${json}\n\n`).join("");
 * ```
 */
export function completionChunkJson(
  completion: ChatCompletion,
  options: SynthesisOptions,
): string[] {
  const { id, created, model } = completion;
  const shared = JSON.stringify({ id, object: "chat.completion.chunk", created, model });
  const head = `${shared.slice(0, -1)},"choices":[{"index":`;
  const tail = options.includeUsage ? `}],"usage":null}` : `}]}`;
  const out: string[] = [];
  for (const { index, message, finish_reason } of completion.choices) {
    const open = `${head}${index},"delta":`;
    pushChoiceChunks(out, [open, `,"finish_reason":null${tail}`], message, options.pieceSize);
    out.push(`${open}{},"finish_reason":${JSON.stringify(finish_reason ?? "stop")}${tail}`);
  }
  const last = usageChunk(completion, options);
  if (last) out.push(JSON.stringify(last));
  return out;
}

/**
 * About how much event text one pull of {@link synthesizedEvents} hands over. Events go in batches
 * because each write to the client has a fixed cost far above that of a 200-byte event; the cap
 * keeps a pull bounded, so a slow client still holds back a long answer.
 */
const BATCH_CHARS = 16 * 1024;

/**
 * The events of `completion` in `writer`'s dialect, as a {@link ChunkStream} of ready-made wire
 * text, a batch of up to {@link BATCH_CHARS} made each time the reader pulls. A writer without a
 * whole-completion path of its own gets the chunks one by one, as if they had been streamed.
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
  writer.whole?.(completion);
  const texts = writer.completionEvents?.(completion)[Symbol.iterator]() ??
    chunkTexts(completion, options, writer);
  return new ReadableStream<StreamEvent>({
    pull(controller) {
      let frames = "";
      for (let next = texts.next(); !next.done; next = texts.next()) {
        frames += next.value;
        if (frames.length >= BATCH_CHARS) break;
      }
      if (frames === "") controller.close();
      else controller.enqueue({ frames });
    },
  }, { highWaterMark: 0 });
}

/**
 * The most text (content, reasoning and tool arguments, in UTF-16 units) of a completion that
 * {@link synthesizedText} writes as one string; a longer answer goes out in batches, so that its
 * first events do not wait for the last to be made.
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
 * to encode).
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
  writer.whole?.(completion);
  const text = writer.completionText?.(completion) ??
    [...writer.completionEvents?.(completion) ?? chunkTexts(completion, options, writer)].join("");
  return text + writer.end();
}

/**
 * Every chunk of `completion` written by `writer`. The chunks are parsed back from their JSON
 * rather than built a second way, so both paths cut a completion identically.
 */
function* chunkTexts(
  completion: ChatCompletion,
  options: SynthesisOptions,
  writer: StreamWriter,
): Generator<string> {
  for (const json of completionChunkJson(completion, options)) {
    yield writer.chunk(JSON.parse(json) as ChatCompletionChunk);
  }
}

/**
 * The pieces of `text` ({@link splitText}) as JSON string literals. Text with nothing to escape
 * (the usual case) is quoted as it is: no `JSON.stringify` per piece.
 *
 * @example
 * ```ts
 * jsonPieces("abcd", 2); // ['"ab"', '"cd"']
 * jsonPieces('a"b', 2); // ['"a\\""', '"b"']
 * ```
 */
export function jsonPieces(text: string, size: number): string[] {
  const out: string[] = [];
  if (text === "") return out;
  // Escaping is per character and a piece never splits a surrogate pair: text that needs none
  // as a whole needs none in any piece.
  const plain = JSON.stringify(text).length === text.length + 2;
  for (let start = 0; start < text.length;) {
    const end = pieceEnd(text, start, size);
    const piece = text.slice(start, end);
    out.push(plain ? `"${piece}"` : JSON.stringify(piece));
    start = end;
  }
  return out;
}

/**
 * Cuts `text` into pieces of at most `size` UTF-16 units, never between the two halves of a
 * surrogate pair, so every piece is valid text on its own.
 */
export function* splitText(text: string, size: number): Generator<string> {
  for (let start = 0; start < text.length;) {
    const end = pieceEnd(text, start, size);
    yield text.slice(start, end);
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
