/**
 * `POST /v1beta/models/{model}:countTokens`: the contents (or a whole `generateContentRequest`,
 * with its system instruction and tools) translated exactly as for `generateContent`, and the
 * canonical form counted with the estimate Anthropic's `count_tokens` uses too. Nothing goes
 * upstream: InternLM has no counting endpoint.
 *
 * @module
 */

import { jsonResponse } from "../../canonical/errors.ts";
import { readJson } from "../../edge/request.ts";
import { countChatTokens } from "../../pipeline/token_count.ts";
import type { RouteContext } from "../frontend.ts";
import { invalidArgument } from "./errors.ts";
import { field, objectAt } from "./fields.ts";
import { modelFromPath, toChatRequest } from "./request.ts";

/** What a `CountTokensRequest` may hold, in both spellings. */
const FIELDS = new Set([
  "contents",
  "generateContentRequest",
  "generate_content_request",
]);

/**
 * `{"totalTokens": N}` for the request's contents.
 *
 * @example
 * ```ts
 * await countTokens(ctx); // Response {"totalTokens":12}
 * ```
 */
export async function countTokens(ctx: RouteContext): Promise<Response> {
  const body = objectAt(await readJson(ctx.request, ctx.config.limits), "CountTokensRequest");
  // Anything else (a top-level generationConfig, say) would be silently left out of the count.
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) {
      throw invalidArgument(key, "unknown field; count a whole request as generateContentRequest");
    }
  }
  const whole = field(body, "generateContentRequest");
  const contents = field(body, "contents");
  if (whole !== undefined && contents !== undefined) {
    throw invalidArgument("contents", "give contents or generateContentRequest, not both");
  }
  const request = whole === undefined ? { contents } : objectAt(whole, "generateContentRequest");
  const { chat } = toChatRequest(request, modelFromPath(ctx.params.model), ctx.trace.log);
  const totalTokens = await countChatTokens(chat);
  ctx.trace.log.debug(`countTokens: ${totalTokens} (estimate, o200k_base)`);
  return jsonResponse({ totalTokens });
}
