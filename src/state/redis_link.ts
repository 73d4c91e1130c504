/**
 * One replica's link to Redis: a command connection and a subscriber connection (ioredis), a
 * deadline on every call, and the rule that Redis down or slow never fails a request. Any failed
 * or late call turns the link `degraded`: callers then skip Redis and use their local state, one
 * warning is logged for the whole outage, and a probe with backoff waits for Redis to answer in
 * time again. Then the `onShared` hooks resynchronise (push what was learnt alone, pull what the
 * others learnt) and sharing resumes.
 *
 * @module
 */

import type { Redis } from "ioredis";
import type { Logger } from "../operations/log.ts";

/** Settings of a {@link RedisLink}. */
export interface RedisLinkOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  /** Deadline of one call (a pipeline counts as one), in ms. */
  timeoutMs: number;
  log: Logger;
  /** The channel replicas publish their news on (subscribed at start). */
  channel: string;
  /** Hears every message on `channel`, this replica's own included. */
  onMessage: (message: string) => void;
}

/** The first pause between reconnects or probes, and the longest one. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 2_000;
/** How long connecting may take before the attempt counts as failed. */
const CONNECT_TIMEOUT_MS = 2_000;

/** The pause before retry number `attempt` (1-based): doubling from 100 ms, at most 2 s, ±25 %. */
export function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_FIRST_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** `host:port` of a Redis URL: what logs may show of it (never the password). */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "6379"}`;
  } catch {
    return "(invalid URL)";
  }
}

/** A Redis call that missed its deadline. */
export class RedisTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "RedisTimeout";
  }
}

/**
 * @example
 * ```ts
 * const link = new RedisLink({ url: "redis://127.0.0.1:6379", timeoutMs: 50, log, channel: "c", onMessage: () => {} });
 * const value = await link.call((r) => r.get("k")); // undefined when Redis is away: use local state
 * ```
 */
export class RedisLink {
  readonly #options: RedisLinkOptions;
  // Made by the first connect(): ioredis (+28 MiB of resident memory) is loaded only then.
  #cmd: Redis | undefined;
  #sub: Redis | undefined;
  #connecting = false;
  readonly #address: string;
  #shared = false;
  #closed = false;
  /** Set while a probe is running: at most one at a time. */
  #probing = false;
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether this outage was already logged; reset once sharing resumes. */
  #outageLogged = false;
  /** How many times sharing was lost since start (for tests and metrics). */
  outages = 0;
  /** Run once the command connection is made (by the first connect), before it dials. */
  readonly onDial: Array<(redis: Redis) => void> = [];
  /** Run, in order, each time the link becomes shared (first connect and after every outage). */
  readonly onShared: Array<() => Promise<void>> = [];

  constructor(options: RedisLinkOptions) {
    this.#options = options;
    this.#address = redisAddress(options.url);
  }

  /** Dials Redis (and keeps redialling with backoff); sharing starts once it answers. */
  connect(): void {
    if (this.#closed || this.#connecting) return;
    this.#connecting = true;
    import("ioredis").then(({ Redis }) => {
      if (!this.#closed) this.#dial(Redis);
    }, (err: Error) => this.#lost(`the Redis client did not load: ${err.message}`));
  }

  #dial(Client: typeof Redis): void {
    const options = this.#options;
    const common = {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (times: number) => backoffMs(times),
      // A request must never queue behind a reconnect: fail at once, and use local state.
      maxRetriesPerRequest: 0,
      connectionName: "llm-proxy",
    };
    // Auto-pipelining writes the calls of concurrent requests made in one tick as one batch:
    // fewer writes under load, the same answers.
    const cmd = this.#cmd = new Client(options.url, {
      ...common,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
    });
    // The subscriber never serves a request: its SUBSCRIBE may wait for the connection.
    const sub = this.#sub = new Client(options.url, { ...common, enableOfflineQueue: true });
    for (const hook of this.onDial) hook(cmd);
    for (const client of [cmd, sub]) {
      // ioredis retries by itself; without a listener its errors would be thrown.
      client.on("error", (err: Error) => this.#lost(err.message));
      client.on("close", () => this.#lost("connection closed"));
      client.on("ready", () => this.#probe());
    }
    sub.on("message", (_channel: string, message: string) => options.onMessage(message));
    // A failed first dial is retried by ioredis like any lost connection; `error` reports it.
    cmd.connect().catch(() => {});
    sub.connect().catch(() => {});
    sub.subscribe(options.channel).catch((err: Error) => this.#lost(err.message));
  }

  /** True while Redis answers in time; false means: use local state. */
  get shared(): boolean {
    return this.#shared;
  }

  /**
   * Runs `fn` against the command connection within the deadline. Resolves to undefined, without
   * trying, while the link is degraded, and when the call fails or is late (then the link turns
   * degraded). Never rejects.
   */
  async call<T>(fn: (redis: Redis) => Promise<T>): Promise<T | undefined> {
    if (!this.#shared || !this.#cmd) return undefined;
    try {
      return await this.#timed(fn(this.#cmd));
    } catch (err) {
      this.#lost(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }

  /** Closes both connections; pending calls resolve to undefined. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#shared = false;
    clearTimeout(this.#probeTimer);
    const cmd = this.#cmd;
    const sub = this.#sub;
    if (!cmd || !sub) return;
    if (cmd.status !== "wait") {
      // A stalled Redis must not hold up the exit: QUIT gets the same deadline as any call.
      await this.#timed(Promise.allSettled([cmd.quit(), sub.quit()])).catch(() => {});
    }
    cmd.disconnect();
    sub.disconnect();
  }

  #timed<T>(promise: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RedisTimeout(this.#options.timeoutMs)),
        this.#options.timeoutMs,
      );
    });
    // A late answer still settles `promise` later: nothing may reject unheard then.
    promise.catch(() => {});
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  /** Sharing stops at once; logged once per outage; a probe waits for Redis to come back. */
  #lost(reason: string): void {
    if (this.#closed) return;
    if (this.#shared) {
      this.#shared = false;
      this.outages++;
    }
    if (!this.#outageLogged) {
      this.#outageLogged = true;
      this.#options.log.warn(
        `shared state: Redis at ${this.#address} unavailable (${reason}); this replica uses ` +
          `its local state until Redis is back`,
      );
    }
    this.#probe();
  }

  /**
   * Resumes sharing once both connections are ready and a PING comes back in time, retrying with
   * backoff; a connection that is down is reconnected by ioredis itself, whose `ready` calls this
   * again.
   */
  #probe(attempt = 1): void {
    if (this.#closed || this.#shared || this.#probing) return;
    const cmd = this.#cmd;
    const sub = this.#sub;
    if (cmd?.status !== "ready" || sub?.status !== "ready") return;
    this.#probing = true;
    this.#timed(cmd.ping())
      .then(async () => {
        for (const hook of this.onShared) await hook();
        if (this.#closed || cmd.status !== "ready" || sub.status !== "ready") {
          throw new Error("connection lost while resynchronising");
        }
        this.#shared = true;
        this.#probing = false;
        if (this.#outageLogged) {
          this.#options.log.warn(
            `shared state: Redis at ${this.#address} is back; sharing resumed`,
          );
        } else this.#options.log.info(`shared state: using Redis at ${this.#address}`);
        this.#outageLogged = false;
      })
      .catch(() => {
        this.#probing = false;
        if (this.#closed) return;
        clearTimeout(this.#probeTimer);
        this.#probeTimer = setTimeout(() => this.#probe(attempt + 1), backoffMs(attempt));
      });
  }

  /** The raw command connection, for the onShared hooks (which run before sharing resumes). */
  get redis(): Redis {
    if (!this.#cmd) throw new Error("RedisLink: not connected yet");
    return this.#cmd;
  }

  /** {@link RedisLink.call}'s deadline, for hooks that talk to {@link RedisLink.redis}. */
  timed<T>(promise: Promise<T>): Promise<T> {
    return this.#timed(promise);
  }
}
