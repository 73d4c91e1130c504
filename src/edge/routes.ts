/**
 * The route table: every front end's endpoints, looked up by method and path. Exact paths are one
 * map lookup; patterns (paths with an id in them) are tried in order after.
 *
 * @module
 */

import { ApiError } from "../canonical/errors.ts";
import type { Frontend, RouteSpec } from "../frontends/frontend.ts";

/** A route found for a request. */
export interface RouteMatch {
  spec: RouteSpec;
  frontend: Frontend;
  params: Record<string, string>;
}

/** What a lookup found: the route, or a path some route serves with other methods, or nothing. */
export type Lookup =
  | { kind: "route"; match: RouteMatch }
  | { kind: "method"; frontend: Frontend; allow: string[] }
  | { kind: "none" };

interface Entry {
  spec: RouteSpec;
  frontend: Frontend;
}

/**
 * @example
 * ```ts
 * const table = new RouteTable([openAIChat]);
 * table.lookup("POST", "/v1/chat/completions"); // { kind: "route", match: { spec, … } }
 * ```
 */
export class RouteTable {
  readonly #exact = new Map<string, Entry[]>();
  readonly #patterns: Entry[] = [];

  constructor(frontends: readonly Frontend[]) {
    for (const frontend of frontends) {
      for (const spec of frontend.routes) {
        const entry = { spec, frontend };
        if (typeof spec.path === "string") {
          const list = this.#exact.get(spec.path) ?? [];
          list.push(entry);
          this.#exact.set(spec.path, list);
        } else {
          this.#patterns.push(entry);
        }
      }
    }
  }

  /** `HEAD` is answered by a `GET` route. Path parameters are percent-decoded. */
  lookup(method: string, path: string): Lookup {
    const wanted = method === "HEAD" ? "GET" : method;
    const exact = this.#exact.get(path);
    if (exact) return pick(exact.map((entry) => ({ entry, groups: {} })), wanted);
    const found: { entry: Entry; groups: Record<string, string> }[] = [];
    for (const entry of this.#patterns) {
      const m = (entry.spec.path as RegExp).exec(path);
      if (m) found.push({ entry, groups: m.groups ?? {} });
    }
    return found.length === 0 ? { kind: "none" } : pick(found, wanted);
  }
}

function pick(
  candidates: { entry: Entry; groups: Record<string, string> }[],
  method: string,
): Lookup {
  const chosen = candidates.find((c) => c.entry.spec.method === method);
  if (!chosen) {
    const allow: string[] = [...new Set(candidates.map((c) => c.entry.spec.method))];
    if (allow.includes("GET")) allow.push("HEAD");
    return { kind: "method", frontend: candidates[0].entry.frontend, allow };
  }
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(chosen.groups)) params[name] = decodePathPart(value);
  const { spec, frontend } = chosen.entry;
  return { kind: "route", match: { spec, frontend, params } };
}

/** Malformed percent-encoding is the client's mistake, not a proxy failure. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ApiError(400, `the path has invalid percent-encoding: ${part}`, {
      code: "invalid_url",
    });
  }
}
