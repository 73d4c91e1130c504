/**
 * The benchmark's conversation: a realistic ~2 KB chat (a system prompt, a few turns, a tool, the
 * usual sampling fields), as OpenAI chat sends it. Other dialects' variants carry the same parts.
 *
 * @module
 */

/** The system prompt. */
export const SYSTEM = "You are a careful assistant for a team of backend engineers. Answer " +
  "precisely, cite the relevant configuration keys, prefer short code examples over prose, and " +
  "say so plainly when you are unsure instead of guessing. Keep answers under three hundred words.";

/** The turns after it, user first. */
export const TURNS: readonly { role: "user" | "assistant"; content: string }[] = [
  {
    role: "user",
    content: "Our gateway returns 429 to some clients during the morning peak while others " +
      "get through. We run four upstream keys in a round-robin pool with a sixty second " +
      "cool-down. What should we look at first, and which metrics would confirm it?",
  },
  {
    role: "assistant",
    content: "Start with the per-key rate limits: if one key has a lower quota than the " +
      "others, round-robin sends it the same share of traffic and it cools down first. " +
      "Compare the 429 counts per key slot in the request log over the peak hour, and " +
      "check whether the Retry-After values the upstream sends are longer than your " +
      "configured cool-down. If all keys hit the limit together, the pool is simply too " +
      "small for the peak and you need more keys or client-side backoff.",
  },
  {
    role: "user",
    content: "The counts per slot are even, and Retry-After is usually 20 seconds. The " +
      "requests that fail are mostly long conversations with large system prompts. Could " +
      "token-based limits explain this, and how would you restructure the pool or the " +
      "clients so the long conversations stop failing? Please give a concrete config.",
  },
];

/** The one tool offered. */
export const TOOL = {
  name: "get_rate_limits",
  description: "Reads the current rate limits and usage of one upstream API key slot.",
  parameters: {
    type: "object",
    properties: {
      slot: { type: "integer", description: "1-based key slot, as in the request log" },
      window: { type: "string", enum: ["minute", "hour", "day"] },
    },
    required: ["slot"],
  },
};

/** The model every request names; the fake upstream answers any. */
export const MODEL = "internlm/internlm2.5-latest";

/**
 * The answer size follows the token limit, as the fake upstream reads it: ≥ 1024 gets the ~4 KB
 * streaming answer, anything less the ~1 KB one.
 */
export const maxTokens = (stream: boolean): number => stream ? 1024 : 256;

/** The conversation as an OpenAI chat request. */
export function chatRequest(stream: boolean): Record<string, unknown> {
  return {
    model: MODEL,
    messages: [{ role: "system", content: SYSTEM }, ...TURNS],
    tools: [{ type: "function", function: TOOL }],
    temperature: 0.7,
    top_p: 0.95,
    max_tokens: maxTokens(stream),
    user: "bench-client-0042",
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}
