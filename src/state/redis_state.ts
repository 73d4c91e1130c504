/**
 * Shared state in Redis (or Valkey). A key's cool-down or bench is written as
 * `<prefix>:verdict:<backend>:<key id>` with the verdict's own expiry, and announced on
 * `<prefix>:events`; every replica mirrors the verdicts in its key pools, so choosing a key costs
 * no round trip. A replica that was cut off pushes what it learnt alone and pulls what the others
 * learnt as soon as Redis is back. Keys are named by {@link keyId}, never by value.
 *
 * The same connection carries the keys' shared budgets (`redis_pacing.ts`) and the stored
 * Responses conversations (`redis_response_store.ts`); every script is loaded before sharing
 * starts, so no request pays for a missing one.
 *
 * @module
 */

import type { Redis } from "ioredis";
import type { KeyPool, KeyVerdict } from "../backends/keys.ts";
import type { Logger } from "../operations/log.ts";
import { keyId } from "./key_id.ts";
import type { MemoryStoreLimits } from "./memory_response_store.ts";
import { RedisLink } from "./redis_link.ts";
import {
  type ForgetMessage,
  RedisResponseStore,
  RESPONSE_SCRIPTS,
} from "./redis_response_store.ts";
import type { ResponseStore } from "./response_store.ts";
import { TAKE_PACE, takePace } from "./redis_pacing.ts";
import type { PacingBudget } from "../backends/key_pacing.ts";
import type { PacingShare, SharedState, StateStatus } from "./state.ts";

/** Settings of a {@link RedisState}. */
export interface RedisStateOptions {
  url: string;
  /** Deadline of one Redis call, in ms. */
  timeoutMs: number;
  /** Namespace of every Redis key and channel: several proxies may share one Redis. */
  prefix: string;
  log: Logger;
}

/** A verdict as it travels between replicas. */
interface VerdictMessage {
  /** The replica that reached it. */
  from: string;
  kind: "verdict";
  backend: string;
  key: string;
  verdict: KeyVerdict;
}

/**
 * Stores a verdict unless a longer one is already there, with the verdict's expiry, and announces
 * it. KEYS[1] the verdict; ARGV: verdict JSON, its `until`, time to live in ms, channel, message.
 */
