/**
 * Stored conversations: a request continues the response named by `previous_response_id` (its
 * earlier items, input and output, come from the store), `item_reference` items are resolved
 * from the store, and a complete response is stored with everything a later turn needs. Only
 * complete responses are stored; failed and cancelled ones never are.
 *
 * @module
 */

import { ApiError, isRecord } from "../../canonical/errors.ts";
import type { Logger } from "../../operations/log.ts";
import type { ResponseStore, StoredResponse } from "../../state/response_store.ts";
import { type ItemIds, responseOfItem } from "./ids.ts";
import type { JsonObject, ResponseObject } from "./types.ts";
import { invalid, type ResponsesRequest } from "./validate.ts";

/** The items of a request: the earlier turns', then its own. */
export interface Conversation {
  history: JsonObject[];
  /** The request's input, references resolved, every item with an id. */
  input: JsonObject[];
}

const ID_PREFIX: Record<string, string> = {
  message: "msg",
  function_call: "fc",
  function_call_output: "fco",
  custom_tool_call: "ctc",
  custom_tool_call_output: "ctco",
  reasoning: "rs",
};

/**
 * The conversation `request` continues, or a 404 `previous_response_not_found`.
 *
 * @example
 * ```ts
 * const { history, input } = await loadConversation(store, request, ids);
 * ```
 */
export async function loadConversation(
  store: ResponseStore,
  request: ResponsesRequest,
  ids: ItemIds,
): Promise<Conversation> {
  let history: JsonObject[] = [];
  const previousId = request.previous_response_id;
  if (previousId !== undefined) {
    const previous = await store.get(previousId);
    if (!previous) {
      throw new ApiError(404, `Previous response with id '${previousId}' not found.`, {
        param: "previous_response_id",
        code: "previous_response_not_found",
      });
    }
    history = conversationOf(previous);
  }
  const input: JsonObject[] = [];
  for (const [i, item] of request.input.entries()) {
    if (item.type === "item_reference") {
      input.push(await resolveReference(store, item, `input[${i}]`, history));
    } else {
      input.push(storedItem(item, ids));
    }
  }
  return { history, input };
}

/**
 * An input item as it is stored and listed: with an id, and a message's text as a part, the way
 * the Responses API lists input items.
 */
function storedItem(item: JsonObject, ids: ItemIds): JsonObject {
  const type = typeof item.type === "string" ? item.type : "message";
  const id = typeof item.id === "string" ? item.id : ids.next(ID_PREFIX[type] ?? "item");
  const stored: JsonObject = { id, ...item, type };
  if (type === "message" && typeof item.content === "string") {
    const part = item.role === "assistant" ? "output_text" : "input_text";
    stored.content = [{ type: part, text: item.content }];
  }
  return stored;
}

/** Every item of a stored response's conversation, oldest first: what the next turn continues. */
function conversationOf(stored: StoredResponse): JsonObject[] {
  return [...stored.history, ...stored.input, ...stored.response.output as JsonObject[]];
}

async function resolveReference(
  store: ResponseStore,
  ref: JsonObject,
  at: string,
  history: readonly JsonObject[],
): Promise<JsonObject> {
  const id = ref.id;
  if (typeof id !== "string") throw invalid(`${at}.id must be a string`, `${at}.id`);
  const find = (items: readonly JsonObject[]) => items.find((item) => item.id === id);
  let found = find(history);
  const owner = found ? undefined : responseOfItem(id);
  if (owner) {
    const stored = await store.get(owner);
    found = stored && find(conversationOf(stored));
  }
  if (!found) {
    throw new ApiError(404, `Item with id '${id}' not found.`, {
      param: `${at}.id`,
      code: "item_not_found",
    });
  }
  return found;
}

/**
 * Stores a complete response with its conversation, when the request asked for it (`store`,
 * default true). A store failure is logged, never the client's problem: the answer is out.
 *
 * @example
 * ```ts
 * saveResponse(store, conversation, response, trace.log); // only when response.store
 * ```
 */
export function saveResponse(
  store: ResponseStore,
  conversation: Conversation,
  response: ResponseObject,
  log: Logger,
): void {
  if (!response.store) return;
  store.put({ response, history: conversation.history, input: conversation.input }).catch(
    (err) => log.warn(`responses: could not store ${response.id}: ${describe(err)}`),
  );
}

function describe(err: unknown): string {
  return isRecord(err) && typeof err.message === "string" ? err.message : String(err);
}
