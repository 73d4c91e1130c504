// The shared input-token estimate (src/pipeline/token_count.ts): a real BPE count of what reaches
// the model, framing included, for any dialect's count endpoint.
import assert from "node:assert/strict";
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import { countChatTokens, IMAGE_TOKENS } from "../src/pipeline/token_count.ts";

const user = (content: unknown) => ({ role: "user", content });

Deno.test("token count: one message is its BPE tokens plus the template's framing", async () => {
  const text = "The quick brown fox jumps over the lazy dog. 今天天气很好，我们去公园散步吧。";
  const one = await countChatTokens({ messages: [user(text)] });
  // 4 framing tokens per message, 3 to open the reply, and the role name.
  assert.equal(one, countTokens(text) + countTokens("user") + 4 + 3);
  assert.notEqual(one, Math.ceil(text.length / 4) + 7, "a BPE count, not characters / 4");
});

Deno.test("token count: grows with text, tool calls, tool results and tool definitions", async () => {
  const base = await countChatTokens({ messages: [user("hi")] });
  const longer = await countChatTokens({ messages: [user("hi ".repeat(100))] });
  assert.ok(longer > base + 90);
  const withCall = await countChatTokens({
    messages: [user("hi"), {
      role: "assistant",
      content: null,
      tool_calls: [{
        id: "a",
        type: "function",
        function: { name: "Write", arguments: '{"path":"a.txt"}' },
      }],
    }, { role: "tool", tool_call_id: "a", content: "written" }],
  });
  assert.ok(withCall > base + 10, `${withCall} vs ${base}`);
  const tool = {
    type: "function",
    function: {
      name: "Write",
      parameters: { type: "object", properties: { path: { type: "string" } } },
    },
  };
  const withTools = await countChatTokens({ messages: [user("hi")], tools: [tool] });
  assert.ok(withTools > base + 15, `${withTools} vs ${base}`);
});

Deno.test("token count: an image is a flat estimate; text parts are counted as text", async () => {
  const parts = await countChatTokens({
    messages: [
      user([{ type: "text", text: "look" }, {
        type: "image_url",
        image_url: { url: "data:image/png;base64,AAAA" },
      }]),
    ],
  });
  const text = await countChatTokens({ messages: [user("look")] });
  assert.equal(parts - text, IMAGE_TOKENS);
});

Deno.test("token count: text spelling a special token is counted, not refused", async () => {
  const n = await countChatTokens({ messages: [user("<|endoftext|><|im_start|>")] });
  assert.ok(n > 7);
});
