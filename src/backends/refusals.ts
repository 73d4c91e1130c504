/**
 * Telling apart, from an upstream's error body, what a key-level status code does not say: a 429
 * whose limit is one model's (so the key still serves the others), and a 403 that refused the
 * request's content (so the key is fine, and no other key would do better).
 *
 * @module
 */

import type { UpstreamErrorDetail } from "../canonical/errors.ts";

/** Words of a content-policy refusal, in English and Chinese (InternLM answers in both). */
const CONTENT_REFUSAL =
  /content[ _-]?(policy|filter|management|moderation)|moderation|safety|sensitive|inappropriate|prohibited content|violat|flagged|敏感|违规|违禁|审核|不当内容|安全策略/i;

/** Words of a limit scoped to a model. */
const MODEL_SCOPE = /\b(per[ _-]model|this model|for model|model[ _-](rate|limit|quota))\b/i;

/**
 * True when a 403's body says the request was refused for what it asks (content policy), not
 * that the key lacks access.
 *
 * @example
 * ```ts
 * isContentRefusal({ message: "Your request was flagged by our content policy" }); // true
 * isContentRefusal({ message: "invalid api key" }); // false
 * ```
 */
export function isContentRefusal(detail: UpstreamErrorDetail): boolean {
  return CONTENT_REFUSAL.test(`${detail.message} ${detail.type ?? ""} ${detail.code ?? ""}`);
}

/**
 * True when a 429's body (its raw text) names `model` or says the limit is a model's
 * ("Rate limit reached for gpt-4o…", "per-model quota exceeded").
 *
 * @example
 * ```ts
 * isPerModelLimit('{"error":{"message":"Rate limit reached for intern-s1"}}', "intern-s1"); // true
 * isPerModelLimit('{"error":{"message":"Too many requests"}}', "intern-s1"); // false
 * ```
 */
export function isPerModelLimit(body: string, model: string): boolean {
  if (MODEL_SCOPE.test(body)) return true;
  return model.length >= 3 && body.toLowerCase().includes(model.toLowerCase());
}
