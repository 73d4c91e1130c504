/**
 * What the core needs from a backend. A backend type is one file in this folder exporting a
 * {@link BackendFactory}, plus one line in `registry.ts`.
 *
 * @module
 */

import type { ConfigSection } from "../config/config_section.ts";
import type { Logger } from "../operations/log.ts";
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from "../canonical/types.ts";
import type { KeyCounts, KeyState } from "./keys.ts";
import type { SharedState } from "../state/state.ts";
import type { ModelSettings } from "./model_settings.ts";

/** Filled in by the backend as it works, read by the request log (also when the call fails). */
export interface AttemptStats {
  attempts: number;
  /** 1-based slot of the last key used, of `keySlots` (`key 2/3`); never the key itself. */
  keySlot?: number;
  keySlots?: number;
  /** Time spent on upstream calls, all attempts together (backoff pauses excluded). */
  upstreamMs: number;
}

/** How one upstream attempt ended. */
export type AttemptOutcome =
  | "ok"
  /** 429: the key cools down. */
  | "rate_limited"
  /** 401/403: the key is benched. */
  | "rejected"
  /** Another 4xx: the request itself was refused, not retried. */
  | "client_error"
  | "server_error"
  /** A 2xx whose body was unusable (not JSON, no choices, too large, …). */
  | "bad_response"
  | "network_error"
  | "timeout"
  /** The call was aborted: the client hung up, or a shutdown ran out of drain time. */
  | "cancelled";

/** One finished upstream attempt, as reported to {@link ChatContext.onAttempt}. */
export interface AttemptReport {
  backend: string;
  /** 1-based key slot; never the key. */
  keySlot: number;
  outcome: AttemptOutcome;
  /** Wall time of the attempt (request sent to body read or failure). */
  ms: number;
}

/** Per-request context handed to a backend. */
export interface ChatContext {
  /** Aborts when the client goes away; the backend must stop its upstream call. */
  signal: AbortSignal;
  stats: AttemptStats;
  /** The request's logger: its lines carry the request id. */
  log: Logger;
  /** Told about every upstream attempt as it ends (metrics); optional so backends test alone. */
  onAttempt?: (report: AttemptReport) => void;
  /** A rough count of the request's prompt tokens, for a `tpm` budget (asked only then). */
  promptTokens?: () => number;
}

/** One model a backend serves, id without the backend prefix. */
export interface ModelEntry {
  id: string;
  created: number;
  owned_by: string;
}

/** One key slot in `/health?verbose=1`: where it stands, never what it is. */
export interface KeySlotHealth {
  /** 1-based, as in `key 2/3`. */
  slot: number;
  state: KeyState;
  /** When a cooling or benched key is tried again (ISO 8601). */
  until?: string;
  remaining_seconds?: number;
  /** E.g. `rate-limited (429)`, `rejected by InternLM (401)`; never the upstream's own words. */
  reason?: string;
  /** A usable key cooling for some models alone (their own rate limits). */
  cooling_models?: Array<{ model: string; until: string; reason: string }>;
}

/** A backend's state for `/health`. */
export interface BackendHealth {
  type: string;
  status: "ok" | "degraded" | "unavailable";
  keys: KeyCounts;
  /** Only with `verbose`. */
  slots?: KeySlotHealth[];
}

/**
 * One item of a stream: a chunk, an upstream comment (keep-alive) to pass on, or `frames`, whole
 * `data:` events already serialised (how synthesized chunks travel: in batches, so that a long
 * answer is not written to the client one 200-byte event at a time).
 */
export type StreamEvent =
  | { chunk: ChatCompletionChunk }
  | { comment: string }
  | { frames: string };

/**
 * A live upstream stream, opened and past key failover. It ends after the last chunk (the
 * upstream's `[DONE]` is not an item) or errors with an `ApiError`; cancelling it closes the
 * upstream call.
 */
export type ChunkStream = ReadableStream<StreamEvent>;

/** What a backend answers: a finished completion, or, for `stream: true` only, a live stream. */
export type Answer = ChatCompletion | ChunkStream;

/** A configured upstream. */
export interface Backend {
  readonly name: string;
  readonly type: string;
  /**
   * Answers a chat request; `request.model` is already the upstream's model id. A request with
   * `stream: true` may get a {@link ChunkStream} (relayed as it arrives) or a completion (which
   * the core turns into a stream); any other request gets a completion.
   */
  complete(request: ChatRequest, ctx: ChatContext): Promise<Answer>;
  /** What `model` (the upstream's id) can take; fields not known are left out. */
  modelSettings(model: string): ModelSettings;
  /** The models this backend serves (cached; never fails, falls back to a catalogue). */
  listModels(): Promise<ModelEntry[]>;
  /** Cheap; `verbose` adds every key slot's state. */
  health(verbose?: boolean): BackendHealth;
}

/** Everything a factory gets to build a backend. */
export interface BackendInit {
  name: string;
  /** The backend's mapping under `backends.<name>` in the config file. */
  section: ConfigSection;
  env: Readonly<Record<string, string>>;
  log: Logger;
  /** Where key verdicts are shared with other replicas; none: this process alone. */
  state?: SharedState;
}

/** Builds a backend from its config section; throws `ConfigError` on bad settings. */
export type BackendFactory = (init: BackendInit) => Backend;
