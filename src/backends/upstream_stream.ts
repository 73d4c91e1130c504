/**
 * An upstream's live `text/event-stream` answer as a {@link ChunkStream}: bytes are parsed as SSE
 * and decoded into `chat.completion.chunk`s one read at a time, as the client pulls, so nothing
 * is buffered beyond the read in hand. Chunks are made consistent on the way (one `id`,
 * `created` and `model` for all; reasoning sent as `reasoning` or as a leading `<think>` block in
 * the content becomes `reasoning_content`), and every way the upstream can fail becomes an
 * `ApiError` the client will see as an error event.
 *
 * @module
 */

import type { ChunkStream, StreamEvent } from "./backend.ts";
import {
  ApiError,
  CLIENT_CLOSED,
  isRecord,
  parseUpstreamError,
  snippet,
} from "../canonical/errors.ts";
import { ThinkSplitter } from "../streams/reasoning.ts";
import { type SseItem, SseParser } from "../streams/sse_parser.ts";
import type { ChatCompletionChunk } from "../canonical/types.ts";

/** Options of {@link upstreamChunks}. */
export interface UpstreamStreamOptions {
  /** Who the upstream is, for messages: "InternLM". */
  vendor: string;
  /** The model asked for: reported when the upstream's chunks name none. */
  model: string;
  /** Longest silence of the upstream while the client waits for more; then a 504 error. */
  idleMs: number;
  /** Largest single event accepted (characters). */
  maxEventLength: number;
  /** Aborts when the client has gone: the upstream body is cancelled at once. */
  signal: AbortSignal;
  /** Removes key material from upstream text before it reaches a message. */
  redact: (text: string) => string;
}

/**
 * Relays `reader` (an upstream body whose first read, `first`, was already taken: key failover
 * happens before it) as chunks. Cancelling the result cancels the upstream body.
 *
 * @example
 * ```ts
 * const reader = res.body!.getReader();
 * const first = await reader.read(); // network errors here may still be retried
 * const chunks = upstreamChunks(reader, first.value!, {
 *   vendor: "vLLM", model: "qwen", idleMs: 300_000, maxEventLength: 1 << 20,
 *   signal, redact: (t) => t,
 * });
 * ```
 */
