/**
 * The `state:` section of the config: where replicas share their state. No Redis URL means the
 * embedded default, {@link LocalState}.
 *
 * @module
 */

import { expandEnv } from "../backends/keys.ts";
import { ConfigError, type ConfigSection } from "../config/config_section.ts";
import type { Logger } from "../operations/log.ts";
import { LocalState, type SharedState } from "./state.ts";

/** The environment variable of the Redis URL; it wins over `state.redis_url`. */
export const REDIS_URL_ENV = "LLM_PROXY_REDIS_URL";
/** Deadline of one Redis call on the request path when `state.timeout` is not set. */
export const DEFAULT_STATE_TIMEOUT_MS = 50;
/** Namespace of the proxy's Redis keys when `state.prefix` is not set. */
export const DEFAULT_STATE_PREFIX = "llm-proxy";

/**
 * @example
 * ```ts
 * const state = await loadState(root.section("state"), { LLM_PROXY_REDIS_URL: "redis://127.0.0.1:6379" }, log);
 * state.status; // "degraded" until connected, then "shared"
 * ```
 */
export async function loadState(
  section: ConfigSection,
  env: Readonly<Record<string, string>>,
  log: Logger,
): Promise<SharedState> {
  section.allowOnly(["redis_url", "timeout", "prefix"]);
  const configured = section.string("redis_url");
  // `${VAR}` lets the password stay out of the file.
  const url = env[REDIS_URL_ENV] ||
    (configured === undefined ? undefined : expandEnv(configured, env, (name) => {
      log.warn(`state.redis_url references \${${name}}, which is not set`);
    }));
  const timeoutMs = section.seconds("timeout", 10) ?? DEFAULT_STATE_TIMEOUT_MS;
  const prefix = section.string("prefix") ?? DEFAULT_STATE_PREFIX;
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) {
    throw new ConfigError(
      `state.prefix may use only letters, digits, ".", "_", ":" and "-" (1 to 64)`,
      [...section.path, "prefix"],
    );
  }
  if (!url) return new LocalState();
  checkRedisUrl(url, env[REDIS_URL_ENV] ? undefined : [...section.path, "redis_url"]);
  // Loaded with the first Redis URL: its key digests need `node:crypto`, whose Node
  // compatibility layer a proxy without Redis does not pay for (~7 MiB).
  const { RedisState } = await import("./redis_state.ts");
  return new RedisState({ url, timeoutMs: Math.max(1, timeoutMs), prefix, log });
}

function checkRedisUrl(url: string, path: readonly (string | number)[] | undefined): void {
  const where = path ? path.join(".") : REDIS_URL_ENV;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${where} is not a valid URL`, path);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new ConfigError(`${where} must be a redis:// or rediss:// URL`, path);
  }
  if (parsed.hostname === "") throw new ConfigError(`${where} names no host`, path);
}
