/**
 * Anthropic's Messages event stream, written from canonical chunks (or, faster, from a whole
 * completion): `message_start`, then each content block as `content_block_start`, its deltas
 * and `content_block_stop`, with indices counting up from 0 and one block open at a time, then
 * `message_delta` (stop reason, usage) and `message_stop`. Every event is named, since the SDKs
 * skip unnamed ones; the keep-alive is `event: ping`, which Anthropic itself sends and every
 * Anthropic client skips.
 *
 * @module
 */

import type { ApiError } from "../../canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk, Usage } from "../../canonical/types.ts";
import { commentEvent, SSE_HEADERS } from "../../streams/sse.ts";
import { pushJsonPieces } from "../../streams/synthesize.ts";
import type { StreamWriter } from "../frontend.ts";
import { anthropicErrorEvent } from "./errors.ts";
import {
  anthropicUsage,
  messageId,
  stopReason,
  THINKING_SIGNATURE,
  toolInput,
  toolUseId,
} from "./response.ts";

/** Options of {@link anthropicStreamWriter}. */
export interface AnthropicStreamOptions {
  /** Most UTF-16 units of text per delta of a synthesized answer. */
  pieceSize: number;
  /** The request's `stop_sequences`: an upstream that names the one it hit gets `stop_sequence`. */
  stopSequences: readonly string[];
}

const PING = 'event: ping\ndata: {"type":"ping"}\n\n';
const MESSAGE_STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
const DELTA_TAIL = "}}\n\n";
const SIGNATURE_DELTA = JSON.stringify({ type: "signature_delta", signature: THINKING_SIGNATURE });

type BlockKind = "thinking" | "text" | "tool_use";

const DELTA_TYPES: Record<BlockKind, string> = {
  thinking: `"type":"thinking_delta","thinking":`,
  text: `"type":"text_delta","text":`,
  tool_use: `"type":"input_json_delta","partial_json":`,
};

/**
 * @example
 * ```ts
 * const writer = anthropicStreamWriter({ pieceSize: 32, stopSequences: [] });
 * writer.chunk(chunk); // 'event: message_start\n…event: content_block_delta\n…'
 * writer.end(); // '…event: message_delta\n…event: message_stop\n…'
 * ```
 */
