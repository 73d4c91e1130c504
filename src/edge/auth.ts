/**
 * Client authentication to the proxy: optional API keys that callers must present as
 * `Authorization: Bearer KEY` or `x-api-key: KEY` (or, Google's way, `x-goog-api-key: KEY` or
 * `?key=KEY`). These are the proxy's own keys, unrelated to the
 * upstream keys in the key pool, and they are never forwarded anywhere.
 *
 * @module
 */

import { ApiError } from "../canonical/errors.ts";

/**
 * Checks requests against a fixed set of client keys. A presented key is compared with every
 * configured key, each over the longest configured key's length and without an early exit, so
 * neither the length nor the content of a guess, nor which key it came close to, changes how long
 * a check takes.
 *
 * @example
 * ```ts
 * const auth = new ClientAuth(["sk-team-a", "sk-team-b"]);
 * auth.check(request); // throws ApiError(401) unless the request carries one of them
 * ```
 */
export class ClientAuth {
  readonly #keys: readonly string[];
  readonly #span: number;

  constructor(keys: readonly string[]) {
    this.#keys = keys;
    this.#span = Math.max(0, ...keys.map((k) => k.length));
  }

  /** False when no key is configured: every request is let through. */
  get enabled(): boolean {
    return this.#keys.length > 0;
  }

  /** Throws a 401 in OpenAI's shape unless `request` presents a configured key. */
  check(request: Request): void {
    if (!this.enabled) return;
    const presented = presentedKeys(request);
    if (presented.length === 0) {
      throw unauthorized(
        "missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key: <key>' or " +
          "'x-goog-api-key: <key>'",
        "missing_api_key",
      );
    }
    let ok = false;
    for (const key of presented) {
      // No early exit: every configured key is compared, whatever matched before.
      for (const known of this.#keys) ok = sameKey(key, known, this.#span) || ok;
    }
    // The presented value is never echoed: a mistyped key is often a real key to something else.
    if (!ok) throw unauthorized("invalid API key for this proxy", "invalid_api_key");
  }
}

/**
 * `a === b`, in time that depends on `span` alone: every position up to `span` is compared (past a
 * string's end, as code 0x10000, which no UTF-16 unit equals) and the differences are or-ed.
 */
function sameKey(a: string, b: string, span: number): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < span; i++) {
    diff |= (i < a.length ? a.charCodeAt(i) : 0x10000) ^ (i < b.length ? b.charCodeAt(i) : 0x10000);
  }
  return diff === 0;
}

/** The keys a request presents, from every accepted header and the `key` query parameter. */
function presentedKeys(request: Request): string[] {
  const { headers } = request;
  const keys: string[] = [];
  const bearer = /^Bearer[ \t]+(.*)$/i.exec(headers.get("authorization") ?? "")?.[1].trim();
  if (bearer) keys.push(bearer);
  const apiKey = headers.get("x-api-key")?.trim();
  if (apiKey) keys.push(apiKey);
  const googKey = headers.get("x-goog-api-key")?.trim();
  if (googKey) keys.push(googKey);
  // The URL is parsed again only when it can hold a key: most requests carry none.
  if (request.url.includes("key=")) {
    const queryKey = new URL(request.url).searchParams.get("key")?.trim();
    if (queryKey) keys.push(queryKey);
  }
  return keys;
}

function unauthorized(message: string, code: string): ApiError {
  return new ApiError(401, message, {
    code,
    headers: { "www-authenticate": 'Bearer realm="llm-proxy"' },
  });
}
