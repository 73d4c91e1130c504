/**
 * The body of an event-stream response in any dialect: waits for the backend's answer (sending
 * the dialect's keep-alive meanwhile, when asked), then writes its events, synthesized or live,
 * through the dialect's {@link StreamWriter} as the client pulls them, and ends with the writer's
 * closing text exactly once, or with its error event when the answer fails (then broken off, when
 * the writer asks for it).
 *
 * @module
 */

import type { ChunkStream, StreamEvent } from "../backends/backend.ts";
import { type ApiError, toApiError } from "../canonical/errors.ts";
import type { StreamWriter } from "../frontends/frontend.ts";

/** Options for {@link streamBody}. */
export interface StreamBodyOptions {
  /** Send the writer's keep-alive every this many ms until the answer arrives; 0 = never. */
  keepAliveMs: number;
  /** The client went away: stop the upstream call. */
  onCancel: () => void;
  /** Called once, when the first byte of the body (a keep-alive, say) is handed to the server. */
  onFirstByte?: () => void;
  /** Called once when the stream ends, with what was sent. */
  onEnd?: (end: StreamEnd) => void;
}

/** How an event stream ended: its closing events, an error event, or cancelled by the client. */
export interface StreamEnd {
  outcome: "done" | "error" | "cancelled";
  /** The error sent as the last event. */
  error?: ApiError;
  /** Body bytes handed to the server (keep-alives included). */
  bytes: number;
}

const encoder = new TextEncoder();

/**
 * What breaks off a body after its error text ({@link StreamWriter.breaksOffAfterError}): the
 * server sees it as the body's failure and ends the response unfinished.
 */
export class StreamBrokenOff extends Error {
  override readonly name = "StreamBrokenOff";
}

/**
 * `Deno.serve`'s `onError`: a body broken off on purpose ({@link StreamBrokenOff}) is no news;
 * anything else is printed, as Deno's default does.
 *
 * @example
 * ```ts
 * Deno.serve({ port: 8000, onError: onServeError }, handler);
 * ```
 */
export function onServeError(error: unknown): Response {
  if (!(error instanceof StreamBrokenOff)) console.error(error);
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * @example
 * ```ts
 * const writer = openAIStreamWriter();
 * const body = streamBody(events, writer, { keepAliveMs: 15_000, onCancel: () => upstream.abort() });
 * return new Response(body, { headers: writer.headers });
 * ```
 */
export function streamBody(
  events: Promise<ChunkStream>,
  writer: StreamWriter,
  options: StreamBodyOptions,
): ReadableStream<Uint8Array> {
  // Observed here so an early failure is never an unhandled rejection; pull() reports it.
  events.catch(() => {});
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let reader: ReadableStreamDefaultReader<StreamEvent> | undefined;
  let bytes = 0;
  let brokenOff: StreamBrokenOff | undefined;
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    if (text === "") return;
    if (bytes === 0) options.onFirstByte?.();
    const frame = encoder.encode(text);
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
        keepAlive = setInterval(() => send(controller, writer.keepAlive()), options.keepAliveMs);
      }
    },
    async pull(controller) {
      // The error's text went out with the last pull: now the break.
      if (brokenOff) return controller.error(brokenOff);
      try {
        reader ??= (await events).getReader();
        stopKeepAlive();
        // A writer may have nothing to send for an event (an empty delta): read on until it has.
        for (;;) {
          const next = await reader.read();
          if (next.done) {
            send(controller, writer.end());
            controller.close();
            end("done");
            return;
          }
          const event = next.value;
          const text = "chunk" in event
            ? writer.chunk(event.chunk)
            : "frames" in event
            ? event.frames
            : writer.comment(event.comment);
          if (text !== "") return send(controller, text);
        }
      } catch (err) {
        // Headers are out already: the error has to travel as an event.
        stopKeepAlive();
        const error = toApiError(err);
        send(controller, writer.error(error));
        if (writer.breaksOffAfterError) brokenOff = new StreamBrokenOff(error.message);
        else controller.close();
        end("error", error);
      }
    },
    cancel(reason) {
      stopKeepAlive();
      (reader ? reader.cancel(reason) : events.then((s) => s.cancel(reason))).catch(() => {});
      options.onCancel();
      // Gone between the error's text and the break: that end is told already.
      if (!brokenOff) end("cancelled");
    },
  });
}
