// Non-streaming chat completions through the official OpenAI SDK: what reaches the upstream and
// what reaches the client, validated against OpenAI's schemas.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { completion, FakeUpstream, type Reply } from "./fake_upstream.ts";
import { chatBody, postChat, startProxy, withProxy as withUpstreamAndProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

/** The shared fixture, handing the test an SDK client instead of the proxy. */
function withProxy(
  responder: () => Reply,
  fn: (client: OpenAI, up: FakeUpstream, origin: string) => Promise<void>,
) {
  return withUpstreamAndProxy(
    responder,
    ({ up, proxy }) =>
      fn(new OpenAI({ baseURL: proxy.baseUrl, apiKey: "client-key" }), up, proxy.origin),
  );
}

const user = [{ role: "user" as const, content: "Hello!" }];

Deno.test("completion via the SDK: schema-valid, model prefixed, upstream called non-streaming", async () => {
  await withProxy(() => completion("Hi there"), async (client, up) => {
    const res = await client.chat.completions.create({
      model: "internlm/internlm2.5-latest",
      messages: user,
    });
    assertSchema("CreateChatCompletionResponse", res);
    assert.equal(res.choices[0].message.content, "Hi there");
    assert.equal(res.model, "internlm/internlm2.5-latest");
    const sent = up.chatRequests()[0];
    assert.equal(sent.body?.model, "internlm2.5-latest");
    assert.equal(sent.body?.stream, false);
    // InternLM2.5 does not take thinking_mode: it is not sent.
    assert.equal(sent.body?.thinking_mode, undefined);
    assert.equal(sent.key, "test-key-0");
    assert.notEqual(sent.headers.get("authorization"), "Bearer client-key");
  });
});

Deno.test("a bare upstream message (no refusal/logprobs/index) is completed to OpenAI's shape", async () => {
  const bare: Reply = {
    kind: "json",
    body: {
      id: "x1",
      object: "chat.completion",
      created: 1,
      model: "internlm2.5-latest",
      choices: [{ message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    },
  };
  await withProxy(() => bare, async (_client, _up, origin) => {
    const res = await fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chatBody()),
    });
    const body = await res.json();
    assert.equal(res.status, 200);
    assertSchema("CreateChatCompletionResponse", body);
    assert.equal(body.choices[0].index, 0);
  });
});

for (
  const [name, reply, reasoning, content] of [
    ["reasoning_content field", completion("42", { reasoning_content: "think" }), "think", "42"],
    ["reasoning field", completion("42", { reasoning: "pondering" }), "pondering", "42"],
    ["<think> block", completion("<think>\nstep 1\n</think>\n\n42"), "step 1", "42"],
    ["unclosed <think> block", completion("<think>cut off"), "cut off", ""],
  ] as const
) {
  Deno.test(`reasoning from a ${name} reaches the client as reasoning_content`, async () => {
    await withProxy(() => reply, async (_client, _up, origin) => {
      const res = await fetch(`${origin}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify(chatBody()),
      });
      const body = await res.json();
      assertSchema("CreateChatCompletionResponse", body);
      assert.equal(body.choices[0].message.reasoning_content, reasoning);
      assert.equal(body.choices[0].message.content, content);
      assert.equal(body.choices[0].message.reasoning, undefined);
    });
  });
}

Deno.test("thinking_mode: config default, request override, reasoning_effort mapping", async () => {
  await withProxy(() => completion("ok"), async (_client, up, origin) => {
    const model = "internlm/intern-s1";
    const cases: Array<[Record<string, unknown>, boolean]> = [
      [{}, true],
      [{ thinking_mode: false }, false],
      [{ reasoning_effort: "none" }, false],
      [{ reasoning_effort: "minimal" }, false],
      [{ reasoning_effort: "high" }, true],
      [{ thinking_mode: true, reasoning_effort: "none" }, true],
    ];
    for (const [extra] of cases) {
      const res = await fetch(`${origin}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify(chatBody({ model, ...extra })),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const sent = up.chatRequests().map((r) => r.body);
    cases.forEach(([extra, expected], i) => {
      assert.equal(sent[i]?.thinking_mode, expected, JSON.stringify(extra));
      assert.equal(sent[i]?.reasoning_effort, undefined);
    });
  });
});

Deno.test("thinking_mode: sent only to the models that take it (the Intern-S1 family)", async () => {
  await withProxy(() => completion("ok"), async (_client, up, origin) => {
    const table: Array<[string, boolean]> = [
      ["intern-latest", true],
      ["intern-s1-pro", true],
      ["intern-s1", true],
      ["intern-s1-mini", true],
      ["internvl3.5-latest", false],
      ["internvl3.5-241b-a28b", false],
      ["internlm3-latest", false],
      ["internlm2.5-latest", false],
    ];
    for (const [model] of table) {
      const body = chatBody({ model: `internlm/${model}`, reasoning_effort: "high" });
      const res = await fetch(`${origin}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const sent = up.chatRequests().map((r) => r.body);
    table.forEach(([model, takes], i) => {
      assert.equal(sent[i]?.model, model);
      assert.equal(sent[i]?.thinking_mode, takes ? true : undefined, model);
      assert.equal(sent[i]?.reasoning_effort, undefined, model);
    });
  });
});

Deno.test("thinking_mode: false in config is sent when the request is silent", async () => {
  const up = await FakeUpstream.start(() => completion("ok"));
  const proxy = await startProxy({
    upstream: up.baseUrl,
    configText: "backends:\n  internlm:\n    type: internlm\n    thinking_mode: false\n",
  });
  try {
    const res = await postChat(proxy, chatBody({ model: "internlm/intern-s1-mini" }));
    await res.body?.cancel();
    assert.equal(up.chatRequests()[0].body?.thinking_mode, false);
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("tools go upstream and tool_calls come back through the SDK", async () => {
  const calls = [{
    id: "call_1",
    type: "function" as const,
    function: { name: "get_weather", arguments: '{"city":"Paris"}' },
  }];
  await withProxy(() => completion(null, { tool_calls: calls }), async (client, up) => {
    const tools = [{
      type: "function" as const,
      function: {
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      },
    }];
    const res = await client.chat.completions.create({
      model: "internlm/internlm2.5-latest",
      messages: user,
      tools,
    });
    assertSchema("CreateChatCompletionResponse", res);
    assert.deepEqual(res.choices[0].message.tool_calls, calls);
    assert.equal(res.choices[0].finish_reason, "tool_calls");
    assert.deepEqual(up.chatRequests()[0].body?.tools, tools);
  });
});

Deno.test("the path without /v1 works too", async () => {
  await withProxy(() => completion("short path"), async (_client, _up, origin) => {
    const res = await fetch(`${origin}/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chatBody()),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, "short path");
  });
});

Deno.test("stream_options is dropped and unknown fields pass through", async () => {
  await withProxy(() => completion("ok"), async (_client, up, origin) => {
    const res = await fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chatBody({ stream_options: { include_usage: true }, top_k: 5 })),
    });
    await res.body?.cancel();
    const sent = up.chatRequests()[0].body!;
    assert.equal("stream_options" in sent, false);
    assert.equal(sent.top_k, 5);
  });
});
