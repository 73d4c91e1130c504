/**
 * What a front end is: one client dialect (OpenAI chat, Anthropic Messages, …) translated to the
 * canonical OpenAI chat form and back. A front end is one folder in `src/frontends/` exporting a
 * {@link Frontend}, plus one line in `registry.ts`. It owns its routes, its request translation,
 * its response and event-stream shapes and its error body; everything else (auth, request ids,
 * limits, routing, key failover, keep-alive, drain, metrics, logs) is the shared pipeline's.
 *
 * @module
 */

import type { ApiError } from "../canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk } from "../canonical/types.ts";
import type { Config } from "../config/config.ts";
import type { ChatTrace } from "../pipeline/trace.ts";

/** Everything a route handler gets for one request. */
export interface RouteContext {
  request: Request;
  url: URL;
  /** The named groups of the route's path pattern (`{ model: "…" }`), percent-decoded. */
  params: Readonly<Record<string, string>>;
  config: Config;
  /** Filled in as the request proceeds; the edge logs and counts the request from it. */
  trace: ChatTrace;
  /** Aborts when a shutdown's drain time is up. */
  drainDeadline?: AbortSignal;
  /**
   * A 200 with `body` as JSON and every header the proxy adds (request id, served-by,
   * fallbacks): the answer of a route's usual path, made in one go.
   */
  json(body: unknown): Response;
  /** `base` and the proxy's own headers, for an answer the route makes itself (a stream). */
  headers(base: Readonly<Record<string, string>>): Record<string, string>;
}

/** One endpoint of a front end. */
export interface RouteSpec {
  method: "GET" | "POST" | "DELETE";
  /** An exact path, or a pattern whose named groups become {@link RouteContext.params}. */
  path: string | RegExp;
  /** The `route` label of the request metrics (`chat`, `messages`, …). */
  name: string;
  /**
   * True for requests that may pass without a client key (a probe's `/health`); by default every
   * request needs one (when client keys are configured).
   */
  isPublic?: (url: URL) => boolean;
  /**
   * Where two front ends serve the same method and path (`GET /v1/models` is OpenAI's, and
   * Gemini's too), the request goes to the route whose `accepts` says it is in that route's
   * dialect (a header only its clients send), else to the route without `accepts`.
   */
  accepts?: (request: Request) => boolean;
  handle(ctx: RouteContext): Promise<Response>;
}

/**
 * A client dialect.
 *
 * @example
 * ```ts
 * export const myFrontend: Frontend = {
 *   name: "my_dialect",
 *   routes: [{ method: "POST", path: "/v1/my", name: "my", handle: (ctx) => handleMy(ctx) }],
 *   errorResponse: (error) => jsonResponse({ problem: error.message }, error.status, error.headers),
 * };
 * ```
 */
export interface Frontend {
  /** The `frontend` label of metrics and field of the request log (`openai_chat`, …). */
  name: string;
  routes: readonly RouteSpec[];
  /** Every error this front end's routes answer before a stream started, in its own shape. */
  errorResponse(error: ApiError): Response;
}

/**
 * How one event stream is written in a dialect: made per request by the front end, fed by the
 * pipeline with canonical chunks (live from the upstream, or cut from a whole completion) and
 * returning the wire text of each. Writers may hold state (open content blocks, indices).
 */
export interface StreamWriter {
  /** Response headers of the stream (its content type). */
  readonly headers: Readonly<Record<string, string>>;
  /** Text that keeps the connection alive while the upstream thinks; the dialect's clients ignore it. */
  keepAlive(): string;
  /**
   * Told, before any chunk, when the answer arrived whole and will be cut into chunks: what it
   * knows (usage, say) can go into the stream's first events.
   */
  whole?(completion: ChatCompletion): void;
  /**
   * A whole completion's events, pushed onto `out` in fragments that the caller puts together once
   * (fragments need not be whole events); {@link StreamWriter.end} still follows. Faster than
   * chunk by chunk, which is what a writer without it gets.
   */
  completionParts?(completion: ChatCompletion, out: string[]): void;
  /** The text for one chunk; `""` when it adds nothing to send yet. */
  chunk(chunk: ChatCompletionChunk): string;
  /** An upstream comment (its keep-alive) passed on, or `""`. */
  comment(text: string): string;
  /** The closing text after the last chunk. */
  end(): string;
  /** The text of an error after the stream started; the stream closes after it. */
  error(error: ApiError): string;
  /**
   * True: after {@link StreamWriter.error}'s text the body is broken off, not ended. For a
   * dialect without an error event, whose clients may read a clean end as a complete answer.
   */
  readonly breaksOffAfterError?: boolean;
}
