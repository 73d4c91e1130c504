/**
 * The body of a synthesized SSE response: waits for the upstream's completion (sending keep-alive
 * comments meanwhile, when asked), then emits its chunks as the client pulls them.
 *
 * @module
 */

import { type ApiError, toApiError } from "./errors.ts";
import { completionChunks, type SynthesisOptions } from "./synthesize.ts";
import { dataFrame, DONE_FRAME, KEEP_ALIVE_FRAME } from "./sse.ts";
import type { ChatCompletion, ChatCompletionChunk } from "./types.ts";

/** Options for {@link synthesizedStream}. */
export interface SynthesizedStreamOptions extends SynthesisOptions {
  /** Send `: keep-alive` every this many ms until the completion arrives; 0 = never. */
  keepAliveMs: number;
  /** The client went away: stop the upstream call. */
  onCancel: () => void;
  /** The stream ended (normally, with `error` sent as an event, or cancelled). */
  onEnd?: (outcome: "done" | "error" | "cancelled", error?: ApiError) => void;
}

/**
 * @example
 * ```ts
 * const body = synthesizedStream(backend.complete(req, ctx), {
 *   pieceSize: 32, includeUsage: false, keepAliveMs: 15_000, onCancel: () => upstream.abort(),
 * });
 * return new Response(body, { headers: SSE_HEADERS });
 * ```
 */
export function synthesizedStream(
  completion: Promise<ChatCompletion>,
  options: SynthesizedStreamOptions,
): ReadableStream<Uint8Array> {
  // Observed here so an early failure is never an unhandled rejection; pull() reports it.
  completion.catch(() => {});
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let chunks: Iterator<ChatCompletionChunk> | undefined;
  const stopKeepAlive = () => {
    clearInterval(keepAlive);
    keepAlive = undefined;
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (options.keepAliveMs > 0) {
        keepAlive = setInterval(() => controller.enqueue(KEEP_ALIVE_FRAME), options.keepAliveMs);
      }
    },
    async pull(controller) {
      if (!chunks) {
        try {
          chunks = completionChunks(await completion, options);
        } catch (err) {
          // Headers are out already: the error has to travel as an event.
          stopKeepAlive();
          const error = toApiError(err);
          controller.enqueue(dataFrame(error.toBody()));
          controller.close();
          options.onEnd?.("error", error);
          return;
        }
        stopKeepAlive();
      }
      const next = chunks.next();
      if (next.done) {
        controller.enqueue(DONE_FRAME);
        controller.close();
        options.onEnd?.("done");
      } else {
        controller.enqueue(dataFrame(next.value));
      }
    },
    cancel() {
      stopKeepAlive();
      options.onCancel();
      options.onEnd?.("cancelled");
    },
  });
}
