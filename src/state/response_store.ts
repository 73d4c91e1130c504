/**
 * Where stored Responses conversations live (`store: true` in the Responses API): an interface,
 * so the embedded in-memory store (`memory_response_store.ts`) can be swapped for a shared one
 * (Redis, for several replicas) by configuration alone. Records are plain JSON values: a store
 * may serialise them however it likes, and nothing a caller holds is shared with the store.
 *
 * @module
 */

import type { ConfigSection } from "../config/config_section.ts";
import type { Logger } from "../operations/log.ts";
import type { SharedState } from "./state.ts";

/** A JSON object as the Responses API writes it (an item, a response object). */
export type JsonObject = Record<string, unknown>;

/** One stored response: what a later `previous_response_id`, retrieve or `input_items` needs. */
export interface StoredResponse {
  /** The response object exactly as the client received it (`resp_…`, `output`, `usage`, …). */
  response: JsonObject & { id: string };
  /** The items before this request's input: the earlier turns of a `previous_response_id` chain. */
  history: JsonObject[];
  /** This request's own input items, with the ids the proxy gave those that had none. */
  input: JsonObject[];
}

/** What a store holds right now, for `/metrics`. */
export interface ResponseStoreStats {
  items: number;
  /** Bytes of the records as stored (their JSON, UTF-8). */
  bytes: number;
  /** Records dropped to stay within bounds, by reason, since start. */
  evictions: Readonly<Record<"count" | "bytes" | "ttl", number>>;
}

/**
 * A store of responses by id. Every method is asynchronous, so a networked store fits; a record
 * is visible to {@link ResponseStore.get} once {@link ResponseStore.put} has resolved.
 *
 * @example
 * ```ts
 * await store.put({ response, history: [], input });
 * (await store.get(response.id))?.response.status; // "completed"
 * await store.delete(response.id); // true
 * ```
 */
export interface ResponseStore {
  /** The record, or undefined when it never was, expired, was evicted or deleted. */
  get(id: string): Promise<StoredResponse | undefined>;
  /** Stores (or replaces) the record under `record.response.id`. */
  put(record: StoredResponse): Promise<void>;
  /** True when there was a record to delete. */
  delete(id: string): Promise<boolean>;
  /** Sizes for `/metrics`; a store that cannot tell cheaply leaves it out. */
  stats?(): ResponseStoreStats;
}

/** Everything a store factory gets: its `responses.store` config section. */
export interface ResponseStoreInit {
  section: ConfigSection;
  env: Readonly<Record<string, string>>;
  log: Logger;
  /** The proxy's shared state (`state.redis_url`); a shared store lives there. */
  state?: SharedState;
}

/** Builds a store from its config section; throws `ConfigError` on bad settings. */
export type ResponseStoreFactory = (init: ResponseStoreInit) => ResponseStore;
