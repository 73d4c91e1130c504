/**
 * The Responses API event stream: `response.created` and `response.in_progress`, then each output
 * item opened, grown and closed (`item_streams.ts`), then exactly one `response.completed` (or
 * `response.incomplete` when the answer was cut off, or `response.failed` with the error), every
 * event numbered by `sequence_number`. Codex drops an item whose `response.output_item.done` never
 * came and retries a stream that ends without `response.completed`: both always come.
 *
 * While the upstream thinks, the keep-alive is an event, not an SSE comment: Codex's parser only
 * wakes on events, so comments would not stop its idle timeout, while a repeated
 * `response.in_progress` resets it and every Responses client ignores it.
 *
 * @module
 */

import type { ApiError } from "../../canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk, Usage } from "../../canonical/types.ts";
import { commentEvent, SSE_HEADERS } from "../../streams/sse.ts";
import type { StreamWriter } from "../frontend.ts";
import { EventSequence } from "./events.ts";
import {
  CustomCallStream,
  FunctionCallStream,
  type ItemStream,
  LIVE,
  MessageStream,
  ReasoningStream,
} from "./item_streams.ts";
import {
  finishResponse,
  outputText,
  type ResponseContext,
  responseShell,
  toResponse,
} from "./response.ts";
import { customArguments } from "./tools.ts";
import type { OutputItem, ResponseObject } from "./types.ts";

/** Options of {@link responsesStreamWriter}. */
export interface ResponsesStreamOptions {
  ctx: ResponseContext;
  /** The model to report before the answer names it: the one asked for. */
  model: string;
  /** Most UTF-16 units of text per delta when a whole answer is cut into events. */
  pieceSize: number;
  /** Told the final response once the stream completed (not on failure or hang-up). */
  onComplete: (response: ResponseObject) => void;
}

/**
 * @example
 * ```ts
 * const writer = responsesStreamWriter({ ctx, model: "internlm/x", pieceSize: 32, onComplete });
 * return await streamChat(routeCtx, chat, writer);
 * ```
 */
export function responsesStreamWriter(options: ResponsesStreamOptions): StreamWriter {
  return new ResponsesStream(options);
}

class ResponsesStream implements StreamWriter {
  readonly headers = SSE_HEADERS;
  readonly #options: ResponsesStreamOptions;
  readonly #seq = new EventSequence();
  #shell: ResponseObject | undefined;
  /** `{"response": shell}`, serialised once: created, in_progress and keep-alives all send it. */
  #shellJson = "";
  /** Set when the whole answer was written at once: what `end()` reports. */
  #final: ResponseObject | undefined;
  // The live path's state.
  readonly #items: ItemStream[] = [];
  #open: ItemStream | undefined;
  readonly #tools = new Map<number, ItemStream>();
  #finish: string | null = null;
  #usage: Usage | undefined;
  #model: string | undefined;

  constructor(options: ResponsesStreamOptions) {
    this.#options = options;
  }

