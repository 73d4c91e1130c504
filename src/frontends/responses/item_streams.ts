/**
 * One output item as events: opened (`response.output_item.added`, and its first part), grown by
 * deltas, closed (the `.done` events, then `response.output_item.done` with the whole item). The
 * item is built as it streams, so what `response.completed` and the store get is exactly what
 * the events said.
 *
 * @module
 */

import type { DeltaTemplate, EventSequence } from "./events.ts";
import { textPart } from "./response.ts";
import { customInput } from "./tools.ts";
import type {
  ContentPart,
  CustomToolCallItem,
  FunctionCallItem,
  MessageItem,
  OutputItem,
  ReasoningItem,
} from "./types.ts";

/** An output item being streamed. */
export interface ItemStream {
  readonly item: OutputItem;
  /** True once {@link ItemStream.close} sent `response.output_item.done`. */
  readonly closed: boolean;
  /** The closed item as JSON, made once: the item's text is escaped once for all its events. */
  json(): string;
  open(): string;
  /**
   * Text for the item (reasoning, answer text, or a tool call's chat arguments): its delta
   * events pushed onto `out`, in pieces of at most `size` ({@link LIVE} for one event).
   */
  push(out: string[], text: string, size: number): void;
  close(): string;
}

/** The `size` of {@link ItemStream.push} that sends a live delta as it came, as one event. */
export const LIVE = Infinity;

abstract class BaseStream<T extends OutputItem> implements ItemStream {
  closed = false;

  constructor(
    protected readonly seq: EventSequence,
    readonly index: number,
    readonly item: T,
  ) {}

  abstract open(): string;
  abstract push(out: string[], text: string, size: number): void;
  abstract close(): string;

  protected added(item: OutputItem): string {
    return this.seq.event("response.output_item.added", { output_index: this.index, item });
  }

  #json: string | undefined;

  json(): string {
    return this.#json ??= this.serialize();
  }

  /** The item's JSON; items whose text appears in several events build it from that text's JSON. */
  protected serialize(): string {
    return JSON.stringify(this.item);
  }

  protected done(): string {
    this.closed = true;
    return this.seq.eventJson(
      "response.output_item.done",
      `{"output_index":${this.index},"item":${this.json()}}`,
    );
  }

  protected at(): { item_id: string; output_index: number } {
    return { item_id: this.item.id, output_index: this.index };
  }
}

/**
 * A reasoning item with one summary part.
 *
 * @example
 * ```ts
 * const stream = new ReasoningStream(seq, 0, "rs_1");
 * const out = [stream.open()];
 * stream.push(out, "thinking", LIVE);
 * const text = out.join("") + stream.close();
 * ```
 */
export class ReasoningStream extends BaseStream<ReasoningItem> {
  #deltas: DeltaTemplate | undefined;

  constructor(seq: EventSequence, index: number, id: string) {
    super(seq, index, { type: "reasoning", id, summary: [{ type: "summary_text", text: "" }] });
  }

  open(): string {
    const at = { ...this.at(), summary_index: 0 };
    this.#deltas = this.seq.deltas("response.reasoning_summary_text.delta", at);
    return this.added({ ...this.item, summary: [] }) +
      this.seq.event("response.reasoning_summary_part.added", {
        ...at,
        part: { type: "summary_text", text: "" },
      });
  }

  push(out: string[], text: string, size: number): void {
    this.item.summary[0].text += text;
    this.#deltas!.push(out, text, size);
  }

  close(): string {
    const at = { ...this.at(), summary_index: 0 };
    const head = JSON.stringify(at).slice(0, -1);
    this.#textJson = JSON.stringify(this.item.summary[0].text);
    return this.seq.eventJson(
      "response.reasoning_summary_text.done",
      `${head},"text":${this.#textJson}}`,
    ) +
      this.seq.eventJson(
        "response.reasoning_summary_part.done",
        `${head},"part":${this.#partJson()}}`,
      ) +
      this.done();
  }

  #textJson = '""';

  #partJson(): string {
    return `{"type":"summary_text","text":${this.#textJson}}`;
  }

  protected override serialize(): string {
    return `{"type":"reasoning","id":${
      JSON.stringify(this.item.id)
    },"summary":[${this.#partJson()}]}`;
  }
}

/**
 * An assistant message; its parts are `output_text`, or `refusal` when the model refused.
 *
 * @example
 * ```ts
 * const stream = new MessageStream(seq, 1, "msg_1");
 * const out = [stream.open()];
 * stream.push(out, "Hi", LIVE);
 * const text = out.join("") + stream.close("completed");
 * ```
 */
export class MessageStream extends BaseStream<MessageItem> {
  #deltas: DeltaTemplate | undefined;
  #kind: "output_text" | "refusal" | undefined;
  /** Each closed part's JSON, and the JSON of each `output_text` part's text. */
  readonly #partJsons: string[] = [];
  readonly textJsons: string[] = [];

  constructor(seq: EventSequence, index: number, id: string) {
    super(seq, index, {
      type: "message",
      id,
      status: "in_progress",
      role: "assistant",
      content: [],
    });
  }

