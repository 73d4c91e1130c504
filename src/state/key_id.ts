/**
 * How shared state names an upstream key without holding it: a stable digest, the same on every
 * replica, from which the key cannot be read back.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Keeps these digests apart from SHA-256 digests of the same text made for other uses. */
const DOMAIN = "llm-proxy upstream key v1\u0000";

/**
 * The key's name in shared state: 32 hex digits of SHA-256 over a fixed domain and the key.
 *
 * @example
 * ```ts
 * keyId("sk-secret"); // "3b0c…" (32 hex digits), the same on every replica
 * ```
 */
export function keyId(key: string): string {
  return createHash("sha256").update(DOMAIN + key).digest("hex").slice(0, 32);
}
