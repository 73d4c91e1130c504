/**
 * `POST /v1/messages/count_tokens`: the request is translated exactly as for `/v1/messages`, and
 * the canonical form is counted (system, messages, tool definitions) with the shared estimate.
 * Nothing goes upstream: InternLM has no counting endpoint.
 *
 * @module
 */

import { jsonResponse } from "../../canonical/errors.ts";
import { countChatTokens } from "../../pipeline/token_count.ts";
import type { RouteContext } from "../frontend.ts";
import { toChatRequest } from "./request.ts";
import type { MessagesRequest } from "./validate.ts";

/**
 * `{"input_tokens": N}` for a validated request.
 *
 * @example
 * ```ts
 * await countTokens(ctx, request); // Response {"input_tokens":12}
 * ```
 */
export async function countTokens(ctx: RouteContext, request: MessagesRequest): Promise<Response> {
  const { chat } = toChatRequest(request);
  const input_tokens = await countChatTokens(chat);
  ctx.trace.log.debug(`count_tokens: ${input_tokens} (estimate, o200k_base)`);
  return jsonResponse({ input_tokens });
}
