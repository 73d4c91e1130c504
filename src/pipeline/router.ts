/**
 * Picks the backend for a model name. `internlm/<model>` and `internlm:<model>` name a backend
 * by prefix; anything else goes to the default backend unchanged, because model ids themselves
 * may contain `/` (`meta-llama/Llama-3-8B`).
 *
 * @module
 */

import { ApiError } from "../canonical/errors.ts";
import type { Backend } from "../backends/backend.ts";

/** Where a request goes. */
export interface Route {
  backend: Backend;
  /** The model id as the upstream knows it (prefix removed). */
  model: string;
}

/**
 * @example
 * ```ts
 * const router = new Router(backends, "internlm");
 * router.resolve("internlm/internlm2.5-latest"); // { backend: internlm, model: "internlm2.5-latest" }
 * ```
 */
export class Router {
  constructor(
    private readonly backends: ReadonlyMap<string, Backend>,
    private readonly defaultBackend: string | undefined,
  ) {}

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
}

function firstSeparator(model: string): number {
  const slash = model.indexOf("/");
  const colon = model.indexOf(":");
  if (slash < 0) return colon;
  if (colon < 0) return slash;
  return Math.min(slash, colon);
}
