/**
 * The stored-response endpoints: `GET /v1/responses/{id}` (the response as it was answered),
 * `DELETE /v1/responses/{id}`, and `GET /v1/responses/{id}/input_items` (the items the model saw,
 * earlier turns included, paged by `limit`, `order`, `after` and `before`).
 *
 * @module
 */

import { ApiError, jsonResponse } from "../../canonical/errors.ts";
import type { StoredResponse } from "../../state/response_store.ts";
import type { RouteContext } from "../frontend.ts";
import { invalid } from "./validate.ts";

async function stored(ctx: RouteContext): Promise<StoredResponse> {
  const id = ctx.params.id;
  const record = await ctx.config.responseStore.get(id);
  if (!record) {
    throw new ApiError(404, `No response found with id '${id}'.`, {
      param: "response_id",
      code: "response_not_found",
    });
  }
  return record;
}

/**
 * `GET /v1/responses/{id}`.
 *
 * @example
 * ```ts
 * { method: "GET", path: /^\/v1\/responses\/(?<id>[^/]+)$/, name: "response", handle: getResponse }
 * ```
 */
export async function getResponse(ctx: RouteContext): Promise<Response> {
  return jsonResponse((await stored(ctx)).response);
}

/**
 * `DELETE /v1/responses/{id}`: `{id, object: "response", deleted: true}`, or a 404.
 *
 * @example
 * ```ts
 * { method: "DELETE", path: /^\/v1\/responses\/(?<id>[^/]+)$/, name: "response", handle: deleteResponse }
 * ```
 */
export async function deleteResponse(ctx: RouteContext): Promise<Response> {
  const id = ctx.params.id;
  if (!await ctx.config.responseStore.delete(id)) {
    throw new ApiError(404, `No response found with id '${id}'.`, {
      param: "response_id",
      code: "response_not_found",
    });
  }
  return jsonResponse({ id, object: "response", deleted: true });
}

/**
 * `GET /v1/responses/{id}/input_items`: a cursor page, newest first unless `order=asc`.
 *
 * @example
 * ```ts
 * // GET /v1/responses/resp_…/input_items?limit=2&order=asc
 * // {"object":"list","data":[…],"first_id":"msg_…","last_id":"msg_…","has_more":true}
 * ```
 */
export async function listInputItems(ctx: RouteContext): Promise<Response> {
  const query = ctx.url.searchParams;
  const limit = pageLimit(query.get("limit"));
  const order = query.get("order") ?? "desc";
  if (order !== "asc" && order !== "desc") throw invalid("order must be asc or desc", "order");
  const record = await stored(ctx);
  let items = [...record.history, ...record.input];
  if (order === "desc") items.reverse();
  items = afterCursor(items, query.get("after"), "after");
  const before = query.get("before");
  if (before !== null) items = afterCursor([...items].reverse(), before, "before").reverse();
  const page = items.slice(0, limit);
  return jsonResponse({
    object: "list",
    data: page,
    first_id: page[0]?.id ?? null,
    last_id: page[page.length - 1]?.id ?? null,
    has_more: items.length > page.length,
  });
}

function pageLimit(text: string | null): number {
  if (text === null) return 20;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 100) {
    throw invalid("limit must be an integer from 1 to 100", "limit");
  }
  return n;
}

/** The items after the one with id `cursor` (all of them when there is no cursor). */
function afterCursor(
  items: Record<string, unknown>[],
  cursor: string | null,
  param: string,
): Record<string, unknown>[] {
  if (cursor === null) return items;
  const at = items.findIndex((item) => item.id === cursor);
  if (at < 0) throw invalid(`${param}: no input item with id '${cursor}'`, param);
  return items.slice(at + 1);
}
