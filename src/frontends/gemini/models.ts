/**
 * `GET /v1beta/models` and `GET /v1beta/models/{model}` in Gemini's shape: every backend's
 * models, named `models/<backend>/<model>` (the ids `/v1/models` lists, so either works in a
 * `generateContent` path).
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { Config } from "../../config/config.ts";
import { modelList } from "../openai_chat/models.ts";

/** One entry of Gemini's model list. */
export interface GeminiModel {
  name: string;
  displayName: string;
  description: string;
  supportedGenerationMethods: string[];
}

const METHODS = ["generateContent", "streamGenerateContent", "countTokens"];

function entry(id: string, description: string): GeminiModel {
  return {
    name: `models/${id}`,
    displayName: id,
    description,
    supportedGenerationMethods: METHODS,
  };
}

/**
 * `GET /v1beta/models`; all models in one page.
 *
 * @example
 * ```ts
 * await (await listGeminiModels(config)).json(); // { models: [{ name: "models/internlm/…", … }] }
 * ```
 */
export async function listGeminiModels(config: Config): Promise<Response> {
  const models = (await modelList(config)).map((m) => entry(m.id, `${m.id}, served by llm-proxy`));
  return jsonResponse({ models });
}

/**
 * `GET /v1beta/models/{model}`: a listed model, found with or without its backend prefix. With
 * `--force-model` every name is answered (the forced model serves them all), so a client that
 * checks its own model ids first does not stop there.
 *
 * @example
 * ```ts
 * await getGeminiModel(config, "internlm/intern-s1"); // { name: "models/internlm/intern-s1", … }
 * ```
 */
export async function getGeminiModel(config: Config, model: string): Promise<Response> {
  if (config.forceModel !== undefined) {
    return jsonResponse(entry(model, `answered by ${config.forceModel} (forced by llm-proxy)`));
  }
  const ids = new Set((await modelList(config)).map((m) => m.id));
  let id = ids.has(model) ? model : undefined;
  if (id === undefined) {
    try {
      const route = config.router.resolve(model);
      const prefixed = `${route.backend.name}/${route.model}`;
      if (ids.has(prefixed)) id = prefixed;
    } catch {
      // No backend for the name: not found, below.
    }
  }
  if (id === undefined) {
    throw new ApiError(404, `models/${model} is not found`, { code: "model_not_found" });
  }
  return jsonResponse(entry(id, `${id}, served by llm-proxy`));
}
