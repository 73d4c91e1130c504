/**
 * `GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape, for Anthropic clients (they
 * send `anthropic-version`; the OpenAI chat front end answers everyone else on the same paths):
 * the aliases of the `models:` map and every backend's models, as the OpenAI list has them.
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { Config } from "../../config/config.ts";
import { findModel, modelList, type ModelObject } from "../openai_chat/models.ts";

/** One entry of Anthropic's model list. */
export interface AnthropicModel {
  type: "model";
  id: string;
  display_name: string;
  created_at: string;
}

function entry(model: Pick<ModelObject, "id" | "created" | "maps_to">): AnthropicModel {
  return {
    type: "model",
    id: model.id,
    display_name: model.maps_to ? `${model.id} → ${model.maps_to.join(", ")}` : model.id,
    created_at: new Date(model.created * 1000).toISOString(),
  };
}

/**
 * Anthropic clients send `anthropic-version` on every request (the SDKs, Claude Code).
 *
 * @example
 * ```ts
 * isAnthropicClient(new Request("http://x/v1/models", { headers: { "anthropic-version": "2023-06-01" } })); // true
 * ```
 */
export function isAnthropicClient(request: Request): boolean {
  return request.headers.has("anthropic-version");
}

/**
 * `GET /v1/models`: every model in one page.
 *
 * @example
 * ```ts
 * await (await listAnthropicModels(config)).json(); // { data: [{ type: "model", id, … }], has_more: false, … }
 * ```
 */
export async function listAnthropicModels(config: Config): Promise<Response> {
  const data = (await modelList(config)).map(entry);
  return jsonResponse({
    data,
    has_more: false,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  });
}

/**
 * `GET /v1/models/{id}`: a listed model, or a model id the `models:` map (or `--force-model`)
 * answers, as clients check their own ids (`claude-…`) before using them, spelled as chat accepts
 * it ({@link findModel}); else 404.
 *
 * @example
 * ```ts
 * await getAnthropicModel(config, "claude-sonnet-4-5"); // with "claude-*" mapped: its entry
 * ```
 */
export async function getAnthropicModel(config: Config, id: string): Promise<Response> {
  const found = await findModel(config, id);
  if (!found) throw new ApiError(404, `model "${id}" does not exist`, { code: "model_not_found" });
  return jsonResponse(entry(found));
}
