/**
 * The Responses API's server-sent events as text: `event: <type>` and one `data:` line whose JSON
 * starts with the type and the stream's `sequence_number`. Delta events, by far the most, are
 * written from templates made once per content part, so a delta costs its sequence number and
 * the escaping of its text (none, for text with nothing to escape).
 *
 * @module
 */

import { pushJsonPieces } from "../../streams/synthesize.ts";

/**
 * Numbers the events of one stream, from 0.
 *
 * @example
 * ```ts
 * const seq = new EventSequence();
 * seq.event("response.in_progress", { response }); // 'event: response.in_progress\ndata: {"type":…,"sequence_number":0,…}\n\n'
 * ```
 */
export class EventSequence {
  #next = 0;

  /** The next event, with `fields` after its type and sequence number. */
  event(type: string, fields: Record<string, unknown>): string {
    return this.eventJson(type, JSON.stringify(fields));
  }

  /** {@link EventSequence.event} with the fields already serialised, for JSON sent more than once. */
  eventJson(type: string, fieldsJson: string): string {
    const rest = fieldsJson === "{}" ? "}" : `,${fieldsJson.slice(1)}`;
    return `${eventHead(type)}${this.#next++}${rest}\n\n`;
  }

  /** A template for the deltas of one part: same type and fields, only the text changes. */
  deltas(type: string, fields: Record<string, unknown>, after = ""): DeltaTemplate {
    return new DeltaTemplate(this, eventHead(type), fields, after);
  }

  /** Used by {@link DeltaTemplate}. */
  take(): number {
    return this.#next++;
  }
}

function eventHead(type: string): string {
  return `event: ${type}\ndata: {"type":"${type}","sequence_number":`;
}

/**
 * Delta events of one part; see {@link EventSequence.deltas}.
 *
 * @example
 * ```ts
 * const deltas = seq.deltas("response.output_text.delta", { item_id: "msg_1", output_index: 0 });
 * const out: string[] = [];
 * deltas.push(out, "Hello", 3); // two events: "Hel", "lo"
 * out.join("");
 * ```
 */
export class DeltaTemplate {
  readonly #mid: string;
  readonly #tail: string;

  constructor(
    private readonly seq: EventSequence,
    private readonly head: string,
    fields: Record<string, unknown>,
    after: string,
  ) {
    const json = JSON.stringify(fields);
    this.#mid = `${json === "{}" ? "" : `,${json.slice(1, -1)}`},"delta":`;
    this.#tail = `${after}}\n\n`;
  }

  /** Pushes onto `out` the events carrying `text`, in pieces of at most `size`. */
  push(out: string[], text: string, size: number): void {
    pushJsonPieces(
      out,
      text,
      size,
      (o) => o.push(this.head, String(this.seq.take()), this.#mid),
      this.#tail,
    );
  }
}
