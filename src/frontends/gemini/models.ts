/**
 * `GET /v1beta/models` and `GET /v1beta/models/{model}` in Gemini's shape: every backend's
 * models, named `models/<backend>/<model>` (the ids `/v1/models` lists, so either works in a
 * `generateContent` path).
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { Config } from "../../config/config.ts";
import { findModel, modelList } from "../openai_chat/models.ts";

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
 * `GET /v1beta/models/{model}`: a listed model, found with or without its backend prefix, or an
 * alias ({@link findModel}). With `--force-model` every name is answered (the forced model serves
 * them all), so a client that checks its own model ids first does not stop there.
 *
 * @example
 * ```ts
 * await getGeminiModel(config, "internlm/intern-s1"); // { name: "models/internlm/intern-s1", … }
 * ```
 */
export async function getGeminiModel(config: Config, model: string): Promise<Response> {
  const found = await findModel(config, model);
  if (!found) {
    throw new ApiError(404, `models/${model} is not found`, { code: "model_not_found" });
  }
  // An alias or a forced model keeps the name asked for, and says what answers it.
  return jsonResponse(
    found.maps_to
      ? entry(model, `answered by ${found.maps_to.join(", ")} (mapped by llm-proxy)`)
      : entry(found.id, `${found.id}, served by llm-proxy`),
  );
}