export function anthropicStreamWriter(options: AnthropicStreamOptions): StreamWriter {
  let started = false;
  let usage: Usage | null | undefined;
  /** Index of the open block, or -1; the next block's index is `blocks`. */
  let open = -1;
  let openKind: BlockKind | undefined;
  /** The canonical tool-call index the open tool_use block belongs to. */
  let openTool = -1;
  let blocks = 0;
  let emittedToolUse = false;
  const toolIndices = new Set<number>();
  let finish: string | null | undefined;
  let upstreamStop: unknown;

  const event = (name: string, json: string) => `event: ${name}\ndata: ${json}\n\n`;

  const start = (id: string, model: string): string => {
    started = true;
    const message = {
      id: messageId(id),
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...anthropicUsage(usage), output_tokens: 0 },
    };
    return event("message_start", JSON.stringify({ type: "message_start", message }));
  };

  const close = (): string => {
    if (open < 0) return "";
    // As Anthropic does, a thinking block's signature comes last, just before its stop.
    const signature = openKind === "thinking"
      ? event(
        "content_block_delta",
        `{"type":"content_block_delta","index":${open},"delta":${SIGNATURE_DELTA}}`,
      )
      : "";
    const text = signature +
      event("content_block_stop", `{"type":"content_block_stop","index":${open}}`);
    open = -1;
    openKind = undefined;
    openTool = -1;
    return text;
  };

  const begin = (kind: BlockKind, block: Record<string, unknown>): string => {
    const text = close() +
      event(
        "content_block_start",
        JSON.stringify({ type: "content_block_start", index: blocks, content_block: block }),
      );
    open = blocks++;
    openKind = kind;
    return text;
  };

  /** The `kind` block opened, unless it is the open one. */
  const opened = (kind: BlockKind): string =>
    openKind === kind ? "" : begin(
      kind,
      kind === "thinking" ? { type: kind, thinking: "", signature: "" } : { type: kind, text: "" },
    );

  /** A delta event of the open block, up to its text. */
  const deltaHead = (kind: BlockKind): string =>
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":${open},` +
    `"delta":{${DELTA_TYPES[kind]}`;

  /** A delta of the `kind` block, `json` its text as a JSON string. */
  const delta = (kind: BlockKind, json: string): string => {
    const text = opened(kind);
    return text + deltaHead(kind) + json + DELTA_TAIL;
  };

  /** All of `text` as deltas of the `kind` block, pushed onto `out`. */
  const deltas = (out: string[], kind: BlockKind, text: string): void => {
    if (text === "") return;
    out.push(opened(kind));
    pushJsonPieces(out, text, options.pieceSize, deltaHead(kind), DELTA_TAIL);
  };

  const toolStart = (index: number, id: string, name: string): string => {
    emittedToolUse = true;
    const text = begin("tool_use", { type: "tool_use", id, name, input: {} });
    openTool = index;
    return text;
  };

  // Arguments belong to the open tool block; an upstream that interleaves two calls' arguments
  // has no Anthropic equivalent (blocks cannot reopen), so a closed call's late pieces are dropped.
  const toolArgs = (index: number, json: string): string =>
    openKind === "tool_use" && openTool === index && json !== '""' ? delta("tool_use", json) : "";

  return {
    headers: SSE_HEADERS,
    keepAlive: () => PING,

    whole(completion: ChatCompletion) {
      usage = completion.usage;
      // Checked before the first byte: unparseable arguments are then a plain error response.
      for (const call of completion.choices[0]?.message.tool_calls ?? []) {
        toolInput(call.function?.arguments ?? "", call.function?.name ?? "");
      }
    },

    completionParts(completion: ChatCompletion, out: string[]) {
      const choice = completion.choices[0];
      out.push(start(completion.id, completion.model));
      if (!choice) return;
      const { message } = choice;
      deltas(out, "thinking", message.reasoning_content ?? "");
      deltas(out, "text", message.content ?? "");
      for (const [i, call] of (message.tool_calls ?? []).entries()) {
        out.push(toolStart(i, call.id || toolUseId(), call.function?.name ?? ""));
        deltas(out, "tool_use", call.function?.arguments ?? "");
      }
      finish = choice.finish_reason;
      upstreamStop = choice.stop_reason;
    },

    chunk(chunk: ChatCompletionChunk): string {
      let text = started ? "" : start(chunk.id, chunk.model);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices.find((c) => c.index === 0);
      if (!choice) return text;
      const d = choice.delta;
      if (d.reasoning_content) text += delta("thinking", JSON.stringify(d.reasoning_content));
      if (d.content) text += delta("text", JSON.stringify(d.content));
      for (const call of d.tool_calls ?? []) {
        // A call starts at its index's first delta; some upstreams repeat the id on every one.
        if (!toolIndices.has(call.index)) {
          toolIndices.add(call.index);
          text += toolStart(call.index, call.id || toolUseId(), call.function?.name ?? "");
        }
        text += toolArgs(call.index, JSON.stringify(call.function?.arguments ?? ""));
      }
      // Content first: a chunk carrying its last text and the finish reason loses neither.
      if (choice.finish_reason) {
        finish = choice.finish_reason;
        upstreamStop = (choice as Record<string, unknown>).stop_reason;
      }
      return text;
    },

    comment: commentEvent,

    end(): string {
      let text = started ? "" : start(`chatcmpl-${crypto.randomUUID()}`, "");
      text += close();
      const stop = stopReason(finish, emittedToolUse, upstreamStop, options.stopSequences);
      const u = anthropicUsage(usage);
      const closing = {
        type: "message_delta",
        delta: { stop_reason: stop.reason, stop_sequence: stop.sequence },
        usage: usage
          ? {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
          }
          : { output_tokens: 0 },
      };
      return text + event("message_delta", JSON.stringify(closing)) + MESSAGE_STOP;
    },

    error: (error: ApiError) => anthropicErrorEvent(error),
  };
}
