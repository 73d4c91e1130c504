/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the aliases of the `models:` map, each saying what
 * it maps to, then every backend's models, ids prefixed with the backend's name.
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { Config } from "../../config/config.ts";
import type { AliasInfo } from "../../pipeline/router.ts";

/** One entry of OpenAI's model list. */
export interface ModelObject {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  /** Aliases only: the backend models it stands for, in the order they are tried. */
  maps_to?: string[];
  /** Aliases only: true when the id is a pattern (`claude-*`) rather than one model. */
  pattern?: boolean;
}

/**
 * The aliases, then every backend's models as `<backend>/<model>`; never fails (backends fall
 * back to catalogues).
 *
 * @example
 * ```ts
 * (await modelList(config)).map((m) => m.id); // ["claude-*", "internlm/internlm2.5-latest", …]
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
  return [...config.router.aliases().map(aliasModel), ...lists.flat()];
}

function aliasModel(alias: AliasInfo): ModelObject {
  return {
    id: alias.id,
    object: "model",
    created: 0,
    owned_by: "llm-proxy",
    maps_to: alias.targets,
    pattern: alias.pattern,
  };
}

/** `GET /v1/models`. */
export async function listModels(config: Config): Promise<Response> {
  return jsonResponse({ object: "list", data: await modelList(config) });
}

/**
 * The model a client's id names, spelled any way a chat request may spell it: a listed id
 * (`internlm/intern-s1`, an alias), any id while `--force-model` answers them all, an id a pattern
 * of the `models:` map takes (`claude-opus-4-1` under `claude-*`), or a backend's model by
 * `internlm:<model>` or, on the default backend, by its bare name (`intern-s1`). Undefined when
 * chat would not reach a listed model with it. Every front end's model lookup goes through here.
 *
 * @example
 * ```ts
 * (await findModel(config, "internlm:intern-s1"))?.id; // "internlm/intern-s1"
 * ```
 */
export async function findModel(config: Config, id: string): Promise<ModelObject | undefined> {
  const models = await modelList(config);
  const listed = models.find((m) => m.id === id);
  if (listed) return listed;
  if (config.forceModel !== undefined) {
    return aliasModel({ id, pattern: false, targets: [config.forceModel] });
  }
  const plan = config.router.aliasFor(id);
  if (plan) {
    const targets = plan.targets.map((t) => `${t.backend.name}/${t.model}`);
    return aliasModel({ id, pattern: false, targets });
  }
  let route;
  try {
    route = config.router.resolve(id);
  } catch {
    // No backend takes the id (no prefix and no default backend): chat would refuse it too.
    return undefined;
  }
  return models.find((m) => m.id === `${route.backend.name}/${route.model}`);
}

/** `GET /v1/models/{id}`: what {@link findModel} finds; 404 `model_not_found` otherwise. */
export async function getModel(config: Config, id: string): Promise<Response> {
  const found = await findModel(config, id);
  if (found) return jsonResponse(found);
  throw new ApiError(404, `model "${id}" does not exist`, {
    param: "model",
    code: "model_not_found",
  });
}
