/**
 * Picks the backend models for a requested model. `internlm/<model>` and `internlm:<model>` name
 * a backend by prefix and go straight to it; other ids are looked up in the `models:` map (first
 * match wins), and what matches nothing goes to the default backend unchanged, because model ids
 * themselves may contain `/` (`meta-llama/Llama-3-8B`).
 *
 * @module
 */

import { ApiError } from "../canonical/errors.ts";
import type { Backend } from "../backends/backend.ts";
import { firstMatch } from "./model_pattern.ts";
import type { ModelMapEntry } from "./model_map.ts";

/** Where a request goes. */
export interface Route {
  backend: Backend;
  /** The model id as the upstream knows it (prefix removed). */
  model: string;
}

/** Every backend model a request may be answered by, in the order they are tried. */
export interface RoutePlan {
  /** The `models:` key that matched, when one did (the client asked for an alias). */
  alias?: string;
  /** Never empty. */
  targets: readonly Route[];
}

/** One entry of the model map, as `/v1/models` lists it. */
export interface AliasInfo {
  /** The key as written: an exact id or a pattern. */
  id: string;
  /** True for a pattern (`claude-*`) rather than one id. */
  pattern: boolean;
  /** `backend/model` of each target, in chain order. */
  targets: string[];
}

/**
 * @example
 * ```ts
 * const router = new Router(backends, "internlm");
 * router.resolve("internlm/internlm2.5-latest"); // { backend: internlm, model: "internlm2.5-latest" }
 * router.plan("claude-sonnet-4-5"); // { alias: "claude-*", targets: [...] } with a models: map
 * ```
 */
export class Router {
  constructor(
    private readonly backends: ReadonlyMap<string, Backend>,
    private readonly defaultBackend: string | undefined,
    private readonly models: readonly ModelMapEntry[] = [],
  ) {}

  /** The plan for what a client asked for: a backend's own id, an alias, or the default backend. */
  plan(model: string): RoutePlan {
    return this.aliasFor(model) ?? { targets: [this.resolve(model)] };
  }

  /** The plan of the `models:` entry `model` matches, if it is not a backend's own id. */
  aliasFor(model: string): RoutePlan | undefined {
    if (this.models.length === 0 || this.namesBackend(model)) return undefined;
    const entry = firstMatch(this.models, model);
    return entry && { alias: entry.pattern.source, targets: entry.targets };
  }

  /** One backend model, by prefix or on the default backend; the model map is not consulted. */
  resolve(model: string): Route {
    const cut = firstSeparator(model);
    if (cut > 0) {
      const backend = this.backends.get(model.slice(0, cut));
      if (backend) {
        const rest = model.slice(cut + 1);
        if (rest === "") {
          throw new ApiError(400, `model "${model}" names backend ${backend.name} but no model`, {
            param: "model",
            code: "model_not_found",
          });
        }
        return { backend, model: rest };
      }
    }
    const fallback = this.defaultBackend && this.backends.get(this.defaultBackend);
    if (fallback) return { backend: fallback, model };
    const names = [...this.backends.keys()];
    throw new ApiError(
      400,
      `model "${model}" has no backend prefix and no default backend is set; ` +
        `use one of: ${names.map((n) => `${n}/<model>`).join(", ") || "(no backends enabled)"}`,
      { param: "model", code: "model_not_found" },
    );
  }

  /** True when `id` starts with an enabled backend's name and `/` or `:`. */
  namesBackend(id: string): boolean {
    const cut = firstSeparator(id);
    return cut > 0 && this.backends.has(id.slice(0, cut));
  }

  /** The model map's entries, in order. */
  aliases(): AliasInfo[] {
    return this.models.map(({ pattern, targets }) => ({
      id: pattern.source,
      pattern: !pattern.exact,
      targets: targets.map((t) => `${t.backend.name}/${t.model}`),
    }));
  }
}

function firstSeparator(model: string): number {
  const slash = model.indexOf("/");
  const colon = model.indexOf(":");
  if (slash < 0) return colon;
  if (colon < 0) return slash;
  return Math.min(slash, colon);
}