export function upstreamChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array,
  options: UpstreamStreamOptions,
): ChunkStream {
  const items = watchedBody(reader, first, options)
    .pipeThrough(new SseParser({ maxEventLength: options.maxEventLength }))
    .getReader();
  const decoder = new ChunkDecoder(options);
  const end = (controller: ReadableStreamDefaultController<StreamEvent>) => {
    const rest = decoder.end();
    if (rest) controller.enqueue(rest);
    controller.close();
  };
  return new ReadableStream<StreamEvent>({
    async pull(controller) {
      // Loops only over items that yield nothing to send (ignored events).
      for (;;) {
        let item: SseItem;
        try {
          const next = await items.read();
          if (next.done) return end(controller);
          item = next.value;
        } catch (err) {
          throw streamError(err, options.vendor);
        }
        let event: StreamEvent | "done" | undefined;
        try {
          event = decoder.decode(item);
        } catch (err) {
          items.cancel().catch(() => {});
          throw err;
        }
        if (event === "done") {
          // Whatever an upstream sends after [DONE] is not part of the answer.
          items.cancel().catch(() => {});
          return end(controller);
        }
        if (event) return controller.enqueue(event);
      }
    },
    cancel(reason) {
      return items.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * The upstream body as a pull-based stream that starts with `first`, fails when the upstream is
 * silent for `idleMs` while a read is pending, and is cancelled when `signal` aborts.
 */
function watchedBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array,
  { vendor, idleMs, signal }: UpstreamStreamOptions,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | undefined = first;
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  // The client may have left while the first read was under way.
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const release = () => signal.removeEventListener("abort", onAbort);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      let idle = false;
      const timer = setTimeout(() => {
        idle = true;
        reader.cancel().catch(() => {});
      }, idleMs);
      try {
        const { done, value } = await reader.read();
        // A cancelled read ends "done": tell why, or a cut-short answer would look complete.
        if (idle) {
          throw new ApiError(504, `${vendor} sent nothing for ${idleMs / 1000}s mid-stream`, {
            code: "upstream_timeout",
          });
        }
        // The caller's own reason (a shutdown's 503) or a hang-up.
        if (signal.aborted) {
          throw signal.reason instanceof ApiError
            ? signal.reason
            : new ApiError(CLIENT_CLOSED, "client closed the stream", { code: "client_closed" });
        }
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        release();
        throw err;
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function streamError(err: unknown, vendor: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof Error && err.name === "SseEventTooLarge") {
    return new ApiError(502, `${vendor} sent an event larger than the limit: ${err.message}`, {
      code: "upstream_response_too_large",
    });
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new ApiError(502, `${vendor} stream broke off: ${reason}`, {
    code: "upstream_stream_error",
  });
}

/**
 * Turns SSE items into stream events. Stateful: every chunk reports the first one's ids, and each
 * choice's content goes through its own {@link ThinkSplitter}.
 */
class ChunkDecoder {
  #ids: { id: string; created: number; model: string } | undefined;
  readonly #thinking = new Map<number, ThinkSplitter>();

  constructor(private readonly options: UpstreamStreamOptions) {}

  /** The event to send for `item`, "done" at `[DONE]`, or undefined for nothing. */
  decode(item: SseItem): StreamEvent | "done" | undefined {
    if (item.type === "comment") return { comment: item.text };
    // Named events other than errors (pings and the like) and empty heartbeats carry no chunk.
    if (item.event !== "message" && item.event !== "error") return undefined;
    if (item.data.trim() === "") return undefined;
    if (item.data === "[DONE]") return "done";
    let data: unknown;
    try {
      data = JSON.parse(item.data);
    } catch {
      if (item.event === "error") throw this.#failed(item.data);
      throw this.#bad(`an event that is not JSON: ${snippet(this.options.redact(item.data))}`);
    }
    if (!isRecord(data)) throw this.#bad("an event that is not a JSON object");
    // OpenAI-style upstreams report a failure after the 200 as an event with an `error` member.
    if (item.event === "error" || data.error !== undefined && data.error !== null) {
      throw this.#failed(item.data);
    }
    if (!Array.isArray(data.choices)) {
      throw this.#bad(`a chunk without choices: ${snippet(this.options.redact(item.data))}`);
    }
    return { chunk: this.#normalize(data, data.choices) };
  }

  #normalize(data: Record<string, unknown>, choices: unknown[]): ChatCompletionChunk {
    this.#ids ??= {
      id: nonEmpty(data.id) ?? `chatcmpl-${crypto.randomUUID()}`,
      created: typeof data.created === "number" ? data.created : Math.floor(Date.now() / 1000),
      model: nonEmpty(data.model) ?? this.options.model,
    };
    Object.assign(data, this.#ids, { object: "chat.completion.chunk" });
    for (const [i, choice] of choices.entries()) {
      if (!isRecord(choice)) throw this.#bad(`a chunk whose choice ${i} is not an object`);
      if (typeof choice.index !== "number") choice.index = i;
      choice.finish_reason ??= null;
      if (!isRecord(choice.delta)) choice.delta = {};
      const delta = choice.delta as Record<string, unknown>;
      // vLLM, Ollama and OpenRouter say `reasoning`; clients read `reasoning_content`.
      if (delta.reasoning_content == null && typeof delta.reasoning === "string") {
        delta.reasoning_content = delta.reasoning;
      }
      delete delta.reasoning;
      this.#splitThink(choice.index as number, delta, choice.finish_reason !== null);
    }
    return data as unknown as ChatCompletionChunk;
  }

  /** Moves a `<think>` block out of the content; a finished choice gets what was held back. */
  #splitThink(index: number, delta: Record<string, unknown>, finished: boolean): void {
    const hasContent = typeof delta.content === "string";
    if (!hasContent && !finished) return;
    let splitter = this.#thinking.get(index);
    if (!splitter) this.#thinking.set(index, splitter = new ThinkSplitter());
    const piece = hasContent ? splitter.push(delta.content as string) : undefined;
    const rest = finished ? splitter.end() : undefined;
    const reasoning = (piece?.reasoning ?? "") + (rest?.reasoning ?? "");
    const content = (piece?.content ?? "") + (rest?.content ?? "");
    if (reasoning !== "") {
      const before = typeof delta.reasoning_content === "string" ? delta.reasoning_content : "";
      delta.reasoning_content = before + reasoning;
    }
    // The role chunk keeps its `content: ""`; other deltas lose content that was all held back.
    if (content !== "" || (hasContent && delta.role !== undefined)) delta.content = content;
    else delete delta.content;
  }

  /** The stream is over: a last chunk with anything still held back, if there is any. */
  end(): StreamEvent | undefined {
    const choices = [];
    for (const [index, splitter] of this.#thinking) {
      const { reasoning, content } = splitter.end();
      if (reasoning === "" && content === "") continue;
      const delta = reasoning === "" ? { content } : { reasoning_content: reasoning };
      choices.push({ index, delta, finish_reason: null });
    }
    if (choices.length === 0 || !this.#ids) return undefined;
    return { chunk: { ...this.#ids, object: "chat.completion.chunk", choices } };
  }

  #failed(text: string): ApiError {
    const detail = parseUpstreamError(this.options.redact(text));
    return new ApiError(502, `${this.options.vendor} stream failed: ${detail.message}`, {
      code: "upstream_error",
    });
  }

  #bad(what: string): ApiError {
    return new ApiError(502, `${this.options.vendor} returned ${what}`, {
      code: "bad_upstream_response",
    });
  }
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
