/**
 * `GET /v1/models` and `GET /v1/models/{id}`: every backend's models, ids prefixed with the
 * backend's name.
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { Config } from "../../config/config.ts";

/** One entry of OpenAI's model list. */
export interface ModelObject {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/**
 * Every backend's models as `<backend>/<model>`; never fails (backends fall back to catalogues).
 *
 * @example
 * ```ts
 * (await modelList(config)).map((m) => m.id); // ["internlm/internlm2.5-latest", …]
 * ```
 */
export async function modelList(config: Config): Promise<ModelObject[]> {
  const lists = await Promise.all(
    [...config.backends.values()].map(async (backend) =>
      (await backend.listModels()).map((m) => ({
        id: `${backend.name}/${m.id}`,
        object: "model" as const,
        created: m.created,
        owned_by: m.owned_by,
      }))
    ),
  );
  return lists.flat();
}

/** `GET /v1/models`. */
export async function listModels(config: Config): Promise<Response> {
  return jsonResponse({ object: "list", data: await modelList(config) });
}

/** `GET /v1/models/{id}`: 404 `model_not_found` when no backend lists it. */
export async function getModel(config: Config, id: string): Promise<Response> {
  const found = (await modelList(config)).find((m) => m.id === id);
  if (!found) {
    throw new ApiError(404, `model "${id}" does not exist`, {
      param: "model",
      code: "model_not_found",
    });
  }
  return jsonResponse(found);
}
