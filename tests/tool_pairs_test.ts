// The shared tool-call pairing repair (src/pipeline/tool_pairs.ts) on canonical messages, as the
// Anthropic and Gemini front ends use it; their own tests check it through their translations.
import assert from "node:assert/strict";
import { INTERRUPTED, repairToolPairs } from "../src/pipeline/tool_pairs.ts";

const call = (id: string) => ({
  id,
  type: "function",
  function: { name: "Write", arguments: "{}" },
});

Deno.test("tool pairs: a call without a result gets an 'interrupted' result with its turn", () => {
  const out = repairToolPairs([
    { role: "assistant", content: null, tool_calls: [call("a"), call("b")] },
    { role: "tool", tool_call_id: "b", content: "B" },
    { role: "user", content: "next" },
  ]);
  assert.deepEqual(out.slice(1), [
    { role: "tool", tool_call_id: "b", content: "B" },
    { role: "tool", tool_call_id: "a", content: INTERRUPTED },
    { role: "user", content: "next" },
  ]);
});

Deno.test("tool pairs: a result without its call becomes user text after the turn's results", () => {
  const out = repairToolPairs([
    { role: "user", content: "q" },
    { role: "tool", tool_call_id: "ghost", content: "boo" },
    { role: "assistant", content: null, tool_calls: [call("a")] },
    { role: "tool", tool_call_id: "zzz", content: "late" },
    { role: "tool", tool_call_id: "a", content: "A" },
  ]);
  assert.deepEqual(out, [
    { role: "user", content: "q" },
    { role: "user", content: "[Result of tool call ghost]\nboo" },
    { role: "assistant", content: null, tool_calls: [call("a")] },
    { role: "tool", tool_call_id: "a", content: "A" },
    { role: "user", content: "[Result of tool call zzz]\nlate" },
  ]);
});

Deno.test("tool pairs: a conversation ending on an unanswered call is closed", () => {
  const out = repairToolPairs([{ role: "assistant", content: null, tool_calls: [call("a")] }]);
  assert.deepEqual(out[1], { role: "tool", tool_call_id: "a", content: INTERRUPTED });
});

Deno.test("tool pairs: a front end's own text answers the unanswered calls", () => {
  const out = repairToolPairs([
    { role: "assistant", content: null, tool_calls: [call("a")] },
    { role: "user", content: "next" },
  ], "no result");
  assert.deepEqual(out[1], { role: "tool", tool_call_id: "a", content: "no result" });
});

Deno.test("tool pairs: paired messages come back as they were", () => {
  const messages = [
    { role: "system", content: "s" },
    { role: "user", content: "q" },
    { role: "assistant", content: null, tool_calls: [call("a"), call("b")] },
    { role: "tool", tool_call_id: "b", content: "B" },
    { role: "tool", tool_call_id: "a", content: "A" },
    { role: "assistant", content: "done" },
  ];
  assert.deepEqual(repairToolPairs(messages), messages);
});
