/**
 * The slice of OpenAI's chat-completion types the proxy reads or writes. Fields the proxy does not
 * interpret stay in the objects untouched (index signatures), so new OpenAI parameters pass
 * through without a code change.
 *
 * @module
 */

/** A chat completion request, as parsed from the client's JSON (validated in `request.ts`). */
export interface ChatRequest {
  model: string;
  messages: Record<string, unknown>[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  n?: number;
  [field: string]: unknown;
}

/** One tool call on an assistant message. */
export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
  [field: string]: unknown;
}

/** The assistant message of one choice. */
export interface AssistantMessage {
  role: "assistant";
  content: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCall[];
  [field: string]: unknown;
}

/** One choice of a non-streamed completion. */
export interface Choice {
  index: number;
  message: AssistantMessage;
  finish_reason: string | null;
  [field: string]: unknown;
}

/** Token counts. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [field: string]: unknown;
}

/** A non-streamed `chat.completion`. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Choice[];
  usage?: Usage;
  [field: string]: unknown;
}

/** The `delta` of one streamed chunk choice. */
export interface ChunkDelta {
  role?: "assistant";
  content?: string | null;
  reasoning_content?: string;
  tool_calls?: Array<{
    index: number;
    id?: string;
    type?: string;
    function: { name?: string; arguments: string };
  }>;
}

/** One `chat.completion.chunk`. */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{ index: number; delta: ChunkDelta; finish_reason: string | null }>;
  usage?: Usage | null;
  system_fingerprint?: string;
}
