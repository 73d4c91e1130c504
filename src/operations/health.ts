/**
 * The operations endpoints: `GET /health` (overall status and, per backend, its keys; with
 * `?verbose=1`, every key slot) and `GET /metrics` (Prometheus text). Errors in OpenAI's shape.
 *
 * @module
 */

import { jsonResponse, textResponse } from "../canonical/errors.ts";
import type { Config } from "../config/config.ts";
import type { Frontend } from "../frontends/frontend.ts";
import { EXPOSITION_CONTENT_TYPE } from "./metrics.ts";
import type { ProxyMetrics } from "./proxy_metrics.ts";

/** `/health?verbose=1` (or `true`) adds every key slot's state. */
export function isVerbose(url: URL): boolean {
  const v = url.searchParams.get("verbose");
  return v === "1" || v === "true";
}

/**
 * The `/health` answer: `ok` when every backend is, `unavailable` when none can serve.
 *
 * @example
 * ```ts
 * await health(config, false).json(); // { status: "ok", backends: { internlm: { … } } }
 * ```
 */
export function health(config: Config, verbose: boolean): Response {
  const backends = Object.fromEntries(
    [...config.backends.values()].map((b) => [b.name, b.health(verbose)]),
  );
  const states = Object.values(backends).map((b) => b.status);
  const status = states.every((s) => s === "ok")
    ? "ok"
    : states.some((s) => s !== "unavailable")
    ? "degraded"
    : "unavailable";
  // Where key state lives (`local`, `shared` through Redis, or `degraded`: Redis configured but
  // away): for operators, so only in the verbose form.
  return jsonResponse(
    verbose ? { status, state: config.state.status, backends } : { status, backends },
  );
}

/**
 * The operations routes as a front end of their own (label `operations`). Plain `/health` is open
 * to probes; its verbose form, which details every key slot, needs a client key like the rest.
 *
 * @example
 * ```ts
 * const table = new RouteTable([openAIChat, operations(metrics)]);
 * ```
 */
export function operations(metrics: ProxyMetrics): Frontend {
  return {
    name: "operations",
    routes: [
      {
        method: "GET",
        path: "/health",
        name: "health",
        isPublic: (url) => !isVerbose(url),
        handle: (ctx) => Promise.resolve(health(ctx.config, isVerbose(ctx.url))),
      },
      {
        method: "GET",
        path: "/metrics",
        name: "metrics",
        handle: () => Promise.resolve(textResponse(metrics.exposition(), EXPOSITION_CONTENT_TYPE)),
      },
    ],
    errorResponse: (error) => error.toResponse(),
  };
}
