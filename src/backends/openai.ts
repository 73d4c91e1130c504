/**
 * Any upstream that speaks OpenAI's chat-completions API: vLLM, LMDeploy, Ollama, OpenRouter,
 * DeepSeek, OpenAI itself. `stream: true` requests are streamed from the upstream and relayed as
 * they arrive (`stream: native`, the default) or, for upstreams whose streaming misbehaves,
 * answered the InternLM way (`stream: synthesize`).
 *
 * @example
 * ```yaml
 * backends:
 *   local:                      # routing prefix: "local/<model>"
 *     type: openai
 *     api_url: http://127.0.0.1:8001/v1
 *     # keys: LOCAL_API_KEY, LOCAL_API_KEY_1, … and/or api_keys
 * ```
 *
 * @module
 */

import type { BackendFactory } from "./backend.ts";
import {
  COMMON_SETTINGS,
  OpenAICompatibleBackend,
  readOpenAICompatibleOptions,
} from "./openai_compatible.ts";

/**
 * The env prefix of a backend's variables: its name upper-cased, every other character than a
 * letter or digit turned into `_` (`deep-seek` → `DEEP_SEEK_API_KEY`, `DEEP_SEEK_API_KEY_1`, …,
 * and `DEEP_SEEK_API_BASE_URL`).
 */
export function envPrefixFor(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/**
 * Builds a backend of `type: openai` from `backends.<name>`; `api_url` (or `<NAME>_API_BASE_URL`)
 * is required.
 */
export const createOpenAI: BackendFactory = (init) => {
  init.section.allowOnly([...COMMON_SETTINGS, "stream"]);
  const options = readOpenAICompatibleOptions(init, {
    vendor: init.name,
    keyEnv: `${envPrefixFor(init.name)}_API_KEY`,
    baseUrlEnv: `${envPrefixFor(init.name)}_API_BASE_URL`,
    catalogue: [],
    streamMode: "native",
  });
  return new OpenAICompatibleBackend(options, init.log);
};
