/**
 * OpenAI's Responses API (`POST /v1/responses`, what Codex CLI speaks), over the shared chat
 * pipeline: the request and the conversation it continues become one chat request, the answer
 * becomes a response object or its event stream, and a complete response is stored for later
 * turns, retrieval and deletion (`stored_routes.ts`).
 *
 * @module
 */

import { ApiError } from "../../canonical/errors.ts";
import { readJson } from "../../edge/request.ts";
import { completeChat, streamChat } from "../../pipeline/chat.ts";
import type { Frontend, RouteContext } from "../frontend.ts";
import { loadConversation, saveResponse } from "./conversation.ts";
import { ItemIds, newResponseId } from "./ids.ts";
import { type ResponseContext, toResponse } from "./response.ts";
import { deleteResponse, getResponse, listInputItems } from "./stored_routes.ts";
import { responsesStreamWriter } from "./stream_writer.ts";
import { toChatRequest } from "./to_chat.ts";
import { validateResponsesRequest } from "./validate.ts";

async function createResponse(ctx: RouteContext): Promise<Response> {
  const { config, trace } = ctx;
  const request = validateResponsesRequest(
    await readJson(ctx.request, config.limits),
    config.forceModel !== undefined,
  );
  const id = newResponseId();
  const ids = new ItemIds(id);
  const store = config.responseStore;
  const conversation = await loadConversation(store, request, ids);
  const model = request.model ?? config.forceModel!;
  const { chat, customTools } = toChatRequest(
    request,
    [...conversation.history, ...conversation.input],
    model,
    trace.log,
  );
  const rctx: ResponseContext = {
    id,
    createdAt: Math.floor(Date.now() / 1000),
    request,
    customTools,
    ids,
  };
  if (!request.stream) {
    const response = toResponse(await completeChat(ctx, chat), rctx);
    saveResponse(store, conversation, response, trace.log);
    return ctx.json(response);
  }
  return await streamChat(
    ctx,
    chat,
    responsesStreamWriter({
      ctx: rctx,
      model,
      pieceSize: config.pieceSize,
      onComplete: (response) => saveResponse(store, conversation, response, trace.log),
    }),
  );
}

/** Seconds a client is told to wait after a 429 that came without its own `retry-after`. */
const DEFAULT_RETRY_AFTER_S = 1;

/** Codex gives up at once on a 429 without `retry-after`: every 429 answered here has one. */
function withRetryAfter(error: ApiError): ApiError {
  if (error.status !== 429 || error.headers["retry-after"] !== undefined) return error;
  return new ApiError(error.status, error.message, {
    type: error.type,
    code: error.code,
    param: error.param,
    headers: { ...error.headers, "retry-after": String(DEFAULT_RETRY_AFTER_S) },
  });
}

const ID_ROUTE = /^\/(?:v1\/)?responses\/(?<id>[^/]+)$/;

/**
 * `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`, `GET
 * /v1/responses/{id}/input_items`; also without the `/v1` prefix.
 *
 * @example
 * ```ts
 * const table = new RouteTable([openAIChat, responses]);
 * ```
 */
export const responses: Frontend = {
  name: "responses",
  routes: [
    { method: "POST", path: "/v1/responses", name: "responses", handle: createResponse },
    { method: "POST", path: "/responses", name: "responses", handle: createResponse },
    { method: "GET", path: ID_ROUTE, name: "response", handle: getResponse },
    { method: "DELETE", path: ID_ROUTE, name: "response", handle: deleteResponse },
    {
      method: "GET",
      path: /^\/(?:v1\/)?responses\/(?<id>[^/]+)\/input_items$/,
      name: "response_input_items",
      handle: listInputItems,
    },
  ],
  errorResponse: (error) => withRetryAfter(error).toResponse(),
};
