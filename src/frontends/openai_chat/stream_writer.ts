/**
 * OpenAI's chat-completion event stream: each chunk as a `data:` event, `data: [DONE]` at the end,
 * an error after the start as a `data: {"error":{…}}` event (what the OpenAI SDKs raise).
 *
 * @module
 */

import type { ApiError } from "../../canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk } from "../../canonical/types.ts";
import { commentEvent, dataEvent, KEEP_ALIVE_COMMENT, SSE_HEADERS } from "../../streams/sse.ts";
import { pushCompletionChunks, type SynthesisOptions } from "../../streams/synthesize.ts";
import type { StreamWriter } from "../frontend.ts";

const DONE = "data: [DONE]\n\n";
const DATA_EVENT = ["data: ", "\n\n"] as const;

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
    completionParts: (completion: ChatCompletion, out: string[]) =>
      pushCompletionChunks(out, completion, options, DATA_EVENT),
    chunk: (chunk: ChatCompletionChunk) => dataEvent(chunk),
    comment: commentEvent,
    end: () => DONE,
    error: (error: ApiError) => dataEvent(error.toBody()),
  };
}
