/**
 * Parses a server-sent-events byte stream into events and comments, as it arrives. TCP reads cut
 * the stream anywhere (inside a line, inside a UTF-8 sequence, between `\r` and `\n`, or carry
 * several events at once); the parser reassembles it following the WHATWG event-stream rules.
 *
 * @module
 */

/** One dispatched event: its `data:` lines joined by `\n`. */
export interface SseEvent {
  type: "event";
  /** The `event:` field, `"message"` when absent. */
  event: string;
  data: string;
  /** The `id:` field, when the event carried one. */
  id?: string;
}

/** A comment line (`: keep-alive`): `text` is everything after the colon. */
export interface SseComment {
  type: "comment";
  text: string;
}

/** What {@link SseParser} emits, in stream order. */
export type SseItem = SseEvent | SseComment;

/** Options of {@link SseParser}. */
export interface SseParserOptions {
  /** Most UTF-16 units one event (or comment) may hold before the stream errors. */
  maxEventLength?: number;
}

/** The stream errors with this when an event grows past `maxEventLength`. */
export class SseEventTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`server-sent event larger than ${limit} characters`);
    this.name = "SseEventTooLarge";
  }
}

const LF = 10;
const CR = 13;

/**
 * A `TransformStream` from SSE bytes to {@link SseItem}s. Comments are emitted where they occur;
 * an event is emitted at the blank line that ends it. Unlike a browser, an event still pending
 * when the stream ends is emitted too, so a relay never drops an upstream's last words (and a
 * truncated one shows up as such).
 *
 * @example
 * ```ts
 * const items = new Response("data: a\r\n\r\n: ping\ndata: b\n\n").body!
 *   .pipeThrough(new SseParser());
 * for await (const item of items) console.log(item);
 * // { type: "event", event: "message", data: "a" }, { type: "comment", text: " ping" }, …
 * ```
 */
export class SseParser extends TransformStream<Uint8Array, SseItem> {
  constructor(options: SseParserOptions = {}) {
    super(new SseTransformer(options.maxEventLength ?? Infinity));
  }
}

class SseTransformer implements Transformer<Uint8Array, SseItem> {
  // Not fatal: the SSE standard decodes with replacement characters rather than failing.
  readonly #decoder = new TextDecoder();
  /** The current line, not yet terminated. */
  #line = "";
  /** The previous text ended with `\r`: a `\n` starting the next one belongs to it. */
  #afterCR = false;
  #data: string[] = [];
  #dataLength = 0;
  #event = "";
  #id: string | undefined;

  constructor(private readonly maxLength: number) {}

  transform(bytes: Uint8Array, controller: TransformStreamDefaultController<SseItem>): void {
    this.#feed(this.#decoder.decode(bytes, { stream: true }), controller);
  }

  flush(controller: TransformStreamDefaultController<SseItem>): void {
    this.#feed(this.#decoder.decode(), controller);
    if (this.#line !== "") this.#processLine(this.#line, controller);
    this.#dispatch(controller);
  }

  #feed(text: string, controller: TransformStreamDefaultController<SseItem>): void {
    if (text === "") return;
    let start = 0;
    if (this.#afterCR && text.charCodeAt(0) === LF) start = 1;
    this.#afterCR = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line = this.#line + text.slice(start, i);
      this.#line = "";
      this.#processLine(line, controller);
      if (c === CR) {
        if (i + 1 === text.length) this.#afterCR = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    this.#line += text.slice(start);
    if (this.#line.length + this.#dataLength > this.maxLength) {
      throw new SseEventTooLarge(this.maxLength);
    }
  }

  #processLine(line: string, controller: TransformStreamDefaultController<SseItem>): void {
    if (line === "") return this.#dispatch(controller);
    const colon = line.indexOf(":");
    if (colon === 0) return controller.enqueue({ type: "comment", text: line.slice(1) });
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        this.#dataLength += value.length + 1;
        if (this.#dataLength > this.maxLength) throw new SseEventTooLarge(this.maxLength);
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
        // `retry:` and unknown fields mean nothing to a relay.
    }
  }

  #dispatch(controller: TransformStreamDefaultController<SseItem>): void {
    if (this.#data.length > 0) {
      const event: SseEvent = {
        type: "event",
        event: this.#event || "message",
        data: this.#data.join("\n"),
      };
      if (this.#id !== undefined) event.id = this.#id;
      controller.enqueue(event);
    }
    this.#data = [];
    this.#dataLength = 0;
    this.#event = "";
    this.#id = undefined;
  }
}