const PUT_VERDICT = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, v = pcall(cjson.decode, current)
  if ok and type(v) == 'table' and tonumber(v['until']) and
    tonumber(v['until']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

interface SharedPool {
  backend: string;
  pool: KeyPool;
  ids: readonly string[];
  /** Slot by key id. */
  slots: ReadonlyMap<string, number>;
}

/** The connection and its pipelines with the scripts {@link RedisState} defines. */
type ScriptedRedis = Redis & { putVerdict(...args: string[]): Promise<number> };
type ScriptedPipeline = ReturnType<Redis["pipeline"]> & {
  putVerdict(...args: string[]): ScriptedPipeline;
};

/**
 * @example
 * ```ts
 * const state = new RedisState({ url: "redis://127.0.0.1:6379", timeoutMs: 50, prefix: "llm-proxy", log });
 * state.shareKeys("internlm", pool, keys);
 * ```
 */
export class RedisState implements SharedState {
  readonly #prefix: string;
  readonly #channel: string;
  readonly #replica = crypto.randomUUID();
  readonly #link: RedisLink;
  readonly #pools = new Map<string, SharedPool>();
  readonly #log: Logger;
  #responses: RedisResponseStore | undefined;

  constructor(options: RedisStateOptions) {
    this.#prefix = options.prefix;
    this.#channel = `${options.prefix}:events`;
    this.#log = options.log;
    this.#link = new RedisLink({
      url: options.url,
      timeoutMs: options.timeoutMs,
      log: options.log,
      channel: this.#channel,
      onMessage: (message) => this.#receive(message),
    });
    this.#link.onDial.push((redis) => {
      redis.defineCommand("putVerdict", { numberOfKeys: 1, lua: PUT_VERDICT });
      redis.defineCommand("takePace", { numberOfKeys: 1, lua: TAKE_PACE });
      for (const [name, lua] of Object.entries(RESPONSE_SCRIPTS)) {
        redis.defineCommand(name, { numberOfKeys: 4, lua });
      }
    });
    // Loaded before sharing (re)starts, so that no call on the request path pays for a NOSCRIPT.
    const scripts = [PUT_VERDICT, TAKE_PACE, ...Object.values(RESPONSE_SCRIPTS)];
    this.#link.onShared.push(async () => {
      const redis = this.#link.redis;
      await this.#link.timed(Promise.all(scripts.map((lua) => redis.script("LOAD", lua))));
    });
    this.#link.onShared.push(() => this.#resync());
  }

  get status(): StateStatus {
    return this.#link.shared ? "shared" : "degraded";
  }

  /** Times sharing was lost since start. */
  get outages(): number {
    return this.#link.outages;
  }

  shareKeys(backend: string, pool: KeyPool, keys: readonly string[]): void {
    const ids = keys.map(keyId);
    const shared: SharedPool = {
      backend,
      pool,
      ids,
      slots: new Map(ids.map((id, i) => [id, i])),
    };
    this.#pools.set(backend, shared);
    pool.onVerdict = (i, verdict) => void this.#put(shared, i, verdict);
  }

  sharePacing(backend: string, budget: PacingBudget): PacingShare {
    const ids = this.#pools.get(backend)?.ids ?? [];
    const key = (i: number) => `${this.#prefix}:pace:${backend}:${ids[i]}`;
    const interval = budget.rpm ? 60_000 / budget.rpm : 0;
    const tpm = budget.tpm ?? 0;
    return {
      take: async (i, tokens) =>
        await this.#link.call((redis) => takePace(redis, key(i), interval, tpm, tokens, true)) ??
          0,
      charge: (i, tokens) =>
        void this.#link.call((redis) => takePace(redis, key(i), interval, tpm, tokens, false)),
    };
  }

  /** The Responses store, shared by every replica, with these bounds for the whole fleet. */
  responseStore(limits: MemoryStoreLimits): ResponseStore {
    this.#responses ??= new RedisResponseStore({
      link: this.#link,
      prefix: this.#prefix,
      channel: this.#channel,
      replica: this.#replica,
      limits,
    });
    return this.#responses;
  }

  connect(): void {
    this.#link.connect();
  }

  close(): Promise<void> {
    return this.#link.close();
  }

  /** A per-model verdict (`KeyVerdict.model`) has a key of its own beside the key's. */
  #verdictKey(backend: string, id: string, model?: string): string {
    const key = `${this.#prefix}:verdict:${backend}:${id}`;
    return model === undefined ? key : `${key}:model:${encodeURIComponent(model)}`;
  }

  /** Off the request path: the pool already acts on the verdict; Redis only passes it on. */
  #put(shared: SharedPool, i: number, verdict: KeyVerdict): Promise<unknown> {
    const args = this.#verdictArgs(shared, i, verdict);
    if (!args) return Promise.resolve();
    return this.#link.call((redis) => (redis as ScriptedRedis).putVerdict(...args));
  }

  /** {@link PUT_VERDICT}'s key and arguments, or undefined when the verdict already ran out. */
  #verdictArgs(
    shared: SharedPool,
    i: number,
    verdict: KeyVerdict,
  ): [string, ...string[]] | undefined {
    const ttl = verdict.until - Date.now();
    if (ttl <= 0) return undefined;
    const message: VerdictMessage = {
      from: this.#replica,
      kind: "verdict",
      backend: shared.backend,
      key: shared.ids[i],
      verdict,
    };
    return [
      this.#verdictKey(shared.backend, shared.ids[i], verdict.model),
      JSON.stringify(verdict),
      String(verdict.until),
      String(Math.ceil(ttl)),
      this.#channel,
      JSON.stringify(message),
    ];
  }

  #receive(text: string): void {
    let message: VerdictMessage | ForgetMessage;
    try {
      message = JSON.parse(text);
    } catch {
      return this.#log.debug("shared state: ignoring a message that is not JSON");
    }
    if (message.from === this.#replica) return;
    if (message.kind === "verdict") this.#apply(message.backend, message.key, message.verdict);
    else if (message.kind === "forget") this.#responses?.forget(message.id);
  }

  #apply(backend: string, id: string, verdict: unknown): void {
    const shared = this.#pools.get(backend);
    const slot = shared?.slots.get(id);
    if (shared === undefined || slot === undefined || !isVerdict(verdict)) return;
    shared.pool.apply(slot, verdict);
  }

  /**
   * After connecting or an outage: every verdict in Redis is applied here, then every verdict
   * reached here while alone is offered to Redis (a longer one there wins), in one pipeline.
   */
  async #resync(): Promise<void> {
    const pools = [...this.#pools.values()];
    if (pools.length === 0) return;
    const redis = this.#link.redis;
    // Per-model cool-downs are named by model, which no replica can list: found by a scan.
    const names: Array<{ backend: string; id: string; key: string }> = [];
    for (const p of pools) {
      for (const id of p.ids) {
        names.push({ backend: p.backend, id, key: this.#verdictKey(p.backend, id) });
      }
      const head = this.#verdictKey(p.backend, "");
      let cursor = "0";
      do {
        const [next, keys] = await this.#link.timed(
          redis.scan(cursor, "MATCH", `${head}*:model:*`, "COUNT", 1000),
        );
        cursor = next;
        for (const key of keys) {
          names.push({
            backend: p.backend,
            id: key.slice(head.length, key.indexOf(":model:")),
            key,
          });
        }
      } while (cursor !== "0");
    }
    const found = await this.#link.timed(redis.mget(names.map((n) => n.key)));
    names.forEach((n, i) => {
      const text = found[i];
      if (text !== null) this.#apply(n.backend, n.id, parseJson(text));
    });
    const push = redis.pipeline() as unknown as ScriptedPipeline;
    let pushes = 0;
    const offer = (p: SharedPool, slot: number, verdict: KeyVerdict) => {
      const args = this.#verdictArgs(p, slot - 1, verdict);
      if (args) push.putVerdict(...args), pushes++;
    };
    for (const p of pools) {
      for (const s of p.pool.slotStates()) {
        if (s.state !== "usable" && s.until !== undefined) {
          offer(p, s.slot, { state: s.state, until: s.until, reason: s.reason ?? "" });
        }
        for (const m of s.models ?? []) offer(p, s.slot, { state: "cooling", ...m });
      }
    }
    if (pushes > 0) await this.#link.timed(push.exec());
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isVerdict(v: unknown): v is KeyVerdict {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (r.state === "cooling" || r.state === "benched") && typeof r.until === "number" &&
    typeof r.reason === "string" && (r.model === undefined || typeof r.model === "string");
}
