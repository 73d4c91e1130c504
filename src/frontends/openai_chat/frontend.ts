/**
 * OpenAI chat completions, the canonical dialect: requests pass through after validation, and
 * answers go out as they come (a completion as JSON, a stream as chunk events).
 *
 * @module
 */

import { readJson } from "../../edge/request.ts";
import { completeChat, streamChat } from "../../pipeline/chat.ts";
import type { Frontend, RouteContext } from "../frontend.ts";
import { getModel, listModels } from "./models.ts";
import { openAIStreamWriter } from "./stream_writer.ts";
import { validateChatRequest } from "./validate.ts";

async function chatCompletions(ctx: RouteContext): Promise<Response> {
  const { config } = ctx;
  const body = validateChatRequest(
    await readJson(ctx.request, config.limits),
    config.limits,
    config.forceModel !== undefined,
  );
  if (body.stream !== true) return ctx.json(await completeChat(ctx, body));
  const includeUsage = body.stream_options?.include_usage === true;
  return await streamChat(
    ctx,
    body,
    openAIStreamWriter({ pieceSize: config.pieceSize, includeUsage }),
  );
}

/**
 * `POST /v1/chat/completions` and the model list, also without the `/v1` prefix (clients whose
 * base URL lacks it).
 *
 * @example
 * ```ts
 * const table = new RouteTable([openAIChat]);
 * ```
 */
export const openAIChat: Frontend = {
  name: "openai_chat",
  routes: [
    { method: "POST", path: "/v1/chat/completions", name: "chat", handle: chatCompletions },
    { method: "POST", path: "/chat/completions", name: "chat", handle: chatCompletions },
    { method: "GET", path: "/v1/models", name: "models", handle: (ctx) => listModels(ctx.config) },
    { method: "GET", path: "/models", name: "models", handle: (ctx) => listModels(ctx.config) },
    {
      method: "GET",
      // The id may itself contain `/`.
      path: /^\/(?:v1\/)?models\/(?<id>.+)$/,
      name: "model",
      handle: (ctx) => getModel(ctx.config, ctx.params.id),
    },
  ],
  errorResponse: (error) => error.toResponse(),
};