  keepAlive(): string {
    if (!this.#shell) return this.#start();
    return this.#seq.eventJson("response.in_progress", this.#shellJson);
  }

  completionParts(completion: ChatCompletion, out: string[]): void {
    const response = toResponse(completion, this.#options.ctx);
    this.#model = completion.model;
    // Keep-alives may have started the stream already (InternLM answers whole, after thinking).
    if (!this.#shell) out.push(this.#start());
    const { pieceSize } = this.#options;
    for (const [index, item] of response.output.entries()) {
      const stream = this.#itemStream(item, index);
      this.#items.push(stream);
      out.push(stream.open());
      if (item.type === "message") {
        const message = stream as MessageStream;
        for (const part of item.content) {
          const refusal = part.type === "refusal";
          const text = (refusal ? part.refusal : part.text) ?? "";
          message.push(out, text, pieceSize, refusal ? "refusal" : "output_text");
        }
        out.push(message.close(item.status));
        continue;
      }
      const text = item.type === "reasoning"
        ? item.summary[0].text
        : item.type === "function_call"
        ? item.arguments
        : customArguments(item.input);
      stream.push(out, text, pieceSize);
      out.push(stream.close());
    }
    this.#final = response;
  }

  chunk(chunk: ChatCompletionChunk): string {
    const out: string[] = [];
    if (!this.#shell) out.push(this.#start());
    this.#model ??= chunk.model;
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return out.join("");
    const { delta } = choice;
    if (delta.reasoning_content) {
      out.push(this.#openKind(
        "reasoning",
        () => new ReasoningStream(this.#seq, this.#next(), this.#id("rs")),
      ));
      this.#open!.push(out, delta.reasoning_content, LIVE);
    }
    if (delta.content) {
      out.push(this.#openKind(
        "message",
        () => new MessageStream(this.#seq, this.#next(), this.#id("msg")),
      ));
      this.#open!.push(out, delta.content, LIVE);
    }
    for (const call of delta.tool_calls ?? []) {
      let stream = this.#tools.get(call.index);
      if (!stream) {
        out.push(this.#closeOpen());
        stream = this.#toolStream(call.id, call.function.name ?? "");
        this.#tools.set(call.index, stream);
        this.#open = stream;
        out.push(stream.open());
      }
      if (call.function.arguments) stream.push(out, call.function.arguments, LIVE);
    }
    if (choice.finish_reason) this.#finish = choice.finish_reason;
    return out.join("");
  }

  comment(text: string): string {
    return commentEvent(text);
  }

  end(): string {
    let text = this.#shell ? "" : this.#start();
    let response = this.#final;
    if (!response) {
      text += this.#closeOpen();
      const shell = { ...this.#shell!, model: this.#model ?? this.#shell!.model };
      response = finishResponse(shell, this.#items.map((s) => s.item), this.#finish, this.#usage);
    }
    const type = response.status === "incomplete" ? "response.incomplete" : "response.completed";
    text += this.#seq.eventJson(type, `{"response":${this.#responseJson(response)}}`);
    this.#options.onComplete(response);
    return text;
  }

  error(error: ApiError): string {
    const text = this.#shell ? "" : this.#start();
    const response: ResponseObject = {
      ...this.#shell!,
      status: "failed",
      error: { code: failureCode(error), message: failureMessage(error) },
      output: this.#items.filter((s) => s.closed).map((s) => s.item),
    };
    return text + this.#seq.event("response.failed", { response });
  }

  /**
   * The final response's JSON, its output made of the items' own JSON (the answer is escaped once
   * for all the events that carry it). `output_text` stays: the SDKs' stream helpers read it.
   */
  #responseJson(response: ResponseObject): string {
    const { output, ...rest } = response;
    const texts = this.#items.flatMap((s) => s instanceof MessageStream ? s.textJsons : []);
    const text = texts.length === 1 ? texts[0] : JSON.stringify(outputText(output));
    const items = this.#items.map((s) => s.json()).join(",");
    return `${JSON.stringify(rest).slice(0, -1)},"output":[${items}],"output_text":${text}}`;
  }

  #start(): string {
    const shell = responseShell(this.#options.ctx, this.#options.model);
    this.#shell = shell;
    this.#shellJson = JSON.stringify({ response: shell });
    return this.#seq.eventJson("response.created", this.#shellJson) +
      this.#seq.eventJson("response.in_progress", this.#shellJson);
  }

  #next(): number {
    return this.#items.length;
  }

  #id(prefix: string): string {
    return this.#options.ctx.ids.next(prefix);
  }

  /** Opens a new item of `type` unless one is open already. */
  #openKind(type: OutputItem["type"], make: () => ItemStream): string {
    if (this.#open?.item.type === type) return "";
    const text = this.#closeOpen();
    const stream = make();
    this.#items.push(stream);
    this.#open = stream;
    return text + stream.open();
  }

  #closeOpen(): string {
    const open = this.#open;
    if (!open) return "";
    this.#open = undefined;
    if (open instanceof MessageStream) {
      return open.close(this.#finish === "length" ? "incomplete" : "completed");
    }
    return open.close();
  }

  #toolStream(callId: string | undefined, name: string): ItemStream {
    const custom = this.#options.ctx.customTools.has(name);
    const id = this.#id(custom ? "ctc" : "fc");
    const item = { id, status: "in_progress" as const, call_id: callId || `call_${id}`, name };
    const stream = custom
      ? new CustomCallStream(this.#seq, this.#next(), { type: "custom_tool_call", ...item })
      : new FunctionCallStream(this.#seq, this.#next(), { type: "function_call", ...item });
    this.#items.push(stream);
    return stream;
  }

  /** For the whole path: the stream for an item already translated. */
  #itemStream(item: OutputItem, index: number): ItemStream {
    switch (item.type) {
      case "reasoning":
        return new ReasoningStream(this.#seq, index, item.id);
      case "message":
        return new MessageStream(this.#seq, index, item.id);
      case "function_call":
        return new FunctionCallStream(this.#seq, index, item);
      case "custom_tool_call":
        return new CustomCallStream(this.#seq, index, item);
    }
  }
}

/** The error codes Codex and the SDKs branch on, from the status when the proxy has none. */
function failureCode(error: ApiError): string {
  if (error.status === 429) return "rate_limit_exceeded";
  if (error.code) return error.code;
  return error.status >= 500 ? "server_error" : "invalid_request";
}

/**
 * The message of a `response.failed`. For a rate limit it says when to retry in the words Codex
 * reads a delay from ("try again in 20s"), since an event has no `retry-after` header.
 */
function failureMessage(error: ApiError): string {
  const retry = error.headers["retry-after"];
  if (error.status !== 429 || retry === undefined || /try again in/i.test(error.message)) {
    return error.message;
  }
  return `${error.message}. Please try again in ${retry}s.`;
}
