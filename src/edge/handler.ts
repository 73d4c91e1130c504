/**
 * The proxy as one web-standard handler, `(Request) => Promise<Response>`. It knows nothing of the
 * server that runs it: `main.ts` hands it to `Deno.serve`, tests may call it directly. Every
 * request of every front end passes the same gate here: request id, route lookup, client auth,
 * errors in the route's dialect, metrics and the request log.
 *
 * @module
 */

import { ApiError, textResponse, toApiError, utf8Length } from "../canonical/errors.ts";
import type { Config } from "../config/config.ts";
import type { Frontend, RouteContext } from "../frontends/frontend.ts";
import { FRONTENDS } from "../frontends/registry.ts";
import { openAIChat } from "../frontends/openai_chat/frontend.ts";
import { operations } from "../operations/health.ts";
import { ProxyMetrics } from "../operations/proxy_metrics.ts";
import type { ChatTrace } from "../pipeline/trace.ts";
import { ClientAuth } from "./auth.ts";
import { REQUEST_ID_HEADER, requestId } from "./request_id.ts";
import { RouteTable } from "./routes.ts";
import { plainPath } from "./path.ts";

/** A request handler. */
export type Handler = (request: Request) => Promise<Response>;

/** Runtime hooks of {@link createHandler}, given by the server that runs it. */
export interface HandlerOptions {
  /**
   * Aborts when a shutdown's drain time is up: requests still waiting for an upstream answer
   * then end at once with a 503 (or, on an event stream, an error event).
   */
  drainDeadline?: AbortSignal;
}

const STREAM_CANCELLED = "stream cancelled by the client";

/** Names the `backend/model` that answered, when it is known before the response goes out. */
export const SERVED_BY_HEADER = "x-llm-proxy-served-by";
/** Lists the fallbacks taken, `from -> to (reason)`, comma-separated. */
export const FALLBACKS_HEADER = "x-llm-proxy-fallbacks";

/**
 * @example
 * ```ts
 * const handler = createHandler(await loadConfig({ env: Deno.env.toObject() }));
 * Deno.serve(handler);
 * ```
 */
