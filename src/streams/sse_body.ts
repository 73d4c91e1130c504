/**
 * The body of an SSE response: waits for the backend's answer (sending keep-alive comments
 * meanwhile, when asked), then relays its events, synthesized or live, as the client pulls them,
 * and ends with `[DONE]` exactly once, or with an error event when the answer fails.
 *
 * @module
 */

import type { ChunkStream, StreamEvent } from "../backends/backend.ts";
import { type ApiError, toApiError } from "../canonical/errors.ts";
import { commentFrame, dataFrame, DONE_FRAME, encodeEvents, KEEP_ALIVE_FRAME } from "./sse.ts";

/** Options for {@link sseBody}. */
export interface SseBodyOptions {
  /** Send `: keep-alive` every this many ms until the answer arrives; 0 = never. */
  keepAliveMs: number;
  /** The client went away: stop the upstream call. */
  onCancel: () => void;
  /** Called once when the stream ends, with what was sent. */
  onEnd?: (end: StreamEnd) => void;
}

/** How an event stream ended: `[DONE]`, an error event, or cancelled by the client. */
export interface StreamEnd {
  outcome: "done" | "error" | "cancelled";
  /** The error sent as the last event. */
  error?: ApiError;
  /** Body bytes handed to the server (keep-alives included). */
  bytes: number;
}

/**
 * @example
 * ```ts
 * const events = backend.complete(req, ctx).then((a) =>
 *   a instanceof ReadableStream ? a : synthesizedEvents(a, { pieceSize: 32, includeUsage: false })
 * );
 * const body = sseBody(events, { keepAliveMs: 15_000, onCancel: () => upstream.abort() });
 * return new Response(body, { headers: SSE_HEADERS });
 * ```
 */
export function sseBody(
  events: Promise<ChunkStream>,
  options: SseBodyOptions,
): ReadableStream<Uint8Array> {
  // Observed here so an early failure is never an unhandled rejection; pull() reports it.
  events.catch(() => {});
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let reader: ReadableStreamDefaultReader<StreamEvent> | undefined;
  let bytes = 0;
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, frame: Uint8Array) => {
    bytes += frame.byteLength;
    controller.enqueue(frame);
  };
  const end = (outcome: StreamEnd["outcome"], error?: ApiError) =>
    options.onEnd?.({ outcome, error, bytes });
  const stopKeepAlive = () => {
    clearInterval(keepAlive);
    keepAlive = undefined;
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (options.keepAliveMs > 0) {
        keepAlive = setInterval(() => send(controller, KEEP_ALIVE_FRAME), options.keepAliveMs);
      }
    },
    async pull(controller) {
      try {
        reader ??= (await events).getReader();
        stopKeepAlive();
        const next = await reader.read();
        if (next.done) {
          send(controller, DONE_FRAME);
          controller.close();
          end("done");
        } else {
          const event = next.value;
          send(
            controller,
            "chunk" in event
              ? dataFrame(event.chunk)
              : "frames" in event
              ? encodeEvents(event.frames)
              : commentFrame(event.comment),
          );
        }
      } catch (err) {
        // Headers are out already: the error has to travel as an event.
        stopKeepAlive();
        const error = toApiError(err);
        send(controller, dataFrame(error.toBody()));
        controller.close();
        end("error", error);
      }
    },
    cancel(reason) {
      stopKeepAlive();
      (reader ? reader.cancel(reason) : events.then((s) => s.cancel(reason))).catch(() => {});
      options.onCancel();
      end("cancelled");
    },
  });
}
