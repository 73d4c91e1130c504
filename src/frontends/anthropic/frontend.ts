/**
 * Anthropic Messages, the dialect of Claude Code and the Anthropic SDKs: `POST /v1/messages`
 * (Claude Code adds `?beta=true`) and `POST /v1/messages/count_tokens`. Requests are validated
 * and translated to the canonical chat request; answers go back as a `message` or as
 * Anthropic's event stream; errors in Anthropic's shape. The `anthropic-version` and
 * `anthropic-beta` headers are accepted and, like every client header, never sent upstream.
 *
 * @module
 */

import { jsonResponse } from "../../canonical/errors.ts";
import { readJson } from "../../edge/request.ts";
import { completeChat, streamChat } from "../../pipeline/chat.ts";
import type { Frontend, RouteContext } from "../frontend.ts";
import { countTokens } from "./count_tokens.ts";
import { anthropicErrorResponse } from "./errors.ts";
import { getAnthropicModel, isAnthropicClient, listAnthropicModels } from "./models.ts";
import { toChatRequest } from "./request.ts";
import { toAnthropicMessage } from "./response.ts";
import { anthropicStreamWriter } from "./stream_writer.ts";
import { type MessagesRequest, validateMessagesRequest } from "./validate.ts";

async function readRequest(ctx: RouteContext): Promise<MessagesRequest> {
  const { config } = ctx;
  return validateMessagesRequest(
    await readJson(ctx.request, config.limits),
    config.limits,
    config.forceModel !== undefined,
  );
}

async function messages(ctx: RouteContext): Promise<Response> {
  const request = await readRequest(ctx);
  const { chat, dropped } = toChatRequest(request);
  if (dropped.length > 0) ctx.trace.log.debug(`anthropic: left out ${dropped.join(", ")}`);
  const stopSequences = request.stop_sequences ?? [];
  if (chat.stream !== true) {
    return ctx.json(toAnthropicMessage(await completeChat(ctx, chat), stopSequences));
  }
  const writer = anthropicStreamWriter({ pieceSize: ctx.config.pieceSize, stopSequences });
  return await streamChat(ctx, chat, writer);
}

/**
 * @example
 * ```ts
 * const table = new RouteTable([openAIChat, anthropic]);
 * ```
 */
export const anthropic: Frontend = {
  name: "anthropic",
  routes: [
    { method: "POST", path: "/v1/messages", name: "messages", handle: messages },
    {
      method: "POST",
      path: "/v1/messages/count_tokens",
      name: "count_tokens",
      handle: async (ctx) => countTokens(ctx, await readRequest(ctx)),
    },
    {
      method: "GET",
      path: "/v1/models",
      name: "models",
      accepts: isAnthropicClient,
      handle: (ctx) => listAnthropicModels(ctx.config),
    },
    {
      method: "GET",
      // The id may itself contain `/`.
      path: /^\/v1\/models\/(?<id>.+)$/,
      name: "model",
      accepts: isAnthropicClient,
      handle: (ctx) => getAnthropicModel(ctx.config, ctx.params.id),
    },
    // Claude Code's connectivity check (`HEAD /api/hello`) before its first request.
    {
      method: "GET",
      path: "/api/hello",
      name: "hello",
      isPublic: () => true,
      handle: () => Promise.resolve(jsonResponse({ message: "hello" })),
    },
  ],
  errorResponse: anthropicErrorResponse,
};
