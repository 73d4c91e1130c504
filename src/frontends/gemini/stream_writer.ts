/**
 * `streamGenerateContent`'s stream: every event a whole `GenerateContentResponse` holding what is
 * new (text, thoughts), and a last one with the function calls (Gemini sends each whole), the
 * `finishReason` and `usageMetadata`; Gemini CLI re-requests a stream whose last event has no
 * finish reason. With `?alt=sse` the events are server-sent events (`data: {…}`, no `[DONE]`);
 * without it, the elements of one JSON array, written as they come.
 *
 * Keep-alives are a bare newline: whitespace between events, which both framings allow and every
 * Gemini client skips; an SSE comment would not do, since the SDK inside Gemini CLI takes any
 * text before a `data:` line for the start of an unfinished event. An error after the stream
 * started is written as Google's raw error JSON, which the Gemini SDKs look for in the stream and
 * raise as an API error with its code; then the body breaks off.
 *
 * @module
 */

import type { ApiError } from "../../canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk, Usage } from "../../canonical/types.ts";
import { SSE_HEADERS } from "../../streams/sse.ts";
import { pushJsonPieces } from "../../streams/synthesize.ts";
import type { StreamWriter } from "../frontend.ts";
import { geminiErrorBody } from "./errors.ts";
import { finishReason, usageMetadata, withCalls } from "./response.ts";
import type { Candidate, GenerateContentResponse, Part } from "./types.ts";

/** Options of {@link geminiStreamWriter}. */
export interface GeminiStreamOptions {
  /** `?alt=sse`: server-sent events; otherwise one JSON array. */
  sse: boolean;
  /** Reasoning goes out as thought parts. */
  includeThoughts: boolean;
  /** Most UTF-16 units of text per event when a whole answer is cut up. */
  pieceSize: number;
}

/** A tool call being streamed: its arguments arrive in pieces. */
interface PendingCall {
  id: string;
  name: string;
  args: string;
}

/** What one candidate still owes the last event. */
interface CandidateState {
  /** By the upstream's tool-call index. */
  calls: Map<number, PendingCall>;
  finish: string | null;
}

const KEEP_ALIVE = "\n";
const SSE_END = "\r\n\r\n";

const ARRAY_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/**
 * @example
 * ```ts
 * const writer = geminiStreamWriter({ sse: true, includeThoughts: false, pieceSize: 32 });
 * writer.chunk(chunk); // 'data: {"candidates":[…],…}\r\n\r\n'
 * writer.end(); // the last event, with finishReason and usageMetadata
 * ```
 */
export function geminiStreamWriter(options: GeminiStreamOptions): StreamWriter {
  return new GeminiStreamWriter(options);
}

class GeminiStreamWriter implements StreamWriter {
  readonly headers: Readonly<Record<string, string>>;
  readonly #options: GeminiStreamOptions;
  readonly #candidates = new Map<number, CandidateState>();
  #model = "";
  #id = "";
  #usage: Usage | undefined;
  /** Events written so far (the JSON array needs to know whether one was). */
  #events = 0;

  constructor(options: GeminiStreamOptions) {
    this.#options = options;
    this.headers = options.sse ? SSE_HEADERS : ARRAY_HEADERS;
  }

  keepAlive(): string {
    return KEEP_ALIVE;
  }

  comment(): string {
    return KEEP_ALIVE;
  }

  /** Text and thought events, as cut from a whole answer; the rest follows in {@link end}. */
  completionParts(completion: ChatCompletion, out: string[]): void {
    this.#model = completion.model;
    this.#id = completion.id;
    this.#usage = completion.usage;
    const head = `{"candidates":[{"content":{"role":"model","parts":[{"text":`;
    for (const { index, message, finish_reason } of completion.choices) {
      const tail = `]},"index":${index}}],"modelVersion":${JSON.stringify(this.#model)},` +
        `"responseId":${JSON.stringify(this.#id)}}`;
      if (this.#options.includeThoughts) {
        this.#pushFrames(out, message.reasoning_content ?? "", head, `,"thought":true}${tail}`);
      }
      this.#pushFrames(out, message.content ?? "", head, `}${tail}`);
      const state = this.#state(index);
      state.finish = finish_reason;
      for (const [i, call] of (message.tool_calls ?? []).entries()) {
        state.calls.set(i, {
          id: call.id,
          name: call.function?.name ?? "",
          args: call.function?.arguments ?? "",
        });
      }
    }
  }

