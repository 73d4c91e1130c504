/**
 * The `models:` section of the config: what clients ask for (exact ids and patterns, tried in the
 * order written, first match wins) mapped to a backend model, or to a chain of them tried in turn.
 *
 * ```yaml
 * models:
 *   "claude-*haiku*": internlm/intern-s1-mini
 *   "claude-*":       internlm/intern-s1
 *   "gpt-*":          [internlm/intern-s1, local/qwen3-32b]
 *   "*":              internlm/intern-latest
 * ```
 *
 * @module
 */

import { ConfigError, type ConfigSection } from "../config/config_section.ts";
import type { Logger } from "../operations/log.ts";
import { type ModelPattern, modelPattern } from "./model_pattern.ts";
import type { Route } from "./router.ts";

/** One entry of the map: the pattern, and the backend models it stands for, in order. */
export interface ModelMapEntry {
  pattern: ModelPattern;
  /** Never empty; the first is tried first. */
  targets: readonly Route[];
}

/** How {@link readModelMap} turns a target string into a route, and what counts as a backend. */
export interface TargetResolver {
  resolve(model: string): Route;
  /** True when `id` starts with an enabled backend's name and a separator. */
  namesBackend(id: string): boolean;
}

/**
 * Reads `models:` (absent or empty: no entries). Every target must name a backend model the
 * proxy can route (`backend/model`, or a bare model for the default backend); a key that names a
 * backend itself could never match, since such ids go straight to their backend.
 *
 * @example
 * ```ts
 * const entries = readModelMap(root.section("models"), router, log);
 * new Router(backends, defaultBackend, entries);
 * ```
 */
export function readModelMap(
  section: ConfigSection,
  resolver: TargetResolver,
  log: Logger,
): ModelMapEntry[] {
  const entries: ModelMapEntry[] = [];
  for (const [key, value] of Object.entries(section.data)) {
    const path = [...section.path, key];
    const at = `models."${key}"`;
    if (key.trim() === "") throw new ConfigError(`${at}: the key must not be empty`, path);
    if (/^\d+$/.test(key)) {
      // A JavaScript object lists integer keys first, so the order written would be lost.
      throw new ConfigError(`${at}: a key of digits only cannot keep its place in the order`, path);
    }
    if (resolver.namesBackend(key)) {
      throw new ConfigError(
        `${at}: ids that name a backend ("${key}") go to that backend directly; ` +
          `this entry could never match`,
        path,
      );
    }
    const list = typeof value === "string" ? [value] : value;
    if (
      !Array.isArray(list) || list.length === 0 ||
      list.some((t) => typeof t !== "string" || t.trim() === "")
    ) {
      throw new ConfigError(
        `${at} must be a backend model ("internlm/intern-s1") or a non-empty list of them`,
        path,
      );
    }
    const targets = (list as string[]).map((target) => {
      try {
        return resolver.resolve(target.trim());
      } catch (err) {
        throw new ConfigError(`${at}: target "${target}": ${(err as Error).message}`, path);
      }
    });
    const pattern = modelPattern(key);
    const shadow = pattern.exact ? entries.find((e) => e.pattern.matches(key)) : undefined;
    if (shadow) {
      log.warn(`${at} is never used: "${shadow.pattern.source}" comes first and matches it`);
    }
    entries.push({ pattern, targets });
  }
  return entries;
}
