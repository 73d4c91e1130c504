/**
 * A chain of backend models tried in turn: the next one is asked when the current one cannot
 * serve (no key, every key cooling or rejected, 5xx or network failure after its own retries,
 * timeout, unknown model) or cannot take the request (tools, images, a prompt over its context
 * window: see `model_fit.ts`), never when the request itself was refused (400, 413, 422, …), never
 * once the client was hung up on or the proxy is shutting down, and never once the client has any
 * byte of the answer's body (the caller says when that is).
 *
 * @module
 */

import type { Answer, ChatContext } from "../backends/backend.ts";
import { ApiError, CLIENT_CLOSED } from "../canonical/errors.ts";
import type { ChatRequest } from "../canonical/types.ts";
import type { Route } from "./router.ts";
import { fitRequest, PromptSize, thinkingFirst, type UnfitReason } from "./model_fit.ts";

/** Why a backend model was passed over for the next one (the metric's `reason` label). */
export type FallbackReason =
  | "no_key"
  | "rate_limited"
  | "keys_rejected"
  | "server_error"
  | "network_error"
  | "timeout"
  | "bad_response"
  | "model_not_found"
  | UnfitReason;

/** One fallback taken: from one backend model to the next. */
export interface Fallback {
  /** `backend/model`. */
  from: string;
  to: string;
  reason: FallbackReason;
}

/** By the error code the backends give each way of failing. */
const REASON_BY_CODE: Readonly<Record<string, FallbackReason>> = {
  no_api_key: "no_key",
  rate_limit_exceeded: "rate_limited",
  upstream_keys_rejected: "keys_rejected",
  upstream_error: "server_error",
  upstream_unreachable: "network_error",
  upstream_timeout: "timeout",
  bad_upstream_response: "bad_response",
  upstream_response_too_large: "bad_response",
};

/** Errors that end the request wherever it is: the client left, or the proxy is stopping. */
const FINAL_CODES = new Set(["client_closed", "server_shutting_down"]);

/**
 * Why `err` lets the next backend model try, or undefined when it does not: a request the upstream
 * refused (4xx other than 404 and 429) would be refused by the next one too.
 *
 * @example
 * ```ts
 * fallbackReason(new ApiError(503, "no key", { code: "no_api_key" })); // "no_key"
 * fallbackReason(new ApiError(400, "bad temperature")); // undefined
 * ```
 */
export function fallbackReason(err: unknown): FallbackReason | undefined {
  if (!(err instanceof ApiError) || err.status === CLIENT_CLOSED) return undefined;
  if (err.code !== null && FINAL_CODES.has(err.code)) return undefined;
  const known = err.code === null ? undefined : REASON_BY_CODE[err.code];
  if (known) return known;
  if (err.status === 404) return "model_not_found";
  if (err.status === 429) return "rate_limited";
  if (err.status >= 500) return "server_error";
  return undefined;
}

/** What {@link runChain} needs besides the targets. */
export interface ChainOptions {
  /** The backend context of every attempt (signal, stats, log, attempt hook). */
  context: ChatContext;
  /** False once the client has bytes of the body: from then on nothing falls back. */
  mayFallBack: () => boolean;
  /** Told as each target is asked (the trace follows the one in flight). */
  onTarget: (route: Route) => void;
  /** Told of every fallback taken. */
  onFallback: (fallback: Fallback) => void;
}

/** `backend/model`, as logs, headers and metrics name a target. */
export function routeName(route: Route): string {
  return `${route.backend.name}/${route.model}`;
}

/**
 * Asks each target in turn for `chat` until one answers; the last failure is thrown when none
 * does, or the first that may not fall back.
 *
 * @example
 * ```ts
 * const answer = await runChain(plan.targets, chat, { context, mayFallBack: () => true, onTarget, onFallback });
 * ```
 */
export async function runChain(
  targets: readonly Route[],
  chat: ChatRequest,
  options: ChainOptions,
): Promise<Answer> {
  const { context } = options;
  const order = thinkingFirst(targets, chat);
  const size = new PromptSize(chat);
  // When the chain runs out: the last upstream failure, else the first target's refusal.
  let lastFailure: unknown;
  let firstUnfit: ApiError | undefined;
  for (let i = 0;; i++) {
    const route = order[i];
    options.onTarget(route);
    const fitting = fitRequest(chat, route, size, context.log);
    const fit = fitting instanceof Promise ? await fitting : fitting;
    let err: unknown;
    let reason: FallbackReason | undefined;
    if (fit.ok) {
      try {
        const tokens = () => Math.ceil(size.bound / 4);
        return await route.backend.complete({ ...fit.chat, model: route.model }, {
          ...context,
          promptTokens: tokens,
        });
      } catch (failure) {
        err = lastFailure = failure;
        reason = fallbackReason(failure);
      }
    } else {
      err = fit.error;
      firstUnfit ??= fit.error;
      reason = fit.reason;
    }
    const next = order[i + 1];
    if (!next || reason === undefined || context.signal.aborted) {
      throw fit.ok && reason === undefined ? err : lastFailure ?? firstUnfit ?? err;
    }
    const fallback = { from: routeName(route), to: routeName(next), reason };
    if (!options.mayFallBack()) {
      context.log.info(
        `not falling back from ${fallback.from} to ${fallback.to} (${reason}): ` +
          `the client has bytes of the stream already`,
      );
      throw err;
    }
    context.log.warn(
      `fallback ${fallback.from} -> ${fallback.to} (${reason}): ${(err as Error).message}`,
    );
    options.onFallback(fallback);
  }
}
