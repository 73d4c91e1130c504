/**
 * The proxy's metrics, served by `GET /metrics`: requests, upstream attempts by key slot, upstream
 * latency, in-flight requests, key pool states and streams. Label values are bounded: routes,
 * statuses, outcomes and slots are small fixed sets, backends come from the config, and models are
 * capped (see {@link MAX_MODEL_LABELS}). Keys never appear, only their slot numbers.
 *
 * @module
 */

import type { AttemptReport, Backend } from "../backends/backend.ts";
import type { ResponseStore } from "../state/response_store.ts";
import type { StreamMode } from "./log.ts";
import type { Fallback } from "../pipeline/fallback.ts";
import { Registry } from "./metrics.ts";
import type { SharedState } from "../state/state.ts";

/** Distinct backend/model pairs given their own label; later ones share {@link OTHER_MODEL}. */
export const MAX_MODEL_LABELS = 100;
/** The `model` label of requests past {@link MAX_MODEL_LABELS}. */
export const OTHER_MODEL = "(other)";

/** Seconds; from a fast local model to InternLM thinking for minutes. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** A request as counted when it is over (for a stream: when its body ends). */
export interface FinishedRequest {
  /** Which endpoint: `chat`, `models`, `health`, `metrics`, `messages`, … or `unknown`. */
  route: string;
  /** The front end whose route it was (`openai_chat`, `anthropic`, …); unset for no route. */
  frontend?: string;
  status: number;
  backend?: string;
  /** The model as the backend knows it; only set once the request was routed. */
  model?: string;
  stream?: StreamMode;
  seconds: number;
}

/**
 * @example
 * ```ts
 * const metrics = new ProxyMetrics(config.backends);
 * metrics.requestStarted();
 * metrics.requestFinished({ frontend: "openai_chat", route: "chat", status: 200, backend: "internlm", model: "m", seconds: 1.2 });
 * metrics.exposition(); // Prometheus text
 * ```
 */
export class ProxyMetrics {
  readonly #registry = new Registry();
  readonly #models = new Set<string>();
  #beforeExposition: (() => void) | undefined;
  readonly #requests = this.#registry.counter(
    "llm_proxy_requests_total",
    "HTTP requests answered, by front end (client dialect), route, backend, model and status.",
    ["frontend", "route", "backend", "model", "status"],
  );
  readonly #duration = this.#registry.histogram(
    "llm_proxy_request_duration_seconds",
    "Time from request to the last byte of the answer (streams included), by front end and route.",
    ["frontend", "route"],
    LATENCY_BUCKETS,
  );
  readonly #inFlight = this.#registry.gauge(
    "llm_proxy_requests_in_flight",
    "Requests being answered now, streams until their last byte.",
  );
  readonly #streams = this.#registry.counter(
    "llm_proxy_streams_total",
    "Event streams answered, by backend and mode (synthesized from a whole completion, or native).",
    ["backend", "mode"],
  );
  readonly #attempts = this.#registry.counter(
    "llm_proxy_upstream_attempts_total",
    "Upstream calls, by backend, key slot (1-based; never the key) and outcome.",
    ["backend", "key_slot", "outcome"],
  );
  readonly #fallbacks = this.#registry.counter(
    "llm_proxy_fallbacks_total",
    "Requests passed from one backend model of a models: chain to the next, by why.",
    ["from", "to", "reason"],
  );
  readonly #upstreamLatency = this.#registry.histogram(
    "llm_proxy_upstream_duration_seconds",
    "Duration of one upstream call (a native stream: until its first bytes), by backend.",
    ["backend"],
    LATENCY_BUCKETS,
  );

  /** `responseStore`, when given and able to tell, has its sizes exposed. */
  constructor(
    backends: ReadonlyMap<string, Backend>,
    state?: SharedState,
    responseStore?: ResponseStore,
  ) {
    if (state && state.status !== "local") {
      this.#registry.gauge(
        "llm_proxy_state_degraded",
        "1 while Redis is down or slow and this replica runs on its local state, 0 while shared.",
        [],
        () => [[[], state.status === "degraded" ? 1 : 0]],
      );
    }
    this.#registry.gauge(
      "llm_proxy_keys",
      "Upstream keys per backend by state: usable, cooling (rate-limited) or benched (rejected).",
      ["backend", "state"],
      function* () {
        for (const backend of backends.values()) {
          const { keys } = backend.health();
          yield [[backend.name, "usable"], keys.usable];
          yield [[backend.name, "cooling"], keys.cooling];
          yield [[backend.name, "benched"], keys.benched];
        }
      },
    );
    if (responseStore?.stats) this.#storeMetrics(responseStore.stats.bind(responseStore));
    // The names every Prometheus client library uses, so stock dashboards and alerts work.
    this.#registry.gauge(
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
      [],
      () => [[[], Deno.memoryUsage().rss]],
    );
    this.#registry.gauge(
      "process_start_time_seconds",
      "Start time of the process since the Unix epoch, in seconds.",
      [],
      () => [[[], Math.round(performance.timeOrigin) / 1000]],
    );
  }

  requestStarted(): void {
    this.#inFlight.inc();
  }

  requestFinished(r: FinishedRequest): void {
    this.#inFlight.dec();
    const backend = r.backend ?? "";
    const model = r.model === undefined ? "" : this.#modelLabel(backend, r.model);
    const frontend = r.frontend ?? "";
    this.#requests.inc([frontend, r.route, backend, model, String(r.status)]);
    this.#duration.observe([frontend, r.route], r.seconds);
    if (r.stream) this.#streams.inc([backend, r.stream]);
  }

  /** The backends' attempt hook (`ChatContext.onAttempt`). */
  readonly attempt = (r: AttemptReport): void => {
    this.#attempts.inc([r.backend, String(r.keySlot), r.outcome]);
    this.#upstreamLatency.observe([r.backend], r.ms / 1000);
  };

  /** The pipeline's fallback hook (`ChatTrace.onFallback`); labels come from the config's chains. */
  readonly fallback = (f: Fallback): void => {
    this.#fallbacks.inc([f.from, f.to, f.reason]);
  };

  /** Everything, in Prometheus' text format 0.0.4. */
  exposition(): string {
    this.#beforeExposition?.();
    return this.#registry.exposition();
  }

  #storeMetrics(stats: NonNullable<ResponseStore["stats"]>): void {
    this.#registry.gauge(
      "llm_proxy_response_store_items",
      "Responses API responses held by the response store.",
      [],
      () => [[[], stats().items]],
    );
    this.#registry.gauge(
      "llm_proxy_response_store_bytes",
      "Bytes of the records held by the response store.",
      [],
      () => [[[], stats().bytes]],
    );
    // A gauge read from the store's own counters, which only go up: exposed as a counter.
    const evictions = this.#registry.counter(
      "llm_proxy_response_store_evictions_total",
      "Stored responses dropped to stay within bounds, by reason (count, bytes, ttl).",
      ["reason"],
    );
    const seen = { count: 0, bytes: 0, ttl: 0 };
    this.#beforeExposition = () => {
      const now = stats().evictions;
      for (const reason of ["count", "bytes", "ttl"] as const) {
        evictions.inc([reason], now[reason] - seen[reason]);
        seen[reason] = now[reason];
      }
    };
  }

  /** Clients choose model names freely (the default backend takes any): keep the label set bounded. */
  #modelLabel(backend: string, model: string): string {
    const key = `${backend}/${model}`;
    if (this.#models.has(key)) return model;
    if (this.#models.size >= MAX_MODEL_LABELS) return OTHER_MODEL;
    this.#models.add(key);
    return model;
  }
}
