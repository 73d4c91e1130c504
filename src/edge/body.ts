/**
 * Reading a body with a size cap. Both directions need it: a client must not make the proxy
 * buffer without bound, and neither may an upstream.
 *
 * @module
 */

/** Thrown by {@link readCapped} when the body passes its cap. */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`body is larger than ${limit} bytes`);
    this.name = "BodyTooLarge";
  }
}

/**
 * Reads a whole stream, failing with {@link BodyTooLarge} as soon as it passes `maxBytes`; the
 * rest is cancelled, not read.
 */
async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw new BodyTooLarge(maxBytes);
      parts.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/**
 * Reads the whole body of a request or response, failing with {@link BodyTooLarge} past
 * `maxBytes`. A body of declared length within the cap is read in one go, which costs far less
 * than chunk by chunk: the HTTP layer never delivers more than the `content-length` it framed the
 * body with. A body without one, or decompressed on the way in (`content-encoding`, where the
 * declared length is the compressed one), is read chunk by chunk and cut off at the cap.
 *
 * @example
 * ```ts
 * const bytes = await readCappedBody(await fetch(url), 32 * 1024 * 1024);
 * ```
 */
export function readCappedBody(
  message: Request | Response,
  maxBytes: number,
): Promise<Uint8Array> {
  // Not an async function: the usual body is the runtime's own promise, with no wrapper around it.
  const { headers } = message;
  const declared = headers.get("content-length");
  if (declared !== null && !headers.has("content-encoding")) {
    const length = Number(declared);
    if (length > maxBytes) {
      message.body?.cancel().catch(() => {});
      return Promise.reject(new BodyTooLarge(maxBytes));
    }
    if (Number.isSafeInteger(length)) return message.bytes();
  }
  return readCapped(message.body, maxBytes);
}

const fatal = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();

/**
 * Strict UTF-8: invalid bytes are an error (a `TypeError`), never silently replaced. The
 * runtime's lenient decoder is several times faster than its fatal one, and it marks every
 * invalid byte with U+FFFD: only a text that holds one (invalid input, or a real U+FFFD) is
 * decoded again, strictly.
 *
 * @example
 * ```ts
 * strictUtf8.decode(new Uint8Array([0xc3, 0xa9])); // "é"
 * strictUtf8.decode(new Uint8Array([0xff])); // throws TypeError
 * ```
 */
export const strictUtf8 = {
  decode(bytes: Uint8Array): string {
    const text = lenient.decode(bytes);
    return text.includes("\uFFFD") ? fatal.decode(bytes) : text;
  },
};
