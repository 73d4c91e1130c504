/**
 * What one backend model can take: a `max_tokens` ceiling, its context window, and whether it
 * thinks, calls tools and reads images. A backend type may know its models (InternLM's
 * catalogue); a backend's `model_settings:` (model ids or patterns, first match wins) overrides
 * that, field by field. Unknown means "not checked".
 *
 * ```yaml
 * backends:
 *   local:
 *     type: openai
 *     model_settings:
 *       "qwen3-*": { context_window: 32768, max_tokens: 8192, thinking: true, tools: true, images: false }
 * ```
 *
 * @module
 */

import { ConfigError, type ConfigSection } from "../config/config_section.ts";
import { firstMatch, type ModelPattern, modelPattern } from "../pipeline/model_pattern.ts";

/** One model's limits and capabilities; a field left out is not checked. */
export interface ModelSettings {
  /** Requests asking for more output tokens are clamped to this. */
  maxTokens?: number;
  /** Prompt and answer together, in tokens. */
  contextWindow?: number;
  thinking?: boolean;
  tools?: boolean;
  images?: boolean;
}

/** Settings for the models a pattern matches. */
export interface ModelSettingsEntry {
  pattern: ModelPattern;
  settings: ModelSettings;
}

/** The keys of one `model_settings:` entry, as written in the config. */
const KEYS = ["max_tokens", "context_window", "thinking", "tools", "images"];

/**
 * Reads a backend's `model_settings:` mapping (absent: none).
 *
 * @example
 * ```ts
 * readModelSettings(section.section("model_settings")); // [{ pattern, settings: { maxTokens: 8192 } }]
 * ```
 */
export function readModelSettings(section: ConfigSection): ModelSettingsEntry[] {
  return Object.keys(section.data).map((key) => {
    if (key.trim() === "") {
      throw new ConfigError(`${section.path.join(".")}: a model id must not be empty`, [
        ...section.path,
        key,
      ]);
    }
    const s = section.section(key);
    s.allowOnly(KEYS);
    const settings: ModelSettings = {
      maxTokens: s.number("max_tokens", 1, 100_000_000, true),
      contextWindow: s.number("context_window", 1, 100_000_000, true),
      thinking: s.boolean("thinking"),
      tools: s.boolean("tools"),
      images: s.boolean("images"),
    };
    return { pattern: modelPattern(key), settings };
  });
}

/**
 * A backend's settings lookup: its configured entries over the type's built-in ones.
 *
 * @example
 * ```ts
 * const table = new ModelSettingsTable(configured, INTERNLM_MODELS);
 * table.lookup("intern-s1"); // { contextWindow: 32768, thinking: true, tools: true, images: true }
 * ```
 */
export class ModelSettingsTable {
  constructor(
    private readonly configured: readonly ModelSettingsEntry[],
    private readonly builtIn: readonly ModelSettingsEntry[] = [],
  ) {}

  /** The settings of `model`: the first configured match's fields over the first built-in's. */
  lookup(model: string): ModelSettings {
    const known = firstMatch(this.builtIn, model)?.settings;
    const set = firstMatch(this.configured, model)?.settings;
    if (!set) return known ?? {};
    const merged: ModelSettings = { ...known };
    for (const [field, value] of Object.entries(set) as [keyof ModelSettings, never][]) {
      if (value !== undefined) merged[field] = value;
    }
    return merged;
  }
}
