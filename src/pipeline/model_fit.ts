/**
 * Whether a request fits a backend model's settings, before the upstream is called: tools and
 * images need a model that takes them; the estimated prompt must fit the context window; asking
 * for more output than the model's `max_tokens` ceiling (or than the window leaves) is clamped.
 * Thinking is a wish, not a need: a model without it answers without thinking (and a chain
 * tries its thinking models first, see {@link thinkingFirst}).
 *
 * @module
 */

import { ApiError, isRecord, utf8Length } from "../canonical/errors.ts";
import type { ChatRequest } from "../canonical/types.ts";
import type { Logger } from "../operations/log.ts";
import type { Route } from "./router.ts";
import type { ModelSettings } from "../backends/model_settings.ts";
import { chatTokens, countChatTokens } from "./token_count.ts";

/** Why a model cannot take a request (the fallback metric's `reason`). */
export type UnfitReason = "unsupported_tools" | "unsupported_images" | "context_window";

/** The request as the model gets it, or why it cannot get it. */
export type Fit =
  | { ok: true; chat: ChatRequest }
  | { ok: false; reason: UnfitReason; error: ApiError };

/** `reasoning_effort` values that ask for no thinking. */
const NO_THINKING = new Set(["none", "minimal"]);

/** True when the request asks the model to think (`thinking_mode: true`, or an effort). */
export function wantsThinking(chat: ChatRequest): boolean {
  if (typeof chat.thinking_mode === "boolean") return chat.thinking_mode;
  return typeof chat.reasoning_effort === "string" && !NO_THINKING.has(chat.reasoning_effort);
}

/**
 * The chain in the order to try it: for a request that asks for thinking, the models that can
 * think (or may: not known) first, the others after, each group in its own order.
 *
 * @example
 * ```ts
 * thinkingFirst([noThink, thinks], { model, messages, reasoning_effort: "high" }); // [thinks, noThink]
 * ```
 */
export function thinkingFirst(targets: readonly Route[], chat: ChatRequest): readonly Route[] {
  if (targets.length < 2 || !wantsThinking(chat)) return targets;
  const cannot = (r: Route) => r.backend.modelSettings(r.model).thinking === false;
  if (!targets.some(cannot)) return targets;
  return [...targets.filter((r) => !cannot(r)), ...targets.filter(cannot)];
}

/**
 * The prompt's size in tokens, estimated once per request and only when a context window needs
 * it: a cheap bound first (UTF-8 bytes, which no tokenizer exceeds), the tokenizer's count only
 * when the bound is too close to call.
 */
export class PromptSize {
  #bound: number | undefined;
  #quickBound: number | undefined;
  #estimate: Promise<number> | undefined;

  constructor(private readonly chat: ChatRequest) {}

  /** At least as many tokens as any tokenizer counts. */
  get bound(): number {
    return this.#bound ??= chatTokens(this.chat, utf8Length);
  }

  /**
   * At least {@link PromptSize.bound}, for nothing but string lengths: a UTF-16 unit is at most
   * three UTF-8 bytes. Most prompts fit their window even so, and are never measured closer.
   */
  get quickBound(): number {
    return this.#quickBound ??= chatTokens(this.chat, (text) => text.length * 3);
  }

  /** The tokenizer's estimate (`src/pipeline/token_count.ts`). */
  estimate(): Promise<number> {
    return this.#estimate ??= countChatTokens(this.chat);
  }
}

/** True when a message carries an image. */
function hasImages(chat: ChatRequest): boolean {
  for (const message of chat.messages) {
    if (!Array.isArray(message.content)) continue;
    for (const part of message.content) {
      if (isRecord(part) && (part.type === "image_url" || part.type === "input_image")) return true;
    }
  }
  return false;
}

/**
 * `chat` checked against `route`'s model settings: clamped, stripped of thinking the model does
 * not take, or refused with a 400 that says why. A promise only when the prompt is near the
 * context window and has to be counted.
 *
 * @example
 * ```ts
 * const fit = await fitRequest(chat, route, new PromptSize(chat), log);
 * if (!fit.ok) throw fit.error;
 * ```
 */
export function fitRequest(
  chat: ChatRequest,
  route: Route,
  size: PromptSize,
  log: Logger,
): Fit | Promise<Fit> {
  const settings = route.backend.modelSettings(route.model);
  const name = `${route.backend.name}/${route.model}`;
  const tools = Array.isArray(chat.tools) ? chat.tools.length : 0;
  if (settings.tools === false && tools > 0) {
    return unfit(
      "unsupported_tools",
      `${name} does not support tools (the request has ${tools})`,
      "tools",
    );
  }
  if (settings.images === false && hasImages(chat)) {
    return unfit("unsupported_images", `${name} does not read images`, "messages");
  }
  const window = settings.contextWindow;
  if (window !== undefined) {
    const asked = requestedMaxTokens(chat) ?? 0;
    if (size.quickBound + asked > window && size.bound + asked > window) {
      return size.estimate().then((prompt) => {
        if (prompt < window) return fitted(chat, settings, name, log, window - prompt);
        return unfit(
          "context_window",
          `prompt is too long: ${prompt} tokens, ${window} maximum for ${name} ` +
            `(an estimate, against the model's context window)`,
          "messages",
          "context_length_exceeded",
        );
      });
    }
  }
  return fitted(chat, settings, name, log, undefined);
}

/**
 * `chat` as `name` takes it: output clamped to the model's `max_tokens` ceiling and to the
 * `room` its context window leaves (when the prompt was counted), thinking fields dropped for a
 * model that does not think.
 */
function fitted(
  chat: ChatRequest,
  settings: ModelSettings,
  name: string,
  log: Logger,
  room: number | undefined,
): Fit {
  let out = chat;
  const ceiling = minDefined(settings.maxTokens, room);
  if (ceiling !== undefined) {
    for (const field of ["max_tokens", "max_completion_tokens"] as const) {
      const value = out[field];
      if (typeof value !== "number" || value <= ceiling) continue;
      const why = ceiling === settings.maxTokens
        ? `the model's max_tokens ceiling`
        : `what its context window of ${settings.contextWindow} leaves after the prompt`;
      log.info(`${field} ${value} clamped to ${ceiling} for ${name}: ${why}`);
      out = { ...out, [field]: ceiling };
    }
  }
  if (
    settings.thinking === false &&
    (out.thinking_mode !== undefined || out.reasoning_effort !== undefined)
  ) {
    if (wantsThinking(out)) log.debug(`${name} does not think: asked without thinking`);
    const { thinking_mode: _t, reasoning_effort: _r, ...rest } = out;
    out = rest as ChatRequest;
  }
  return { ok: true, chat: out };
}

function requestedMaxTokens(chat: ChatRequest): number | undefined {
  return minDefined(
    typeof chat.max_tokens === "number" ? chat.max_tokens : undefined,
    typeof chat.max_completion_tokens === "number" ? chat.max_completion_tokens : undefined,
  );
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function unfit(reason: UnfitReason, message: string, param: string, code?: string): Fit {
  return {
    ok: false,
    reason,
    error: new ApiError(400, message, { param, code: code ?? reason }),
  };
}
