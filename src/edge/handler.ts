/**
 * The proxy as one web-standard handler, `(Request) => Promise<Response>`. It knows nothing of the
 * server that runs it: `main.ts` hands it to `Deno.serve`, tests may call it directly.
 *
 * @module
 */

import { ClientAuth } from "./auth.ts";
import { type ChatTrace, handleChat } from "../pipeline/chat.ts";
import type { Config } from "../config/config.ts";
import { ApiError, jsonResponse, textResponse, toApiError } from "../canonical/errors.ts";
import { EXPOSITION_CONTENT_TYPE } from "../operations/metrics.ts";
import { ProxyMetrics } from "../operations/proxy_metrics.ts";
import { REQUEST_ID_HEADER, requestId } from "./request_id.ts";

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

/**
 * @example
 * ```ts
 * const handler = createHandler(loadConfig({ env: Deno.env.toObject() }));
 * Deno.serve(handler);
 * ```
 */
export function createHandler(config: Config, options: HandlerOptions = {}): Handler {
  const auth = new ClientAuth(config.clientKeys);
  const metrics = new ProxyMetrics(config.backends);

  const route = (request: Request, name: RouteName, path: string, trace: ChatTrace) => {
    switch (name) {
      case "chat":
        allow(request, "POST");
        return handleChat(request, config, trace, options.drainDeadline);
      case "models":
        allow(request, "GET");
        return listModels(config);
      case "model":
        allow(request, "GET");
        return getModel(config, decodePathPart(MODEL_PATH.exec(path)![1]));
      case "health":
        allow(request, "GET");
        return Promise.resolve(health(config, isVerbose(request)));
      case "metrics":
        allow(request, "GET");
        return Promise.resolve(textResponse(metrics.exposition(), EXPOSITION_CONTENT_TYPE));
    }
    throw new ApiError(404, `no route for ${request.method} ${path}`, { code: "unknown_url" });
  };

  return async (request) => {
    const started = performance.now();
    metrics.requestStarted();
    const path = new URL(request.url).pathname.replace(/\/+$/, "") || "/";
    const name = ROUTES.get(path) ?? (MODEL_PATH.test(path) ? "model" : "unknown");
    const id = requestId(request.headers.get(REQUEST_ID_HEADER));
    const trace: ChatTrace = {
      log: config.log.forRequest(id),
      stats: { attempts: 0, upstreamMs: 0 },
      onAttempt: metrics.attempt,
    };
    let response: Response;
    let failure: string | undefined;
    try {
      // The one gate for every route, present and future, but the load balancer's health probe
      // (its verbose form, which details every key slot, is gated too).
      if (name !== "health" || isVerbose(request)) auth.check(request);
      response = await route(request, name, path, trace);
    } catch (err) {
      const apiError = toApiError(err);
      if (!(err instanceof ApiError)) {
        trace.log.error(`unexpected error on ${request.method} ${path}: ${describe(err)}`);
      }
      failure = apiError.message;
      response = apiError.toResponse();
    }
    response.headers.set(REQUEST_ID_HEADER, id);
    const finish = (bytesOut: number, error: string | undefined) => {
      const ms = performance.now() - started;
      metrics.requestFinished({
        route: name,
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
        backend: trace.backend,
        model: trace.model,
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
    finish(request.method === "HEAD" ? 0 : Number(response.headers.get("content-length")), failure);
    return response;
  };
}

/** Endpoints; the name is also the `route` label of the request metrics. */
type RouteName = "chat" | "models" | "model" | "health" | "metrics" | "unknown";

const ROUTES: ReadonlyMap<string, RouteName> = new Map([
  ["/v1/chat/completions", "chat"],
  ["/chat/completions", "chat"],
  ["/v1/models", "models"],
  ["/models", "models"],
  ["/health", "health"],
  ["/metrics", "metrics"],
]);

/** `/v1/models/{id}`, where the id may itself contain `/`. */
const MODEL_PATH = /^\/(?:v1\/)?models\/(.+)$/;

const STREAM_CANCELLED = "stream cancelled by the client";

/** `/health?verbose=1` (or `true`) adds every key slot's state. */
function isVerbose(request: Request): boolean {
  const v = new URL(request.url).searchParams.get("verbose");
  return v === "1" || v === "true";
}

/** Malformed percent-encoding is the client's mistake, not a proxy failure. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ApiError(400, `the path has invalid percent-encoding: ${part}`, {
      code: "invalid_url",
    });
  }
}

function allow(request: Request, method: "GET" | "POST"): void {
  if (request.method === method || (method === "GET" && request.method === "HEAD")) return;
  throw new ApiError(405, `${request.method} is not allowed here; use ${method}`, {
    code: "method_not_allowed",
    headers: { allow: method === "GET" ? "GET, HEAD" : method },
  });
}

async function modelList(config: Config) {
  const lists = await Promise.all(
    [...config.backends.values()].map(async (backend) =>
      (await backend.listModels()).map((m) => ({
        id: `${backend.name}/${m.id}`,
        object: "model" as const,
        created: m.created,
        owned_by: m.owned_by,
      }))
    ),
  );
  return lists.flat();
}

async function listModels(config: Config): Promise<Response> {
  return jsonResponse({ object: "list", data: await modelList(config) });
}

async function getModel(config: Config, id: string): Promise<Response> {
  const found = (await modelList(config)).find((m) => m.id === id);
  if (!found) {
    throw new ApiError(404, `model "${id}" does not exist`, {
      param: "model",
      code: "model_not_found",
    });
  }
  return jsonResponse(found);
}

function health(config: Config, verbose: boolean): Response {
  const backends = Object.fromEntries(
    [...config.backends.values()].map((b) => [b.name, b.health(verbose)]),
  );
  const states = Object.values(backends).map((b) => b.status);
  const status = states.every((s) => s === "ok")
    ? "ok"
    : states.some((s) => s !== "unavailable")
    ? "degraded"
    : "unavailable";
  return jsonResponse({ status, backends });
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
