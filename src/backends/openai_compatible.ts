/**
 * The shared base for upstreams that speak OpenAI's chat-completions API with Bearer keys: key
 * rotation and failover, deadlines, error normalisation, response checks, native stream relay
 * and the model list. A backend type specialises it by its options and by overriding
 * {@link OpenAICompatibleBackend.upstreamBody}.
 *
 * @module
 */

import { deadline, sleep } from "../pipeline/abort.ts";
import { BodyTooLarge, readCappedBody, strictUtf8 } from "../edge/body.ts";
import { ConfigError, type ConfigSection } from "../config/config_section.ts";
import {
  ApiError,
  CLIENT_CLOSED,
  isRecord,
  parseUpstreamError,
  snippet,
} from "../canonical/errors.ts";
import { expandEnv, type KeyLease, KeyPool, keysFromEnv, uniqueKeys } from "./keys.ts";
import type { Logger } from "../operations/log.ts";
import type { SharedState } from "../state/state.ts";
import { normalizeReasoning } from "../streams/reasoning.ts";
import type { ChatCompletion, ChatRequest } from "../canonical/types.ts";
import { upstreamChunks } from "./upstream_stream.ts";
import {
  type ModelSettings,
  type ModelSettingsEntry,
  ModelSettingsTable,
  readModelSettings,
} from "./model_settings.ts";
import { fetchFailure } from "./fetch_failure.ts";
import { type Clock, KeyPacer, SYSTEM_CLOCK } from "./key_pacing.ts";
import { KeyQueue, type KeyRequest } from "./key_queue.ts";
import type { PacingShare } from "../state/state.ts";
import { isContentRefusal, isPerModelLimit } from "./refusals.ts";
import type {
  Answer,
  AttemptOutcome,
  Backend,
  BackendHealth,
  BackendInit,
  ChatContext,
  ChunkStream,
  ModelEntry,
} from "./backend.ts";

/**
 * How `stream: true` requests are served: `native` calls the upstream streaming and relays its
 * events as they arrive; `synthesize` calls it non-streaming and cuts the answer into events.
 */
export type StreamSetting = "native" | "synthesize";

/** The values of {@link StreamSetting}, as written in the config file. */
export const STREAM_SETTINGS: readonly StreamSetting[] = ["native", "synthesize"];

/** Resolved settings of one OpenAI-compatible backend. */
export interface OpenAICompatibleOptions {
  name: string;
  type: string;
  /** Who the upstream is, for messages: "InternLM". */
  vendor: string;
  baseUrl: string;
  keys: string[];
  /** The env variable people should set when there is no key, for the 503 message. */
  keyEnv: string;
  timeoutMs: number;
  rateLimitCooldownMs: number;
  authFailureCooldownMs: number;
  /** Extra attempts after 5xx or network errors (each on another key). */
  maxRetries: number;
  retryBackoffMs: number;
  modelsTtlMs: number;
  /** Served by `/v1/models` when the upstream's list cannot be fetched. */
  catalogue: string[];
  maxResponseBytes: number;
  streamMode: StreamSetting;
  /** Shares the key pool's verdicts with other replicas; none: this process alone. */
  state?: SharedState;
  /** Requests a minute per key (`rpm`); unset: not paced. */
  rpm?: number;
  /** Tokens a minute per key (`tpm`); unset: not paced. */
  tpm?: number;
  /** Longest wait for a key with budget before a 429 (`queue_timeout`). */
  queueTimeoutMs: number;
  /** Pacing's clock; tests give their own. */
  clock?: Clock;
  /** `model_settings:` entries, over {@link TypeDefaults.modelSettings}. */
  modelSettings: ModelSettingsEntry[];
  /** What the type knows of its models (InternLM's catalogue). */
  builtInSettings: readonly ModelSettingsEntry[];
}