  chunk(chunk: ChatCompletionChunk): string {
    this.#model = chunk.model;
    this.#id = chunk.id;
    if (chunk.usage) this.#usage = chunk.usage;
    const candidates: Candidate[] = [];
    for (const { index, delta, finish_reason } of chunk.choices) {
      const state = this.#state(index);
      const parts: Part[] = [];
      if (delta.reasoning_content && this.#options.includeThoughts) {
        parts.push({ text: delta.reasoning_content, thought: true });
      }
      if (delta.content) parts.push({ text: delta.content });
      for (const call of delta.tool_calls ?? []) {
        let pending = state.calls.get(call.index);
        if (!pending) state.calls.set(call.index, pending = { id: "", name: "", args: "" });
        if (call.id) pending.id = call.id;
        if (call.function?.name) pending.name += call.function.name;
        pending.args += call.function?.arguments ?? "";
      }
      if (finish_reason) state.finish = finish_reason;
      if (parts.length > 0) candidates.push({ content: { role: "model", parts }, index });
    }
    return candidates.length === 0 ? "" : this.#frame(JSON.stringify(this.#response(candidates)));
  }

  /** The last event: each candidate's function calls, finish reason, and the usage. */
  end(): string {
    if (this.#candidates.size === 0) this.#state(0);
    const candidates: Candidate[] = [];
    for (const [index, state] of this.#candidates) {
      const calls = [...state.calls].sort(([a], [b]) => a - b).map(([, c]) => ({
        id: c.id,
        function: { name: c.name, arguments: c.args },
      }));
      candidates.push(withCalls(
        { content: { role: "model", parts: [] }, finishReason: finishReason(state.finish), index },
        calls,
      ));
    }
    const last = this.#response(candidates);
    if (this.#usage) last.usageMetadata = usageMetadata(this.#usage);
    return this.#frame(JSON.stringify(last)) + (this.#options.sse ? "" : "]");
  }

  // Clients on other SDKs (the AI SDK's, in opencode) skip the raw error JSON: a stream that then
  // ended cleanly would be a complete, empty answer to them, which opencode asks again, forever.
  readonly breaksOffAfterError = true;

  error(error: ApiError): string {
    const json = JSON.stringify(geminiErrorBody(error));
    if (this.#options.sse) return `${json}\n`;
    return `${this.#separator()}${json}]`;
  }

  #state(index: number): CandidateState {
    let state = this.#candidates.get(index);
    if (!state) this.#candidates.set(index, state = { calls: new Map(), finish: null });
    return state;
  }

  #response(candidates: Candidate[]): GenerateContentResponse {
    return { candidates, modelVersion: this.#model, responseId: this.#id };
  }

  #frame(json: string): string {
    if (this.#options.sse) return `data: ${json}${SSE_END}`;
    return `${this.#separator()}${json}`;
  }

  /** Before each element of the JSON array. */
  #separator(): string {
    return this.#events++ === 0 ? "[" : ",\r\n";
  }

  /** One event per piece of `text`, framed as {@link GeminiStreamWriter.#frame} frames one. */
  #pushFrames(out: string[], text: string, before: string, after: string): void {
    const size = this.#options.pieceSize;
    if (this.#options.sse) pushJsonPieces(out, text, size, `data: ${before}`, `${after}${SSE_END}`);
    else pushJsonPieces(out, text, size, (o) => o.push(this.#separator(), before), after);
  }
}
