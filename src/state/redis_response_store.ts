/**
 * Stored Responses conversations in Redis, so that a response made on one replica continues on
 * any other. The store's bounds hold for the whole fleet: one Lua script per call keeps a
 * least-recently-used index (`<prefix>:responses:lru`, scores are Redis's own clock), the records'
 * sizes and their total beside the records (`<prefix>:response:<id>`, each with the TTL, renewed
 * by a read), and evicts expired, then least recently used records until the count and the bytes
 * fit. One round trip per call.
 *
 * Every record this replica writes is also kept in its own memory (bounded alike): while Redis is
 * away the replica serves its recent conversations from there, and the records it stored alone go
 * to Redis once it is back. While Redis answers, it alone is the truth. A delete is announced to
 * the other replicas so that none keeps a copy.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { utf8Length } from "../canonical/errors.ts";
import { MemoryResponseStore, type MemoryStoreLimits } from "./memory_response_store.ts";
import type { RedisLink } from "./redis_link.ts";
import type { ResponseStore, ResponseStoreStats, StoredResponse } from "./response_store.ts";

/** Evicts what must go; shared by the scripts. KEYS[2] index, KEYS[3] sizes, KEYS[4] total. */
const DROP = `
local function drop(id)
  local size = redis.call('HGET', KEYS[3], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  local gone = redis.call('DEL', ARGV[1] .. id)
  if size then redis.call('DECRBY', KEYS[4], size) end
  return gone
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Calls within one millisecond must still order the index: a tie would be broken by id, not use.
local function stamp()
  local newest = tonumber(redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2] or '0')
  return string.format('%.3f', math.max(now, newest + 0.01))
end
`;

/**
 * KEYS: record, index, sizes, total. ARGV: record key prefix, id, JSON, bytes, TTL ms, max items,
 * max bytes. Answers {items, bytes, evicted by ttl, by count, by bytes}.
 */
const PUT = DROP + `
local ttl = tonumber(ARGV[5])
local evicted = {0, 0, 0}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do
  drop(id)
  evicted[1] = evicted[1] + 1
end
drop(ARGV[2])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
redis.call('ZADD', KEYS[2], stamp(), ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('INCRBY', KEYS[4], ARGV[4])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[6]) do
  drop(redis.call('ZRANGE', KEYS[2], 0, 0)[1])
  evicted[2] = evicted[2] + 1
end
while tonumber(redis.call('GET', KEYS[4]) or '0') > tonumber(ARGV[7]) do
  drop(redis.call('ZRANGE', KEYS[2], 0, 0)[1])
  evicted[3] = evicted[3] + 1
end
return {redis.call('ZCARD', KEYS[2]), tonumber(redis.call('GET', KEYS[4]) or '0'),
  evicted[1], evicted[2], evicted[3]}
`;

/** KEYS: record, index, sizes, total. ARGV: record key prefix, id, TTL ms. A read renews. */
const GET = DROP + `
local json = redis.call('GET', KEYS[1])
if not json then
  drop(ARGV[2])
  return false
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'XX', stamp(), ARGV[2])
return json
`;

/** KEYS: record, index, sizes, total. ARGV: record key prefix, id, channel, message. */
const DELETE = DROP + `
local gone = drop(ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {gone, redis.call('ZCARD', KEYS[2]), tonumber(redis.call('GET', KEYS[4]) or '0')}
`;

/** The scripts, as `RedisState` defines them on its connection. */
export const RESPONSE_SCRIPTS = {
  putResponse: PUT,
  getResponse: GET,
  deleteResponse: DELETE,
} as const;

type Scripted =
  & Redis
  & Record<keyof typeof RESPONSE_SCRIPTS, (...args: string[]) => Promise<unknown>>;

/** Runs one Redis call: {@link RedisLink.call} on the request path, the link's own in a hook. */
type Call = <T>(fn: (redis: Redis) => Promise<T>) => Promise<T | undefined>;

/** What a delete announces: every replica drops its own copy of `id`. */
export interface ForgetMessage {
  from: string;
  kind: "forget";
  id: string;
}

/** Where a {@link RedisResponseStore} lives and whom it tells. */
export interface RedisResponseStoreOptions {
  link: RedisLink;
  prefix: string;
  channel: string;
  /** This replica, so that it ignores its own announcements. */
  replica: string;
  limits: MemoryStoreLimits;
}

/**
 * @example
 * ```ts
 * const store = new RedisResponseStore({ link, prefix: "llm-proxy", channel, replica, limits });
 * await store.put(record); // on replica A
 * await otherReplicasStore.get(record.response.id); // on replica B: the same record
 * ```
 */