/** Defaults a backend type supplies for {@link readOpenAICompatibleOptions}. */
export interface TypeDefaults {
  vendor: string;
  baseUrl?: string;
  /** Env prefix of the key list: `INTERNAI_API_KEY` reads `INTERNAI_API_KEY`, `_1`, `_2`, … */
  keyEnv: string;
  /** Env variable that overrides `api_url`, if the type has one. */
  baseUrlEnv?: string;
  catalogue: string[];
  /** The stream mode when the section does not set `stream` (or the type does not allow it). */
  streamMode: StreamSetting;
  /** What the type knows of its models' limits and capabilities. */
  modelSettings?: readonly ModelSettingsEntry[];
}

/** Settings every OpenAI-compatible backend section accepts. */
export const COMMON_SETTINGS = [
  "type",
  "enabled",
  "api_url",
  "api_keys",
  "api_key_env",
  "timeout",
  "rate_limit_cooldown",
  "auth_failure_cooldown",
  "max_retries",
  "retry_backoff",
  "models",
  "models_cache_ttl",
  "max_response_bytes",
  "model_settings",
  "rpm",
  "tpm",
  "queue_timeout",
] as const;

const MIB = 1024 * 1024;

const NOTHING_TRIED: ReadonlySet<number> = new Set();

/** Reads the common settings of `init.section`, with env overrides, into options. */
export function readOpenAICompatibleOptions(
  init: BackendInit,
  defaults: TypeDefaults,
): OpenAICompatibleOptions {
  const s = init.section;
  const keyEnv = s.string("api_key_env") ?? defaults.keyEnv;
  const configured = (s.stringList("api_keys") ?? []).map((k) =>
    expandEnv(
      k,
      init.env,
      (name) => init.log.warn(`api_keys references \${${name}}, which is not set`),
    )
  );
  const keys = uniqueKeys([...keysFromEnv(keyEnv, init.env), ...configured]);
  const fromEnv = defaults.baseUrlEnv ? init.env[defaults.baseUrlEnv] : undefined;
  const rawUrl: string | undefined = fromEnv || s.string("api_url") || defaults.baseUrl;
  if (!rawUrl) {
    throw new ConfigError(`${s.path.join(".")}.api_url is required`, [...s.path, "api_url"]);
  }
  return {
    name: init.name,
    type: s.string("type") ?? "",
    vendor: defaults.vendor,
    baseUrl: checkUrl(rawUrl, [...s.path, "api_url"]),
    keys,
    keyEnv,
    timeoutMs: s.seconds("timeout") ?? 300_000,
    rateLimitCooldownMs: s.seconds("rate_limit_cooldown") ?? 60_000,
    authFailureCooldownMs: s.seconds("auth_failure_cooldown") ?? 600_000,
    maxRetries: s.number("max_retries", 0, 10, true) ?? 2,
    retryBackoffMs: s.seconds("retry_backoff", 60) ?? 250,
    modelsTtlMs: s.seconds("models_cache_ttl") ?? 600_000,
    catalogue: s.stringList("models") ?? defaults.catalogue,
    maxResponseBytes: s.number("max_response_bytes", 1024, 1024 * MIB, true) ?? 32 * MIB,
    streamMode: readStreamSetting(s) ?? defaults.streamMode,
    state: init.state,
    rpm: s.number("rpm", 0, 1_000_000) || undefined,
    tpm: s.number("tpm", 0, 1_000_000_000) || undefined,
    queueTimeoutMs: s.seconds("queue_timeout", 3600) ?? 30_000,
    modelSettings: readModelSettings(s.section("model_settings")),
    builtInSettings: defaults.modelSettings ?? [],
  };
}

function readStreamSetting(s: ConfigSection): StreamSetting | undefined {
  const mode = s.string("stream");
  if (mode === undefined || (STREAM_SETTINGS as readonly string[]).includes(mode)) {
    return mode as StreamSetting | undefined;
  }
  throw new ConfigError(
    `${[...s.path, "stream"].join(".")} must be one of: ${STREAM_SETTINGS.join(", ")}`,
    [...s.path, "stream"],
  );
}

