/**
 * The response store types `responses.store.type` may name. A new store (Redis, say) is one file
 * exporting a {@link ResponseStoreFactory} and one line here.
 *
 * @module
 */

import { ConfigError } from "../config/config_section.ts";
import { createMemoryStore, createSharedStore } from "./memory_response_store.ts";
import type { ResponseStore, ResponseStoreFactory, ResponseStoreInit } from "./response_store.ts";

/**
 * Store types by name; `memory` is the default, `redis` where the state is shared.
 *
 * @example
 * ```ts
 * const factory = RESPONSE_STORE_TYPES[type]; // undefined for an unknown type
 * ```
 */
export const RESPONSE_STORE_TYPES: Readonly<Record<string, ResponseStoreFactory>> = {
  memory: createMemoryStore,
  redis: createSharedStore,
};

/**
 * The store `responses.store` describes: its `type` (default `redis` with `state.redis_url`,
 * else `memory`) picks the factory, which reads the rest of the section.
 *
 * @example
 * ```ts
 * const store = createResponseStore({ section: root.section("responses").section("store"), env, log });
 * ```
 */
export function createResponseStore(init: ResponseStoreInit): ResponseStore {
  const type = init.section.string("type") ?? (init.state?.responseStore ? "redis" : "memory");
  const factory = RESPONSE_STORE_TYPES[type];
  if (!factory) {
    throw new ConfigError(
      `${init.section.path.join(".")}.type must be one of: ${
        Object.keys(RESPONSE_STORE_TYPES).join(", ")
      }`,
      [...init.section.path, "type"],
    );
  }
  return factory(init);
}