export class RedisResponseStore implements ResponseStore {
  readonly #options: RedisResponseStoreOptions;
  readonly #local: MemoryResponseStore;
  readonly #keys: string[];
  readonly #recordPrefix: string;
  /** The shared store's sizes as last seen, and the evictions this replica's calls made there. */
  #shared: ResponseStoreStats = { items: 0, bytes: 0, evictions: { count: 0, bytes: 0, ttl: 0 } };
  /** Stored while Redis was away: offered to Redis once it is back. */
  readonly #unsynced = new Set<string>();
  /** A call on the request path: given up, and Redis taken for away, past the deadline. */
  readonly #request: Call;

  constructor(options: RedisResponseStoreOptions) {
    this.#options = options;
    this.#request = (fn) => options.link.call(fn);
    this.#local = new MemoryResponseStore(options.limits);
    this.#recordPrefix = `${options.prefix}:response:`;
    const p = options.prefix;
    this.#keys = [`${p}:responses:lru`, `${p}:responses:sizes`, `${p}:responses:bytes`];
    options.link.onShared.push(() => this.#flush());
  }

  async get(id: string): Promise<StoredResponse | undefined> {
    if (!this.#options.link.shared) return await this.#local.get(id);
    const json = await this.#call(
      this.#request,
      "getResponse",
      id,
      [
        String(this.#options.limits.ttlMs),
      ],
    );
    if (typeof json === "string") return JSON.parse(json) as StoredResponse;
    // Redis gave up on the call: this replica's own copy, if it has one.
    return json === undefined ? await this.#local.get(id) : undefined;
  }

  async put(record: StoredResponse): Promise<void> {
    await this.#local.put(record);
    const id = record.response.id;
    if (!await this.#send(this.#request, record)) {
      this.#unsynced.add(id);
    }
  }

  async delete(id: string): Promise<boolean> {
    this.#unsynced.delete(id);
    const local = await this.#local.delete(id);
    const message: ForgetMessage = { from: this.#options.replica, kind: "forget", id };
    const reply = await this.#call(
      this.#request,
      "deleteResponse",
      id,
      [this.#options.channel, JSON.stringify(message)],
    );
    if (!Array.isArray(reply)) return local;
    const [gone, items, bytes] = reply.map(Number);
    this.#shared = { ...this.#shared, items, bytes };
    return gone === 1 || local;
  }

  /** Shared: the fleet's store as this replica last saw it; degraded: this replica's own. */
  stats(): ResponseStoreStats {
    return this.#options.link.shared ? this.#shared : this.#local.stats();
  }

  /** Another replica deleted `id`: the copy here goes too. */
  forget(id: string): void {
    void this.#local.delete(id);
  }

  /**
   * Puts `record` into Redis through `call` and notes the sizes Redis reports; false when Redis
   * did not take it (away, or late).
   */
  async #send(call: Call, record: StoredResponse): Promise<boolean> {
    const json = JSON.stringify(record);
    const bytes = utf8Length(json);
    const { maxItems, maxBytes, ttlMs } = this.#options.limits;
    // A record larger than the whole store is not kept (the local store counted the eviction).
    if (bytes > maxBytes) return true;
    const reply = await this.#call(call, "putResponse", record.response.id, [
      json,
      String(bytes),
      String(ttlMs),
      String(maxItems),
      String(maxBytes),
    ]);
    if (!Array.isArray(reply)) return false;
    const [items, total, ttl, count, tooBig] = reply.map(Number);
    const e = this.#shared.evictions;
    this.#shared = {
      items,
      bytes: total,
      evictions: { ttl: e.ttl + ttl, count: e.count + count, bytes: e.bytes + tooBig },
    };
    return true;
  }

  /** Back from an outage (before sharing resumes): what was stored alone goes to Redis. */
  async #flush(): Promise<void> {
    const link = this.#options.link;
    const direct: Call = (fn) => link.timed(fn(link.redis));
    for (const id of [...this.#unsynced]) {
      const record = await this.#local.get(id);
      if (record && !await this.#send(direct, record)) throw new Error("Redis did not take it");
      this.#unsynced.delete(id);
    }
  }

  #call(
    call: Call,
    script: keyof typeof RESPONSE_SCRIPTS,
    id: string,
    args: string[],
  ): Promise<unknown> {
    return call((redis) =>
      (redis as Scripted)[script](
        this.#recordPrefix + id,
        ...this.#keys,
        this.#recordPrefix,
        id,
        ...args,
      )
    );
  }
}