function checkUrl(raw: string, path: readonly (string | number)[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${path.join(".")} is not a valid URL: ${raw}`, path);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${path.join(".")} must be an http(s) URL`, path);
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * @example
 * ```ts
 * class MyBackend extends OpenAICompatibleBackend {
 *   protected override upstreamBody(request: ChatRequest, native: boolean) {
 *     return { ...super.upstreamBody(request, native), my_flag: true };
 *   }
 * }
 * ```
 */
export class OpenAICompatibleBackend implements Backend {
  readonly name: string;
  readonly type: string;
  protected readonly options: OpenAICompatibleOptions;
  protected readonly log: Logger;
  readonly #pool: KeyPool;
  readonly #settings: ModelSettingsTable;
  readonly #pacer: KeyPacer;
  readonly #queue: KeyQueue;
  /** The keys' budgets as all replicas spend them (`state.redis_url`); none: this process alone. */
  readonly #sharedPacing: PacingShare | undefined;
  /** Request headers per key slot and answer type, made once: an attempt only picks them. */
  readonly #headers: readonly Record<"json" | "sse", Readonly<Record<string, string>>>[];
  readonly #completionsUrl: string;
  #models: { entries: ModelEntry[]; expires: number } | undefined;
  #modelsInFlight: Promise<ModelEntry[]> | undefined;

  constructor(options: OpenAICompatibleOptions, log: Logger) {
    this.name = options.name;
    this.type = options.type;
    this.options = options;
    this.log = log;
    this.#pool = new KeyPool(options.keys);
    options.state?.shareKeys(this.name, this.#pool, options.keys);
    this.#settings = new ModelSettingsTable(options.modelSettings, options.builtInSettings);
    const clock = options.clock ?? SYSTEM_CLOCK;
    this.#pacer = new KeyPacer(options.keys.length, { rpm: options.rpm, tpm: options.tpm }, clock);
    this.#queue = new KeyQueue(this.#pool, this.#pacer, clock);
    if (this.#pacer.active) {
      this.#sharedPacing = options.state?.sharePacing?.(this.name, this.#pacer.budget);
    }
    const headers = (key: string, accept: string) =>
      Object.freeze({
        "authorization": `Bearer ${key}`,
        "content-type": "application/json",
        "accept": accept,
      });
    this.#headers = options.keys.map((key) => ({
      json: headers(key, "application/json"),
      sse: headers(key, "text/event-stream"),
    }));
    this.#completionsUrl = `${options.baseUrl}/chat/completions`;
    if (options.keys.length === 0) {
      log.warn(
        `backend ${this.name}: no ${options.vendor} API key; set ${options.keyEnv} ` +
          `(or ${options.keyEnv}_1, _2, …). Requests will get 503 until then.`,
      );
    }
  }

  /**
   * The JSON body sent upstream for `request`: as the client sent it on the `native` stream path,
   * otherwise with `stream: false` and no `stream_options`. Backend types override this.
   */
  protected upstreamBody(request: ChatRequest, native: boolean): Record<string, unknown> {
    if (native) return request;
    const { stream_options: _opts, ...rest } = request;
    return { ...rest, stream: false };
  }

  async complete(request: ChatRequest, ctx: ChatContext): Promise<Answer> {
    const { vendor } = this.options;
    if (this.#pool.size === 0) {
      throw new ApiError(
        503,
        `no ${vendor} API key is configured: set ${this.options.keyEnv} and restart the proxy`,
        { code: "no_api_key" },
      );
    }
    const native = request.stream === true && this.options.streamMode === "native";
    const body = JSON.stringify(this.upstreamBody(request, native));
    const until = Date.now() + this.options.timeoutMs;
    // Made only when a first attempt failed: most requests never need them.
    let tried: Set<number> | undefined;
    /** Keys this request saw answer 429/401/403: a retry after a 5xx never goes back to them. */
    let refused: Set<number> | undefined;
    let previous: KeyLease | undefined;
    let serverErrors = 0;
    let retrying = false;
    let rateLimited = false;
    let lastServerError: ApiError | undefined;

    // Charged to the key's `tpm` budget up front, corrected by the answer's usage.
    const tokens = this.#pacer.budget.tpm === undefined ? 0 : ctx.promptTokens?.() ?? 0;
    const queueUntil = Math.min(Date.now() + this.options.queueTimeoutMs, until);
    // Unpaced, a key is picked at once: no promise to wait for.
    const nextKey = (skip: ReadonlySet<number>) =>
      this.#pacer.active
        ? this.#pacedLease({ tried: skip, model: request.model, tokens }, ctx.signal, queueUntil)
        : this.#pool.acquire(skip, { model: request.model });

    for (;;) {
      if (previous) (tried ??= new Set()).add(previous.index);
      // A retry after a 5xx or network error prefers a key not tried yet; once every key has
      // been, it goes to one that failed that way (with a single key: the same key again).
      let lease = nextKey(tried ?? NOTHING_TRIED);
      if (lease instanceof Promise) lease = await lease;
      if (!lease && retrying) lease = await nextKey(refused ?? NOTHING_TRIED);
      if (!lease) break;
      previous = lease;
      retrying = false;
      ctx.stats.attempts++;
      ctx.stats.keySlot = lease.index + 1;
      ctx.stats.keySlots = this.#pool.size;
      const at = () => `backend ${this.name} ${lease.label}`;
      const d = deadline(ctx.signal, until - Date.now());
      const started = performance.now();
      let outcome: AttemptOutcome = "network_error";
      try {
        const res = await fetch(this.#completionsUrl, {
          method: "POST",
          headers: this.#headers[lease.index][native ? "sse" : "json"],
          body,
          signal: d.signal,
        });
        outcome = outcomeOf(res.status);
        // An upstream that ignores `stream: true` answers JSON: the core synthesizes then.
        if (res.ok && native && isEventStream(res)) {
          const stream = await this.#openStream(res, request, ctx);
          outcome = "ok";
          return stream;
        }
        const text = await this.#readText(res);
        if (res.ok) {
          const completion = this.#parseCompletion(text, request.model);
          const used = completion.usage?.total_tokens;
          if (typeof used === "number") {
            this.#pacer.charge(lease.index, used - tokens);
            this.#sharedPacing?.charge(lease.index, used - tokens);
          }
          outcome = "ok";
          return completion;
        }
        const detail = parseUpstreamError(text);
        if (res.status === 429) {
          rateLimited = true;
          const waitMs = retryAfterMs(res.headers.get("retry-after")) ??
            this.options.rateLimitCooldownMs;
          (refused ??= new Set()).add(lease.index);
          // A limit the upstream says is the model's cools the key for that model alone.
          const model = isPerModelLimit(text, request.model) ? request.model : undefined;
          this.#pool.coolDown(lease.index, Date.now() + waitMs, "rate-limited (429)", model);
          ctx.log.warn(
            `${at()}: rate-limited (429)${model ? ` for model ${model}` : ""}, ` +
              `cooling ${Math.ceil(waitMs / 1000)}s`,
          );
          continue;
        }
        if (res.status === 403 && isContentRefusal(detail)) {
          // The request was refused, not the key: no other key, no bench.
          throw new ApiError(400, `${vendor} refused the request: ${detail.message}`, {
            code: "content_policy_violation",
          });
        }
        if (res.status === 401 || res.status === 403) {
          (refused ??= new Set()).add(lease.index);
          this.#pool.bench(
            lease.index,
            Date.now() + this.options.authFailureCooldownMs,
            `rejected by ${vendor} (${res.status})`,
          );
          ctx.log.warn(`${at()}: rejected (${res.status}): ${detail.message}`);
          continue;
        }
        if (res.status < 500) {
          throw new ApiError(res.status === 422 ? 400 : res.status, detail.message, {
            type: detail.type,
            code: detail.code,
          });
        }
        lastServerError = new ApiError(
          502,
          `${vendor} upstream error (${res.status}): ${detail.message}`,
          { code: "upstream_error" },
        );
        ctx.log.warn(`${at()}: upstream ${res.status}: ${detail.message}`);
      } catch (err) {
        if (ctx.signal.aborted) outcome = "cancelled";
        else if (d.timedOut()) outcome = "timeout";
        else if (!(err instanceof ApiError)) outcome = "network_error";
        if (err instanceof ApiError) throw err;
        if (outcome === "cancelled") throw abortError(ctx.signal);
        if (outcome === "timeout") throw this.#timeout();
        const reason = fetchFailure(err);
        lastServerError = new ApiError(502, `no answer from ${vendor}: ${reason}`, {
          code: "upstream_unreachable",
        });
        ctx.log.warn(`${at()}: network error: ${reason}`);
      } finally {
        d.dispose();
        const ms = performance.now() - started;
        ctx.stats.upstreamMs += ms;
        ctx.onAttempt?.({ backend: this.name, keySlot: lease.index + 1, outcome, ms });
      }
      // Only server-side failures reach here: back off before the next key.
      if (++serverErrors > this.options.maxRetries) throw lastServerError;
      const pause = this.options.retryBackoffMs * 2 ** (serverErrors - 1) * (0.5 + Math.random());
      if (Date.now() + pause >= until) throw this.#timeout();
      await sleep(pause, ctx.signal).catch(() => {
        throw abortError(ctx.signal);
      });
      retrying = true;
    }
    throw lastServerError ?? this.#noUsableKey(rateLimited, request.model);
  }

  /**
   * A key with budget, waiting in the queue until `queueUntil` at most. With budgets shared by
   * replicas, the key this replica's pacer chose is taken from the shared budget too (one round
   * trip); when another replica spent it, the pacer learns when it is free and the queue chooses
   * again.
   */
  async #pacedLease(
    request: KeyRequest,
    signal: AbortSignal,
    queueUntil: number,
  ): Promise<KeyLease | undefined> {
    for (;;) {
      const wait = Math.max(0, queueUntil - Date.now());
      const lease = await this.#queue.lease(request, signal, wait, this.options.vendor);
      if (!lease || !this.#sharedPacing) return lease;
      const busyMs = await this.#sharedPacing.take(lease.index, request.tokens);
      if (busyMs === 0) return lease;
      this.#pacer.defer(lease.index, Date.now() + busyMs, request.tokens);
    }
  }

  /**
   * Takes the first read of a live stream here, so a connection that breaks before any byte
   * arrived still counts as a failed attempt (and moves on to the next key); after it, failures
   * travel down the stream.
   */
  async #openStream(res: Response, request: ChatRequest, ctx: ChatContext): Promise<ChunkStream> {
    const reader = res.body?.getReader();
    const first = await reader?.read();
    if (!reader || !first || first.done) throw this.#badResponse("an empty event stream");
    return upstreamChunks(reader, first.value, {
      vendor: this.options.vendor,
      model: request.model,
      idleMs: this.options.timeoutMs,
      maxEventLength: this.options.maxResponseBytes,
      signal: ctx.signal,
      redact: (text) => this.#pool.redact(text),
    });
  }

  /**
   * Why no key is left, with every key's state by count (never by key): while any key is only
   * rate-limited, a 429 with `Retry-After` (a 429 seen during this request counts even when its
   * cool-down already ran out, `Retry-After: 0`); when all were rejected, a 502.
   */
  #noUsableKey(rateLimited: boolean, model: string): ApiError {
    const { vendor, keyEnv } = this.options;
    const { total, benched } = this.#pool.counts();
    const soonest = this.#pool.soonestCoolingRecovery(model);
    if (soonest === undefined && !rateLimited) {
      return new ApiError(
        502,
        `the proxy's ${vendor} API keys were rejected by ${vendor} (401/403, ${benched} of ` +
          `${total}); check ${keyEnv}. Your own key to this proxy is not at fault.`,
        { code: "upstream_keys_rejected" },
      );
    }
    const seconds = Math.max(1, Math.ceil(((soonest ?? 0) - Date.now()) / 1000));
    // Every key not rejected was tried and rate-limited, now or by an earlier request.
    const limited = total - benched;
    const message = benched === 0
      ? `all ${vendor} API keys are rate-limited (${limited} of ${total}); retry in ${seconds}s`
      : `no ${vendor} API key can take the request: ${limited} of ${total} rate-limited, ` +
        `${benched} rejected by ${vendor} (401/403; check ${keyEnv}); retry in ${seconds}s`;
    return new ApiError(429, message, {
      code: "rate_limit_exceeded",
      headers: { "retry-after": String(seconds) },
    });
  }

  #timeout(): ApiError {
    return new ApiError(
      504,
      `${this.options.vendor} did not answer within ${this.options.timeoutMs / 1000}s`,
      { code: "upstream_timeout" },
    );
  }

  async #readText(res: Response): Promise<string> {
    let bytes: Uint8Array;
    try {
      bytes = await readCappedBody(res, this.options.maxResponseBytes);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      throw new ApiError(
        502,
        `${this.options.vendor} response is larger than the limit of ${err.limit} bytes`,
        { code: "upstream_response_too_large" },
      );
    }
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      throw this.#badResponse("a body that is not valid UTF-8");
    }
    // Upstreams sometimes echo the key they were sent ("Incorrect API key: sk-…"); masking it
    // here, once, covers every message, log line and answer built from what came back.
    return this.#pool.redact(text);
  }

  #parseCompletion(text: string, requestedModel: string): ChatCompletion {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw this.#badResponse(`a body that is not JSON: ${snippet(text)}`);
    }
    if (!isRecord(data)) throw this.#badResponse(`a body that is not a JSON object`);
    if (!Array.isArray(data.choices) || data.choices.length === 0) {
      if (isRecord(data.error) || data.msg !== undefined) {
        throw this.#badResponse(`an error: ${parseUpstreamError(text).message}`);
      }
      throw this.#badResponse(`a completion without choices: ${snippet(text)}`);
    }
    for (const [i, choice] of data.choices.entries()) {
      if (!isRecord(choice) || !isRecord(choice.message)) {
        throw this.#badResponse(`choice ${i} without a message`);
      }
      const m = choice.message;
      if (m.content !== null && m.content !== undefined && typeof m.content !== "string") {
        throw this.#badResponse(`choice ${i} with non-text content`);
      }
      // Fields OpenAI's schema requires but OpenAI-like upstreams often omit.
      m.role = "assistant";
      m.content ??= null;
      m.refusal ??= null;
      choice.logprobs ??= null;
      if (typeof choice.index !== "number") choice.index = i;
      choice.finish_reason ??= "stop";
      if (m.tool_calls !== undefined && !Array.isArray(m.tool_calls)) delete m.tool_calls;
      normalizeReasoning(choice.message as ChatCompletion["choices"][number]["message"]);
    }
    return {
      ...data,
      id: typeof data.id === "string" && data.id !== ""
        ? data.id
        : `chatcmpl-${crypto.randomUUID()}`,
      object: "chat.completion",
      created: typeof data.created === "number" ? data.created : Math.floor(Date.now() / 1000),
      model: typeof data.model === "string" && data.model !== "" ? data.model : requestedModel,
      choices: data.choices as ChatCompletion["choices"],
    };
  }

  #badResponse(what: string): ApiError {
    return new ApiError(502, `${this.options.vendor} returned ${what}`, {
      code: "bad_upstream_response",
    });
  }

  modelSettings(model: string): ModelSettings {
    return this.#settings.lookup(model);
  }

  async listModels(): Promise<ModelEntry[]> {
    if (this.#models && this.#models.expires > Date.now()) return this.#models.entries;
    this.#modelsInFlight ??= this.#fetchModels().finally(() => {
      this.#modelsInFlight = undefined;
    });
    return await this.#modelsInFlight;
  }

  async #fetchModels(): Promise<ModelEntry[]> {
    const lease = this.#pool.acquire(NOTHING_TRIED);
    const d = deadline(new AbortController().signal, Math.min(this.options.timeoutMs, 10_000));
    try {
      const res = await fetch(`${this.options.baseUrl}/models`, {
        headers: lease ? { authorization: `Bearer ${lease.key}` } : {},
        signal: d.signal,
      });
      const data: unknown = JSON.parse(await this.#readText(res));
      if (!res.ok || !isRecord(data) || !Array.isArray(data.data)) throw new Error(`${res.status}`);
      const entries = data.data.filter((m) => isRecord(m) && typeof m.id === "string").map((
        m,
      ) => ({
        id: m.id as string,
        created: typeof m.created === "number" ? m.created : 0,
        owned_by: typeof m.owned_by === "string" ? m.owned_by : this.name,
      }));
      if (entries.length === 0) throw new Error("empty list");
      this.#models = { entries, expires: Date.now() + this.options.modelsTtlMs };
    } catch (err) {
      this.log.debug(
        `backend ${this.name}: model list unavailable (${
          err instanceof Error ? err.message : err
        }); using the built-in catalogue`,
      );
      // Retry the upstream soon, but not on every /v1/models call.
      const entries = this.options.catalogue.map((id) => ({ id, created: 0, owned_by: this.name }));
      this.#models = { entries, expires: Date.now() + Math.min(this.options.modelsTtlMs, 30_000) };
    } finally {
      d.dispose();
    }
    return this.#models.entries;
  }

  health(verbose = false): BackendHealth {
    const keys = this.#pool.counts();
    const status = keys.usable === 0 ? "unavailable" : keys.usable < keys.total ? "degraded" : "ok";
    if (!verbose) return { type: this.type, status, keys };
    const now = Date.now();
    const slots = this.#pool.slotStates().map(({ slot, state, until, reason, models }) => {
      if (until === undefined) {
        if (!models) return { slot, state };
        // Usable, but cooling for these models alone (their own rate limits).
        const cooling = models.map((m) => ({
          model: m.model,
          until: new Date(m.until).toISOString(),
          reason: m.reason,
        }));
        return { slot, state, cooling_models: cooling };
      }
      return {
        slot,
        state,
        until: new Date(until).toISOString(),
        remaining_seconds: Math.max(0, Math.ceil((until - now) / 1000)),
        reason,
      };
    });
    return { type: this.type, status, keys, slots };
  }
}

/** What an upstream status means for the attempt; a 2xx is "ok" only once its body parses. */
function outcomeOf(status: number): AttemptOutcome {
  if (status < 300) return "bad_response";
  if (status === 429) return "rate_limited";
  if (status === 401 || status === 403) return "rejected";
  return status < 500 ? "client_error" : "server_error";
}

const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;
const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; capped at a day. */
export function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const ms = DELTA_SECONDS.test(value)
    ? Number(value) * 1000
    : HTTP_DATE.test(value)
    ? Date.parse(value) - Date.now()
    : NaN;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), 86_400_000);
}

/** Why the call was aborted: the caller's own ApiError (e.g. a shutdown), else a hang-up. */
function abortError(signal: AbortSignal): ApiError {
  return signal.reason instanceof ApiError
    ? signal.reason
    : new ApiError(CLIENT_CLOSED, "client closed the request", { code: "client_closed" });
}

function isEventStream(res: Response): boolean {
  return /^text\/event-stream\b/i.test(res.headers.get("content-type") ?? "");
}
