/**
 * The operations endpoints: `GET /health` (liveness: 200 while the process serves, with the overall
 * status and, per backend, its keys; with `?verbose=1`, every key slot), `GET /health/ready`
 * (readiness: the same answer, but 503 when no backend can serve) and `GET /metrics` (Prometheus
 * text). Errors in OpenAI's shape.
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

/** `ok` when every backend is, `unavailable` when none can serve, `degraded` in between. */
export type OverallStatus = "ok" | "degraded" | "unavailable";

function report(config: Config, verbose: boolean) {
  const backends = Object.fromEntries(
    [...config.backends.values()].map((b) => [b.name, b.health(verbose)]),
  );
  const states = Object.values(backends).map((b) => b.status);
  const status: OverallStatus = states.every((s) => s === "ok")
    ? "ok"
    : states.some((s) => s !== "unavailable")
    ? "degraded"
    : "unavailable";
  // Where key state lives (`local`, `shared` through Redis, or `degraded`: Redis configured but
  // away): for operators, so only in the verbose form.
  return verbose ? { status, state: config.state.status, backends } : { status, backends };
}

/**
 * The `/health` answer, for liveness probes: always 200 while the process serves, whatever the
 * backends' state (a restart would not bring keys back), with that state in the body.
 *
 * @example
 * ```ts
 * await health(config, false).json(); // { status: "ok", backends: { internlm: { … } } }
 * ```
 */
export function health(config: Config, verbose: boolean): Response {
  return jsonResponse(report(config, verbose));
}

/**
 * The `/health/ready` answer, for readiness probes and load balancers: the same body as `/health`,
 * but 503 while no backend can serve (no key, or every key rate-limited or rejected), so that
 * traffic goes elsewhere until one can.
 *
 * @example
 * ```ts
 * readiness(config).status; // 503 when /health says "unavailable", else 200
 * ```
 */
export function readiness(config: Config): Response {
  const body = report(config, false);
  return jsonResponse(body, body.status === "unavailable" ? 503 : 200);
}

/**
 * The operations routes as a front end of their own (label `operations`). Plain `/health` and
 * `/health/ready` are open to probes; the verbose form, which details every key slot, needs a
 * client key like the rest.
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
        path: "/health/ready",
        name: "ready",
        isPublic: () => true,
        handle: (ctx) => Promise.resolve(readiness(ctx.config)),
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