  open(): string {
    return this.added({ ...this.item, content: [] });
  }

  push(
    out: string[],
    text: string,
    size: number,
    kind: "output_text" | "refusal" = "output_text",
  ): void {
    if (text === "") return;
    if (this.#kind !== kind) out.push(this.#closePart(), this.#openPart(kind));
    const part = this.item.content[this.item.content.length - 1];
    if (kind === "refusal") part.refusal += text;
    else part.text += text;
    this.#deltas!.push(out, text, size);
  }

  /** `status` is the message's final one: `incomplete` when the answer was cut off. */
  close(status: MessageItem["status"] = "completed"): string {
    const text = this.#closePart();
    this.item.status = status;
    return text + this.done();
  }

  #openPart(kind: "output_text" | "refusal"): string {
    this.#kind = kind;
    const part: ContentPart = kind === "refusal" ? { type: "refusal", refusal: "" } : textPart("");
    this.item.content.push(part);
    const at = { ...this.at(), content_index: this.item.content.length - 1 };
    this.#deltas = kind === "refusal"
      ? this.seq.deltas("response.refusal.delta", at)
      : this.seq.deltas("response.output_text.delta", at, `,"logprobs":[]`);
    return this.seq.event("response.content_part.added", { ...at, part: { ...part } });
  }

  #closePart(): string {
    if (this.#kind === undefined) return "";
    const part = this.item.content[this.item.content.length - 1];
    const head = JSON.stringify({ ...this.at(), content_index: this.item.content.length - 1 })
      .slice(0, -1);
    let done: string;
    let partJson: string;
    if (this.#kind === "refusal") {
      const refusal = JSON.stringify(part.refusal);
      done = this.seq.eventJson("response.refusal.done", `${head},"refusal":${refusal}}`);
      partJson = `{"type":"refusal","refusal":${refusal}}`;
    } else {
      const text = JSON.stringify(part.text);
      this.textJsons.push(text);
      done = this.seq.eventJson(
        "response.output_text.done",
        `${head},"text":${text},"logprobs":[]}`,
      );
      partJson = `{"type":"output_text","text":${text},"annotations":[],"logprobs":[]}`;
    }
    this.#partJsons.push(partJson);
    this.#kind = undefined;
    return done + this.seq.eventJson("response.content_part.done", `${head},"part":${partJson}}`);
  }

  protected override serialize(): string {
    const { id, status } = this.item;
    return `{"type":"message","id":${JSON.stringify(id)},"status":"${status}","role":"assistant",` +
      `"content":[${this.#partJsons.join(",")}]}`;
  }
}

/**
 * A function call; its arguments stream as they come.
 *
 * @example
 * ```ts
 * const stream = new FunctionCallStream(seq, 2, { type: "function_call", id: "fc_1", status: "in_progress", call_id: "call_1", name: "f" });
 * const out = [stream.open()];
 * stream.push(out, '{"a":1}', LIVE);
 * const text = out.join("") + stream.close();
 * ```
 */
export class FunctionCallStream extends BaseStream<FunctionCallItem> {
  #deltas: DeltaTemplate | undefined;

  constructor(seq: EventSequence, index: number, item: Omit<FunctionCallItem, "arguments">) {
    super(seq, index, { ...item, status: "in_progress", arguments: "" });
  }

  open(): string {
    this.#deltas = this.seq.deltas("response.function_call_arguments.delta", this.at());
    return this.added({ ...this.item });
  }

  push(out: string[], text: string, size: number): void {
    this.item.arguments += text;
    this.#deltas!.push(out, text, size);
  }

  close(): string {
    this.item.status = "completed";
    return this.seq.event("response.function_call_arguments.done", {
      ...this.at(),
      name: this.item.name,
      arguments: this.item.arguments,
    }) + this.done();
  }
}

/**
 * A custom tool call. Chat streams its input wrapped in JSON (`{"input":"…"}`), which cannot be
 * unwrapped piece by piece: the input goes out whole, as one delta, when the call is complete.
 *
 * @example
 * ```ts
 * const stream = new CustomCallStream(seq, 3, { type: "custom_tool_call", id: "ctc_1", status: "in_progress", call_id: "call_2", name: "apply_patch" });
 * const out = [stream.open()];
 * stream.push(out, '{"input":"*** Begin Patch"}', LIVE);
 * const text = out.join("") + stream.close();
 * ```
 */
export class CustomCallStream extends BaseStream<CustomToolCallItem> {
  #args = "";

  constructor(seq: EventSequence, index: number, item: Omit<CustomToolCallItem, "input">) {
    super(seq, index, { ...item, status: "in_progress", input: "" });
  }

  open(): string {
    return this.added({ ...this.item });
  }

  push(_out: string[], text: string): void {
    this.#args += text;
  }

  close(): string {
    const input = customInput(this.#args);
    this.item.input = input;
    this.item.status = "completed";
    const delta = input === ""
      ? ""
      : this.seq.event("response.custom_tool_call_input.delta", { ...this.at(), delta: input });
    return delta +
      this.seq.event("response.custom_tool_call_input.done", { ...this.at(), input }) +
      this.done();
  }
}
