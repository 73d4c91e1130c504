/**
 * InternLM (Shanghai AI Laboratory): OpenAI-compatible, but its streaming is unreliable, so it
 * is always called non-streaming (the core synthesizes SSE), and deep thinking is switched by a
 * `thinking_mode` flag, sent explicitly to every model that takes it.
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
import type { ModelSettings, ModelSettingsEntry } from "./model_settings.ts";
import { modelPattern } from "../pipeline/model_pattern.ts";

/** Served by `/v1/models` when InternLM's own list cannot be fetched (its documented models). */
export const INTERNLM_CATALOGUE = [
  "intern-latest",
  "intern-s1-pro",
  "intern-s1",
  "intern-s1-mini",
  "internvl3.5-latest",
  "internvl3.5-241b-a28b",
  "internlm3-latest",
  "internlm2.5-latest",
];

const K256 = 256 * 1024;
const K32 = 32 * 1024;

/**
 * What InternLM documents of its models: context windows (256K for `intern-s1-pro` and
 * `intern-latest`, which points to it; 32K for the others) and capabilities. The Intern-S1
 * family is multimodal, calls tools and takes `thinking_mode`; InternVL reads images; InternLM3
 * and 2.5 are text models with tool calling. First match wins, so the longer names come first.
 */
export const INTERNLM_MODELS: readonly ModelSettingsEntry[] = [
  ["intern-latest", { contextWindow: K256, thinking: true, tools: true, images: true }],
  ["intern-s1-pro*", { contextWindow: K256, thinking: true, tools: true, images: true }],
  ["intern-s1*", { contextWindow: K32, thinking: true, tools: true, images: true }],
  ["internvl*", { contextWindow: K32, thinking: false, tools: false, images: true }],
  ["internlm3*", { contextWindow: K32, thinking: false, tools: true, images: false }],
  ["internlm2*", { contextWindow: K32, thinking: false, tools: true, images: false }],
].map(([id, settings]) => ({
  pattern: modelPattern(id as string),
  settings: settings as ModelSettings,
}));

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

  /**
   * `thinking_mode` goes only to models that take it: the request's own flag, else its
   * `reasoning_effort` (the front ends map Anthropic `thinking`, Responses `reasoning` and
   * Gemini `thinkingConfig` to these two), else the backend's default.
   */
  protected override upstreamBody(request: ChatRequest, native: boolean): Record<string, unknown> {
    const { reasoning_effort, thinking_mode, ...rest } = request;
    const body = super.upstreamBody(rest, native);
    if (this.modelSettings(request.model).thinking !== true) return body;
    let thinking = this.thinkingMode;
    if (typeof thinking_mode === "boolean") thinking = thinking_mode;
    else if (typeof reasoning_effort === "string") thinking = !NO_THINKING.has(reasoning_effort);
    return { ...body, thinking_mode: thinking };
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
    modelSettings: INTERNLM_MODELS,
    // Not configurable (no `stream` setting): InternLM's own streaming is unreliable.
    streamMode: "synthesize",
  });
  return new InternLMBackend(options, init.section.boolean("thinking_mode") ?? true, init.log);
};
