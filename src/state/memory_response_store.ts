/**
 * The embedded response store: in this process's memory, bounded by a record count and by bytes,
 * least recently used evicted first, and records unused for longer than a TTL dropped. Records
 * are kept as UTF-8 JSON in byte arrays: their size is what the byte bound counts, every read
 * hands out a fresh copy, and the garbage collector never copies them (an array's bytes live
 * outside the JavaScript heap), which keeps a full store cheap under load.
 *
 * @module
 */

import { ConfigError, type ConfigSection } from "../config/config_section.ts";
import type {
  ResponseStore,
  ResponseStoreFactory,
  ResponseStoreStats,
  StoredResponse,
} from "./response_store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bounds of a {@link MemoryResponseStore}. */
export interface MemoryStoreLimits {
  maxItems: number;
  maxBytes: number;
  /** A record not stored or read for this long is gone. */
  ttlMs: number;
  /** Milliseconds since the epoch; tests pass their own clock. */
  now?: () => number;
}

interface Entry {
  json: Uint8Array;
  /** When the record expires unless it is used again. */
  expires: number;
}

/** Defaults of `responses.store`: enough for a team's agents, a fraction of a small container. */
export const MEMORY_STORE_DEFAULTS = {
  maxItems: 10_000,
  maxBytes: 256 * 1024 * 1024,
  ttlMs: 24 * 3600 * 1000,
} as const;

/**
 * @example
 * ```ts
 * const store = new MemoryResponseStore({ maxItems: 1000, maxBytes: 64 << 20, ttlMs: 3600_000 });
 * await store.put({ response: { id: "resp_1" }, history: [], input: [] });
 * ```
 */
export class MemoryResponseStore implements ResponseStore {
  // A Map iterates in insertion order: re-inserting on every use keeps the least recently used
  // first. Every use also renews the TTL, so the first entry is also the first to expire.
  readonly #entries = new Map<string, Entry>();
  readonly #limits: Required<MemoryStoreLimits>;
  #bytes = 0;
  /**
   * No record expires before this. The first record's expiry only ever grows (a record used
   * again moves to the end, with the latest expiry), so once it is known, most calls need not
   * look at the map at all.
   */
  #noneExpireBefore = -Infinity;
  readonly #evictions = { count: 0, bytes: 0, ttl: 0 };

  constructor(limits: MemoryStoreLimits) {
    this.#limits = { now: Date.now, ...limits };
  }

  get(id: string): Promise<StoredResponse | undefined> {
    const now = this.#limits.now();
    this.#expire(now);
    const entry = this.#entries.get(id);
    if (!entry) return Promise.resolve(undefined);
    this.#entries.delete(id);
    entry.expires = now + this.#limits.ttlMs;
    this.#entries.set(id, entry);
    return Promise.resolve(JSON.parse(decoder.decode(entry.json)) as StoredResponse);
  }

  /** Stored before the returned promise is even looked at: a stream's next turn never misses it. */
  put(record: StoredResponse): Promise<void> {
    const id = record.response.id;
    const json = encoder.encode(JSON.stringify(record));
    const bytes = json.byteLength;
    this.#remove(id);
    const now = this.#limits.now();
    this.#expire(now);
    // A record larger than the whole store is not kept: it would evict everything and then itself.
    if (bytes > this.#limits.maxBytes) {
      this.#evictions.bytes++;
      return Promise.resolve();
    }
    this.#entries.set(id, { json, expires: now + this.#limits.ttlMs });
    this.#bytes += bytes;
    while (this.#entries.size > this.#limits.maxItems) this.#evictOldest("count");
    while (this.#bytes > this.#limits.maxBytes) this.#evictOldest("bytes");
    return Promise.resolve();
  }

  delete(id: string): Promise<boolean> {
    this.#expire(this.#limits.now());
    return Promise.resolve(this.#remove(id));
  }

  stats(): ResponseStoreStats {
    this.#expire(this.#limits.now());
    return { items: this.#entries.size, bytes: this.#bytes, evictions: { ...this.#evictions } };
  }

  /** Drops expired records; they are all at the front (see the map's comment). */
  #expire(now: number): void {
    if (now < this.#noneExpireBefore) return;
    for (const [id, entry] of this.#entries) {
      if (entry.expires > now) {
        this.#noneExpireBefore = entry.expires;
        return;
      }
      this.#remove(id);
      this.#evictions.ttl++;
    }
    // Empty: whatever is stored from now on expires a TTL from now at the earliest.
    this.#noneExpireBefore = now + this.#limits.ttlMs;
  }

  #evictOldest(reason: "count" | "bytes"): void {
    const oldest = this.#entries.keys().next();
    if (oldest.done) return;
    this.#remove(oldest.value);
    this.#evictions[reason]++;
  }

  #remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    this.#bytes -= entry.json.byteLength;
    return true;
  }
}

/**
 * The bounds of `responses.store` (`max_items`, `max_bytes`, `ttl` in seconds), any type.
 *
 * @example
 * ```ts
 * readStoreLimits(root.section("responses").section("store")); // { maxItems: 10000, … }
 * ```
 */
export function readStoreLimits(section: ConfigSection): MemoryStoreLimits {
  section.allowOnly(["type", "max_items", "max_bytes", "ttl"]);
  return {
    maxItems: section.number("max_items", 1, 10_000_000, true) ?? MEMORY_STORE_DEFAULTS.maxItems,
    maxBytes: section.number("max_bytes", 1024, 2 ** 40, true) ?? MEMORY_STORE_DEFAULTS.maxBytes,
    ttlMs: section.seconds("ttl", 365 * 86_400) ?? MEMORY_STORE_DEFAULTS.ttlMs,
  };
}

/**
 * `responses.store` with `type: memory` (the default without Redis).
 *
 * @example
 * ```ts
 * RESPONSE_STORE_TYPES.memory({ section: root.section("responses").section("store"), env, log });
 * ```
 */
export const createMemoryStore: ResponseStoreFactory = ({ section }) =>
  new MemoryResponseStore(readStoreLimits(section));

/**
 * `responses.store` with `type: redis` (the default with `state.redis_url`): the same bounds, for
 * the whole fleet, in the shared state's Redis.
 *
 * @example
 * ```ts
 * RESPONSE_STORE_TYPES.redis({ section, env, log, state }); // state from state.redis_url
 * ```
 */
export const createSharedStore: ResponseStoreFactory = ({ section, state }) => {
  const limits = readStoreLimits(section);
  if (!state?.responseStore) {
    throw new ConfigError(
      `${section.path.join(".")}.type redis needs state.redis_url (or LLM_PROXY_REDIS_URL)`,
      [...section.path, "type"],
    );
  }
  return state.responseStore(limits);
};
