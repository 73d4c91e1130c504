/**
 * Response and item ids. An item id carries the id of the response that gave it out
 * (`msg_<response key>_<n>`), so an `item_reference` is resolved with one store lookup, whatever
 * store backs it.
 *
 * @module
 */

const ITEM_ID = /^[a-z]+_([0-9a-f]{32})_\d+$/;

/**
 * A fresh `resp_<32 hex>`.
 *
 * @example
 * ```ts
 * newResponseId(); // "resp_3f0c9a…" (32 hex digits)
 * ```
 */
export function newResponseId(): string {
  return `resp_${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * Hands out the item ids of one response, in order.
 *
 * @example
 * ```ts
 * const ids = new ItemIds("resp_0123456789abcdef0123456789abcdef");
 * ids.next("msg"); // "msg_0123456789abcdef0123456789abcdef_0"
 * ```
 */
export class ItemIds {
  readonly #key: string;
  #n = 0;

  constructor(responseId: string) {
    this.#key = responseId.slice("resp_".length);
  }

  next(prefix: string): string {
    return `${prefix}_${this.#key}_${this.#n++}`;
  }
}

/**
 * The response an item id was given out by, or undefined for an id the proxy did not make.
 *
 * @example
 * ```ts
 * responseOfItem("msg_0123456789abcdef0123456789abcdef_2"); // "resp_0123456789abcdef0123456789abcdef"
 * responseOfItem("msg_from_a_client"); // undefined
 * ```
 */
export function responseOfItem(itemId: string): string | undefined {
  const m = ITEM_ID.exec(itemId);
  return m ? `resp_${m[1]}` : undefined;
}
