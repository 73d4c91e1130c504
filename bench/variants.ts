/**
 * The proxy's other front ends, benchmarked beside the OpenAI chat path: the same ~2 KB
 * conversation in each dialect, sent to the same proxy process, so that CPU per request can be
 * compared with the chat path's (each front end's target: within 20 %). A front end adds its
 * entry here when it lands.
 *
 * @module
 */

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

/** Every front end besides OpenAI chat, in report order. */
export const VARIANTS: readonly Variant[] = [];
