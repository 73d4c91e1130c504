/**
 * Makes every tool call answered and every tool result called for, in canonical messages, since
 * OpenAI-style upstreams refuse either unpaired. Clients send unpaired ones after an interrupted
 * turn: Anthropic clients (Claude Code does when a tool was cancelled, or a conversation was cut
 * for context), and Gemini clients that send no `functionResponse` for a call.
 *
 * - A call with no result after it gets a `tool` message saying so, placed with the other
 *   results of its turn (also when the conversation ends on the call).
 * - A result whose call is not in the assistant turn before it becomes user text, after the turn's
 *   results, so that what the tool said is not lost.
 *
 * @module
 */

type ChatMessage = Record<string, unknown>;

/**
 * What an unanswered call is answered with, unless the front end gives its own text.
 *
 * @example
 * ```ts
 * repairToolPairs([{ role: "assistant", content: null, tool_calls: [call] }])[1];
 * // { role: "tool", tool_call_id: call.id, content: INTERRUPTED }
 * ```
 */
export const INTERRUPTED = "The tool call was interrupted; it returned no result.";

/**
 * The messages with every call answered (by `unanswered` where no result came) and every result
 * following its call; messages already paired are returned as they were.
 *
 * @example
 * ```ts
 * repairToolPairs([
 *   { role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function }] },
 *   { role: "user", content: "go on" },
 * ]); // a `tool` message for "a" is inserted before the user message
 * ```
 */
export function repairToolPairs(
  messages: ChatMessage[],
  unanswered: string = INTERRUPTED,
): ChatMessage[] {
  const out: ChatMessage[] = [];
  let pending: string[] = [];
  let orphans: string[] = [];
  const closeTurn = () => {
    for (const id of pending) out.push({ role: "tool", tool_call_id: id, content: unanswered });
    if (orphans.length > 0) out.push({ role: "user", content: orphans.join("\n\n") });
    pending = [];
    orphans = [];
  };
  for (const message of messages) {
    if (message.role === "tool") {
      const id = String(message.tool_call_id);
      const at = pending.indexOf(id);
      if (at >= 0) {
        pending.splice(at, 1);
        out.push(message);
      } else {
        orphans.push(`[Result of tool call ${id}]\n${message.content}`);
      }
      continue;
    }
    closeTurn();
    if (message.role === "assistant" && Array.isArray(message.tool_calls)) {
      pending = message.tool_calls.map((call) => String((call as ChatMessage).id));
    }
    out.push(message);
  }
  closeTurn();
  return out;
}