export function createHandler(config: Config, options: HandlerOptions = {}): Handler {
  const auth = new ClientAuth(config.clientKeys);
  const metrics = new ProxyMetrics(config.backends, config.state, config.responseStore);
  config.state.connect();
  const table = new RouteTable([...FRONTENDS, operations(metrics)]);

  return async (request) => {
    const started = performance.now();
    metrics.requestStarted();
    let parsed: URL | undefined;
    const url = () => parsed ??= new URL(request.url);
    const path = (plainPath(request.url) ?? url().pathname).replace(/\/+$/, "") || "/";
    const id = requestId(request.headers.get(REQUEST_ID_HEADER));
    const trace: ChatTrace = {
      log: config.log.forRequest(id),
      stats: { attempts: 0, upstreamMs: 0 },
      onAttempt: metrics.attempt,
      onFallback: metrics.fallback,
    };
    let route = "unknown";
    // Errors before a route is known are in OpenAI's shape, the proxy's native one.
    let dialect: Frontend = openAIChat;
    let response: Response;
    let failure: string | undefined;
    let context: Context | undefined;
    try {
      const found = table.lookup(request.method, path, request);
      if (found.kind === "method") dialect = found.frontend;
      if (found.kind === "route") {
        route = found.match.spec.name;
        dialect = found.match.frontend;
        trace.frontend = dialect.name;
      }
      // Unknown paths need a key too: without one, a scan learns nothing of the routes.
      if (found.kind !== "route" || !found.match.spec.isPublic?.(url())) auth.check(request);
      if (found.kind === "none") {
        throw new ApiError(404, `no route for ${request.method} ${path}`, { code: "unknown_url" });
      }
      if (found.kind === "method") {
        throw new ApiError(405, `${request.method} is not allowed here; use ${found.allow[0]}`, {
          code: "method_not_allowed",
          headers: { allow: found.allow.join(", ") },
        });
      }
      const { spec, params } = found.match;
      context = new Context(request, url, params, config, trace, options.drainDeadline, id);
      response = await spec.handle(context);
    } catch (err) {
      // The answer is the error's, made below: whatever the route made before it threw is not.
      context = undefined;
      const apiError = toApiError(err);
      if (!(err instanceof ApiError)) {
        trace.log.error(`unexpected error on ${request.method} ${path}: ${describe(err)}`);
      }
      failure = apiError.message;
      response = dialect.errorResponse(apiError);
    }
    // A route that made its answer with ctx.json or ctx.headers has these headers already:
    // setting one on a made response costs the runtime's fast path for its headers.
    if (!context?.headersGiven) {
      for (const [name, value] of Object.entries(proxyHeaders(id, trace))) {
        response.headers.set(name, value);
      }
    }
    const finish = (bytesOut: number, error: string | undefined) => {
      const ms = performance.now() - started;
      metrics.requestFinished({
        route,
        frontend: trace.frontend,
        status: response.status,
        backend: trace.backend,
        model: trace.model,
        stream: trace.stream,
        seconds: ms / 1000,
      });
      trace.log.request({
        method: request.method,
        path,
        status: response.status,
        frontend: trace.frontend,
        backend: trace.backend,
        model: trace.model,
        requested: trace.alias === undefined ? undefined : trace.requested,
        alias: trace.alias,
        fallbacks: trace.fallbacks,
        keySlot: trace.stats.keySlot,
        keySlots: trace.stats.keySlots,
        attempts: trace.stats.attempts,
        upstreamMs: Math.round(trace.stats.upstreamMs),
        totalMs: Math.round(ms),
        stream: trace.stream,
        bytesOut,
        error,
      });
    };
    if (trace.streamEnd) {
      // A stream is over when its body is: log it then, with what was really sent.
      trace.streamEnd.then(({ bytes, outcome, error }) =>
        finish(bytes, error?.message ?? (outcome === "cancelled" ? STREAM_CANCELLED : undefined))
      );
      return response;
    }
    const bytes = context?.bytes ?? Number(response.headers.get("content-length"));
    finish(request.method === "HEAD" ? 0 : bytes, failure);
    return response;
  };
}

/** The headers the proxy adds to every answer: the request id, who served it, fallbacks. */
function proxyHeaders(id: string, trace: ChatTrace): Record<string, string> {
  const headers: Record<string, string> = { [REQUEST_ID_HEADER]: id };
  if (trace.servedBy) headers[SERVED_BY_HEADER] = headerSafe(trace.servedBy);
  if (trace.fallbacks) {
    const taken = trace.fallbacks.map((f) => `${f.from} -> ${f.to} (${f.reason})`).join(", ");
    headers[FALLBACKS_HEADER] = headerSafe(taken);
  }
  return headers;
}

/** A {@link RouteContext} whose URL is parsed when a route first asks for it. */
class Context implements RouteContext {
  /** True once the route made its answer's headers through this context. */
  headersGiven = false;
  /** The body's UTF-8 length, when the route made its answer with {@link Context.json}. */
  bytes: number | undefined;

  constructor(
    readonly request: Request,
    readonly parseUrl: () => URL,
    readonly params: Readonly<Record<string, string>>,
    readonly config: Config,
    readonly trace: ChatTrace,
    readonly drainDeadline: AbortSignal | undefined,
    readonly id: string,
  ) {}

  get url(): URL {
    return this.parseUrl();
  }

  json(body: unknown): Response {
    const text = JSON.stringify(body);
    this.bytes = utf8Length(text);
    return textResponse(text, "application/json", 200, this.headers({}), this.bytes);
  }

  headers(base: Readonly<Record<string, string>>): Record<string, string> {
    this.headersGiven = true;
    return { ...base, ...proxyHeaders(this.id, this.trace) };
  }
}

/** Model ids are the client's choice: anything but visible ASCII is percent-encoded. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
