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
  params: Readonly<Record<string, string>>;
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

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

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
  /**
   * `method path` of every exact path one route alone serves with that method, whatever the
   * request: its lookup, made once (most requests are these).
   */
  readonly #settled = new Map<string, Lookup>();

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
    for (const [path, entries] of this.#exact) {
      for (const { spec, frontend } of entries) {
        const rivals = entries.filter((e) => e.spec.method === spec.method);
        if (rivals.length > 1) continue;
        const match = { spec, frontend, params: NO_PARAMS };
        this.#settled.set(`${spec.method} ${path}`, Object.freeze({ kind: "route", match }));
      }
    }
  }

  /**
   * `HEAD` is answered by a `GET` route. Path parameters are percent-decoded. `request` decides
   * between routes of the same method and path (see `RouteSpec.accepts`).
   */
  lookup(method: string, path: string, request?: Request): Lookup {
    const wanted = method === "HEAD" ? "GET" : method;
    const settled = this.#settled.get(`${wanted} ${path}`);
    if (settled) return settled;
    const exact = this.#exact.get(path);
    if (exact) return pick(exact.map((entry) => ({ entry, groups: {} })), wanted, request);
    const found: { entry: Entry; groups: Record<string, string> }[] = [];
    for (const entry of this.#patterns) {
      const m = (entry.spec.path as RegExp).exec(path);
      if (m) found.push({ entry, groups: m.groups ?? {} });
    }
    return found.length === 0 ? { kind: "none" } : pick(found, wanted, request);
  }
}

function pick(
  candidates: { entry: Entry; groups: Record<string, string> }[],
  method: string,
  request: Request | undefined,
): Lookup {
  // The route that accepts the request, else the one that needs no accepting, else any.
  let accepted: (typeof candidates)[number] | undefined;
  let open: (typeof candidates)[number] | undefined;
  let any: (typeof candidates)[number] | undefined;
  for (const c of candidates) {
    if (c.entry.spec.method !== method) continue;
    any ??= c;
    const accepts = c.entry.spec.accepts;
    if (!accepts) open ??= c;
    else if (!accepted && request && accepts(request)) accepted = c;
  }
  const chosen = accepted ?? open ?? any;
  if (!chosen) {
    const allow: string[] = [...new Set(candidates.map((c) => c.entry.spec.method))];
    if (allow.includes("GET")) allow.push("HEAD");
    // The error is in the dialect of a route that accepts the request, else of the first.
    const owner = (request && candidates.find((c) => c.entry.spec.accepts?.(request))) ||
      candidates[0];
    return { kind: "method", frontend: owner.entry.frontend, allow };
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
