/**
 * The proxy's other front ends, benchmarked beside the OpenAI chat path: the same ~2 KB
 * conversation in each dialect, sent to the same proxy process, so that CPU per request can be
 * compared with the chat path's (each front end's target: within 20 %). A front end adds its
 * entry here when it lands.
 *
 * @module
 */

import { maxTokens, MODEL, SYSTEM, TOOL, TURNS } from "./requests.ts";

/** One front end's bench requests. */
export interface Variant {
  /** Row label (`anthropic messages`, …); the row is `llm-proxy, <name>`. */
  name: string;
  /** The request path, for a non-streaming or a streaming request. */
  path: (stream: boolean) => string;
  /** The request body in the dialect, carrying the bench conversation. */
  request: (stream: boolean) => Record<string, unknown>;
  /** The answer's text in a non-streaming answer's parsed JSON, or undefined if it is not one. */
  answerText: (json: unknown) => string | undefined;
  /** The text every good stream of the dialect ends with. */
  streamEnd: string;
}

/** Anthropic Messages: the system prompt top-level, the tool with `input_schema`. */
const anthropicMessages: Variant = {
  name: "anthropic messages",
  path: () => "/v1/messages",
  request: (stream) => ({
    model: MODEL,
    system: SYSTEM,
    messages: TURNS,
    tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.parameters }],
    temperature: 0.7,
    top_p: 0.95,
    max_tokens: maxTokens(stream),
    metadata: { user_id: "bench-client-0042" },
    ...(stream ? { stream: true } : {}),
  }),
  answerText: (json) => {
    const content = (json as { content?: Array<{ type: string; text?: string }> })?.content;
    return content?.find((block) => block.type === "text")?.text;
  },
  streamEnd: 'event: message_stop\ndata: {"type":"message_stop"}\n\n',
};

/** Gemini: the model in the path, `contents` with `user`/`model` roles, `?alt=sse` streams. */
const gemini: Variant = {
  name: "gemini",
  path: (stream) =>
    `/v1beta/models/${MODEL}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
  request: (stream) => ({
    systemInstruction: { parts: [{ text: SYSTEM }] },
    contents: TURNS.map((t) => ({
      role: t.role === "assistant" ? "model" : "user",
      parts: [{ text: t.content }],
    })),
    tools: [{
      functionDeclarations: [{
        name: TOOL.name,
        description: TOOL.description,
        parametersJsonSchema: TOOL.parameters,
      }],
    }],
    generationConfig: { temperature: 0.7, topP: 0.95, maxOutputTokens: maxTokens(stream) },
  }),
  answerText: (json) => {
    const candidates =
      (json as { candidates?: Array<{ content?: { parts?: { text?: string }[] } }> })
        ?.candidates;
    return candidates?.[0]?.content?.parts?.find((p) => p.text !== undefined)?.text;
  },
  // The last event closes its usageMetadata and itself.
  streamEnd: "}}\r\n\r\n",
};

/**
 * OpenAI Responses, as Codex sends it: `instructions`, the turns as message items, a function
 * tool, `store: false` (Codex keeps its own history).
 */
const responses: Variant = {
  name: "openai responses",
  path: () => "/v1/responses",
  request: (stream) => ({
    model: MODEL,
    instructions: SYSTEM,
    input: TURNS.map((t) => ({ type: "message", role: t.role, content: t.content })),
    tools: [{
      type: "function",
      name: TOOL.name,
      description: TOOL.description,
      parameters: TOOL.parameters,
    }],
    temperature: 0.7,
    top_p: 0.95,
    max_output_tokens: maxTokens(stream),
    store: false,
    user: "bench-client-0042",
    ...(stream ? { stream: true } : {}),
  }),
  answerText: (json) => {
    const output = (json as {
      output?: Array<{ type: string; content?: Array<{ type: string; text?: string }> }>;
    })?.output;
    const message = output?.find((item) => item.type === "message");
    return message?.content?.find((part) => part.type === "output_text")?.text;
  },
  // The last event is response.completed, whose data closes the response and itself.
  streamEnd: "}}\n\n",
};

/** The same with `store` (the API's default): the run then also loads the response store. */
const responsesStored: Variant = {
  ...responses,
  name: "openai responses, stored",
  request: (stream) => ({ ...responses.request(stream), store: true }),
};

/** Every front end besides OpenAI chat, in report order. */
export const VARIANTS: readonly Variant[] = [anthropicMessages, gemini, responses, responsesStored];

/** The variant called `name` (`--variant` of the bench's tools); none for none; unknown: an error. */
export function variantNamed(name: string | undefined): Variant | undefined {
  if (name === undefined) return undefined;
  const variant = VARIANTS.find((v) => v.name === name);
  if (!variant) throw new Error(`no variant ${name}; one of: ${VARIANTS.map((v) => v.name)}`);
  return variant;
}
