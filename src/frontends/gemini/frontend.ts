/**
 * Google's Gemini API (`generativelanguage`, v1beta and v1) as a front end: `generateContent`,
 * `streamGenerateContent`, `countTokens`, the model list, and errors in Google's shape. Gemini
 * CLI and the `@google/genai` SDK reach any backend through it.
 *
 * @module
 */

import { readJson } from "../../edge/request.ts";
import { completeChat, streamChat } from "../../pipeline/chat.ts";
import type { Frontend, RouteContext, RouteSpec } from "../frontend.ts";
import { countTokens } from "./count_tokens.ts";
import { geminiErrorResponse } from "./errors.ts";
import { getGeminiModel, listGeminiModels } from "./models.ts";
import { type GeminiChat, modelFromPath, toChatRequest } from "./request.ts";
import { toGeminiResponse } from "./response.ts";
import { geminiStreamWriter } from "./stream_writer.ts";

/** The path of a model method, `/v1beta/models/{model}:{method}` (or `/v1/…`). */
function methodPath(method: string): RegExp {
  return new RegExp(`^/v1(?:beta)?/models/(?<model>.+):${method}$`);
}

/**
 * A request from a Gemini client, which the paths Gemini shares with OpenAI (`GET /v1/models`)
 * go by: Google's SDKs send `x-goog-api-client`, and every Gemini client its key as
 * `x-goog-api-key` or `?key=`.
 */
function isGeminiClient(request: Request): boolean {
  const { headers } = request;
  return headers.has("x-goog-api-key") || headers.has("x-goog-api-client") ||
    (request.url.includes("key=") && new URL(request.url).searchParams.has("key"));
}

/** The request's body, read and translated for the path's model. */
async function translate(ctx: RouteContext): Promise<GeminiChat> {
  const body = await readJson(ctx.request, ctx.config.limits);
  return toChatRequest(body, modelFromPath(ctx.params.model), ctx.trace.log);
}

async function generateContent(ctx: RouteContext): Promise<Response> {
  const { chat, includeThoughts } = await translate(ctx);
  return ctx.json(toGeminiResponse(await completeChat(ctx, chat), includeThoughts));
}

/** `streamGenerateContent`: server-sent events with `?alt=sse`, else a streamed JSON array. */
async function streamGenerateContent(ctx: RouteContext): Promise<Response> {
  const { chat, includeThoughts } = await translate(ctx);
  // The last event carries the usage.
  chat.stream_options = { include_usage: true };
  const writer = geminiStreamWriter({
    sse: ctx.url.searchParams.get("alt") === "sse",
    includeThoughts,
    pieceSize: ctx.config.pieceSize,
  });
  return await streamChat(ctx, chat, writer);
}

/**
 * @example
 * ```ts
 * const table = new RouteTable([openAIChat, gemini]);
 * table.lookup("POST", "/v1beta/models/gemini-2.5-pro:generateContent"); // { kind: "route", … }
 * ```
 */
export const gemini: Frontend = {
  name: "gemini",
  routes: [
    {
      method: "POST",
      path: methodPath("generateContent"),
      name: "generate_content",
      handle: generateContent,
    },
    {
      method: "POST",
      path: methodPath("streamGenerateContent"),
      name: "stream_generate_content",
      handle: streamGenerateContent,
    },
    { method: "POST", path: methodPath("countTokens"), name: "count_tokens", handle: countTokens },
    ...["/v1beta/models", "/v1/models"].map((path): RouteSpec => ({
      method: "GET",
      path,
      name: "models",
      accepts: isGeminiClient,
      handle: (ctx) => listGeminiModels(ctx.config),
    })),
    {
      method: "GET",
      path: /^\/v1(?:beta)?\/models\/(?<model>.+)$/,
      name: "model",
      accepts: isGeminiClient,
      handle: (ctx) => getGeminiModel(ctx.config, modelFromPath(ctx.params.model)),
    },
  ],
  errorResponse: geminiErrorResponse,
};
