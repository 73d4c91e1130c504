/**
 * A pass-through for streamed response bodies that counts the bytes handed to the client and
 * says once how the stream ended, so a streamed request is logged and measured when it is
 * really over rather than when its headers went out.
 *
 * @module
 */

/** How a body stream ended: read to the end, failed, or cancelled by the client. */
export type BodyEnd = "done" | "error" | "cancelled";

/**
 * Wraps `source`; `onEnd` runs exactly once, with the bytes delivered. Reads are pulled one at a
 * time, so backpressure reaches the source, and a client's cancel is passed on to it.
 *
 * @example
 * ```ts
 * const body = meteredBody(sse, (bytes, end) => log.info(`${end} after ${bytes} bytes`));
 * return new Response(body, { headers: SSE_HEADERS });
 * ```
 */
export function meteredBody(
  source: ReadableStream<Uint8Array>,
  onEnd: (bytes: number, end: BodyEnd) => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let bytes = 0;
  let ended = false;
  const end = (how: BodyEnd) => {
    if (ended) return;
    ended = true;
    onEnd(bytes, how);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        end("error");
        controller.error(err);
        return;
      }
      if (next.done) {
        controller.close();
        end("done");
        return;
      }
      bytes += next.value.byteLength;
      controller.enqueue(next.value);
    },
    cancel(reason) {
      end("cancelled");
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
