/**
 * The proxy as one web-standard handler, `(Request) => Promise<Response>`. It knows nothing of the
 * server that runs it: `main.ts` hands it to `Deno.serve`, tests may call it directly.
 *
 * @module
 */

import { ClientAuth } from "./auth.ts";
import { type ChatTrace, handleChat } from "./chat.ts";
import type { Config } from "./config.ts";
import { ApiError, jsonResponse, toApiError } from "./errors.ts";
import { meteredBody } from "./metered_body.ts";
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
  return async (request) => {
    const started = performance.now();
    const url = new URL(request.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const id = requestId(request.headers.get(REQUEST_ID_HEADER));
    const trace: ChatTrace = {
      log: config.log.forRequest(id),
      stats: { attempts: 0, upstreamMs: 0 },
    };
    let response: Response;
    let failure: string | undefined;
    try {
      // The one gate for every route, present and future, but the load balancer's health probe.
      if (path !== "/health") auth.check(request);
      response = await route(request, path, config, trace, options);
    } catch (err) {
      const apiError = toApiError(err);
      if (!(err instanceof ApiError)) {
        trace.log.error(`unexpected error on ${request.method} ${path}: ${describe(err)}`);
      }
      failure = apiError.message;
      response = apiError.toResponse();
    }
    response.headers.set(REQUEST_ID_HEADER, id);
    const finish = (bytesOut: number, error: string | undefined) =>
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
        totalMs: Math.round(performance.now() - started),
        stream: trace.stream,
        bytesOut,
        error,
      });
    if (trace.stream !== undefined && response.body) {
      // A stream is over when its body is: log it then, with what the client really got.
      const body = meteredBody(response.body, (bytes, end) =>
        finish(
          bytes,
          trace.streamError ?? (end === "done" ? undefined : `stream ${endWords[end]}`),
        ));
      return new Response(body, { status: response.status, headers: response.headers });
    }
    finish(request.method === "HEAD" ? 0 : Number(response.headers.get("content-length")), failure);
    return response;
  };
}

const endWords = { error: "failed", cancelled: "cancelled by the client" } as const;

function route(
  request: Request,
  path: string,
  config: Config,
  trace: ChatTrace,
  options: HandlerOptions,
) {
  switch (path) {
    case "/v1/chat/completions":
    case "/chat/completions":
      allow(request, "POST");
      return handleChat(request, config, trace, options.drainDeadline);
    case "/v1/models":
    case "/models":
      allow(request, "GET");
      return listModels(config);
    case "/health":
      allow(request, "GET");
      return Promise.resolve(health(config));
  }
  const model = /^\/(?:v1\/)?models\/(.+)$/.exec(path);
  if (model) {
    allow(request, "GET");
    return getModel(config, decodePathPart(model[1]));
  }
  throw new ApiError(404, `no route for ${request.method} ${path}`, { code: "unknown_url" });
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

function health(config: Config): Response {
  const backends = Object.fromEntries(
    [...config.backends.values()].map((b) => [b.name, b.health()]),
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
