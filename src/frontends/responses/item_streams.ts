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
  open(): string;
  /** Text for the item: reasoning, answer text, or a tool call's (chat) arguments. */
  push(delta: string): string;
  close(): string;
}

abstract class BaseStream<T extends OutputItem> implements ItemStream {
  closed = false;

  constructor(
    protected readonly seq: EventSequence,
    readonly index: number,
    readonly item: T,
  ) {}

  abstract open(): string;
  abstract push(delta: string): string;
  abstract close(): string;

  protected added(item: OutputItem): string {
    return this.seq.event("response.output_item.added", { output_index: this.index, item });
  }

  protected done(): string {
    this.closed = true;
    return this.seq.event("response.output_item.done", {
      output_index: this.index,
      item: this.item,
    });
  }

  protected at(): { item_id: string; output_index: number } {
    return { item_id: this.item.id, output_index: this.index };
  }
}

/** A reasoning item with one summary part. */
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

  push(delta: string): string {
    this.item.summary[0].text += delta;
    return this.#deltas!.text(delta);
  }

  close(): string {
    const at = { ...this.at(), summary_index: 0 };
    const part = this.item.summary[0];
    return this.seq.event("response.reasoning_summary_text.done", { ...at, text: part.text }) +
      this.seq.event("response.reasoning_summary_part.done", { ...at, part }) + this.done();
  }
}

/** An assistant message; its parts are `output_text`, or `refusal` when the model refused. */
export class MessageStream extends BaseStream<MessageItem> {
  #deltas: DeltaTemplate | undefined;
  #kind: "output_text" | "refusal" | undefined;

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

  push(delta: string, kind: "output_text" | "refusal" = "output_text"): string {
    let text = "";
    if (this.#kind !== kind) text += this.#closePart() + this.#openPart(kind);
    const part = this.item.content[this.item.content.length - 1];
    if (kind === "refusal") part.refusal += delta;
    else part.text += delta;
    return text + this.#deltas!.text(delta);
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
    const at = { ...this.at(), content_index: this.item.content.length - 1 };
    const done = this.#kind === "refusal"
      ? this.seq.event("response.refusal.done", { ...at, refusal: part.refusal })
      : this.seq.event("response.output_text.done", { ...at, text: part.text, logprobs: [] });
    this.#kind = undefined;
    return done + this.seq.event("response.content_part.done", { ...at, part });
  }
}

/** A function call; its arguments stream as they come. */
export class FunctionCallStream extends BaseStream<FunctionCallItem> {
  #deltas: DeltaTemplate | undefined;

  constructor(seq: EventSequence, index: number, item: Omit<FunctionCallItem, "arguments">) {
    super(seq, index, { ...item, status: "in_progress", arguments: "" });
  }

  open(): string {
    this.#deltas = this.seq.deltas("response.function_call_arguments.delta", this.at());
    return this.added({ ...this.item });
  }

  push(delta: string): string {
    this.item.arguments += delta;
    return this.#deltas!.text(delta);
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
 */
export class CustomCallStream extends BaseStream<CustomToolCallItem> {
  #args = "";

  constructor(seq: EventSequence, index: number, item: Omit<CustomToolCallItem, "input">) {
    super(seq, index, { ...item, status: "in_progress", input: "" });
  }

  open(): string {
    return this.added({ ...this.item });
  }

  push(delta: string): string {
    this.#args += delta;
    return "";
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
