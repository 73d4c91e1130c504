/**
 * OpenAI's chat-completion event stream: each chunk as a `data:` event, `data: [DONE]` at the end,
 * an error after the start as a `data: {"error":{…}}` event (what the OpenAI SDKs raise).
 *
 * @module
 */

import type { ApiError } from "../../canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk } from "../../canonical/types.ts";
import { commentEvent, dataEvent, KEEP_ALIVE_COMMENT, SSE_HEADERS } from "../../streams/sse.ts";
import { completionChunkJson, type SynthesisOptions } from "../../streams/synthesize.ts";
import type { StreamWriter } from "../frontend.ts";

const DONE = "data: [DONE]\n\n";

/**
 * @example
 * ```ts
 * const writer = openAIStreamWriter({ pieceSize: 32, includeUsage: false });
 * writer.chunk(chunk); // 'data: {"id":…}\n\n'
 * writer.end(); // 'data: [DONE]\n\n'
 * ```
 */
export function openAIStreamWriter(options: SynthesisOptions): StreamWriter {
  return {
    headers: SSE_HEADERS,
    keepAlive: () => KEEP_ALIVE_COMMENT,
    completionEvents: (completion: ChatCompletion) =>
      completionChunkJson(completion, options).map((json) => `data: ${json}\n\n`),
    completionText(completion: ChatCompletion) {
      const chunks = completionChunkJson(completion, options);
      return chunks.length === 0 ? "" : `data: ${chunks.join("\n\ndata: ")}\n\n`;
    },
    chunk: (chunk: ChatCompletionChunk) => dataEvent(chunk),
    comment: commentEvent,
    end: () => DONE,
    error: (error: ApiError) => dataEvent(error.toBody()),
  };
}
