/**
 * InternLM (Shanghai AI Laboratory): OpenAI-compatible, but its streaming is unreliable, so it
 * is always called non-streaming (the core synthesizes SSE), and deep thinking is switched by a
 * `thinking_mode` flag that is sent explicitly on every request.
 *
 * @module
 */

import type { ChatRequest } from "../canonical/types.ts";
import type { BackendFactory } from "./backend.ts";
import {
  COMMON_SETTINGS,
  OpenAICompatibleBackend,
  type OpenAICompatibleOptions,
  readOpenAICompatibleOptions,
} from "./openai_compatible.ts";
import type { Logger } from "../operations/log.ts";

/** Served by `/v1/models` when InternLM's own list cannot be fetched. */
export const INTERNLM_CATALOGUE = [
  "internlm2.5-latest",
  "internlm2.5-20b",
  "internlm2.5-7b",
  "internlm2-latest",
  "internlm2-20b",
  "internlm2-7b",
  "intern-latest",
  "intern-s1-pro",
  "intern-s1",
  "intern-s1-mini",
  "internlm3-latest",
];

/** `reasoning_effort` values that mean "do not think". */
const NO_THINKING = new Set(["none", "minimal"]);

/** An InternLM backend: the OpenAI-compatible base plus thinking mode and forced non-streaming. */
export class InternLMBackend extends OpenAICompatibleBackend {
  constructor(
    options: OpenAICompatibleOptions,
    private readonly thinkingMode: boolean,
    log: Logger,
  ) {
    super(options, log);
  }

  protected override upstreamBody(request: ChatRequest, native: boolean): Record<string, unknown> {
    const { reasoning_effort, ...rest } = request;
    let thinking = this.thinkingMode;
    if (typeof request.thinking_mode === "boolean") thinking = request.thinking_mode;
    else if (typeof reasoning_effort === "string") thinking = !NO_THINKING.has(reasoning_effort);
    return { ...super.upstreamBody(rest, native), thinking_mode: thinking };
  }
}

/** Builds an InternLM backend from `backends.<name>` (`type: internlm`). */
export const createInternLM: BackendFactory = (init) => {
  init.section.allowOnly([...COMMON_SETTINGS, "thinking_mode"]);
  const options = readOpenAICompatibleOptions(init, {
    vendor: "InternLM",
    baseUrl: "https://chat.intern-ai.org.cn/api/v1",
    keyEnv: "INTERNAI_API_KEY",
    baseUrlEnv: "INTERNAI_API_BASE_URL",
    catalogue: INTERNLM_CATALOGUE,
    // Not configurable (no `stream` setting): InternLM's own streaming is unreliable.
    streamMode: "synthesize",
  });
  return new InternLMBackend(options, init.section.boolean("thinking_mode") ?? true, init.log);
};
