// End to end with the official `@anthropic-ai/sdk` (pinned in deno.json) as the client: the proxy
// in front of a fake InternLM (answers whole, so streams are synthesized) or a fake streaming
// OpenAI-compatible server (live chunks relayed). Errors arrive as the SDK's own error classes.
import Anthropic from "@anthropic-ai/sdk";
import assert from "node:assert/strict";
import {
  completion,
  FakeUpstream,
  openaiError,
  rateLimited,
  type Responder,
} from "./fake_upstream.ts";
import { slowly, sseEvents } from "./fake_stream.ts";
import { eventually, type TestProxy, withProxy, withStreamingUpstream } from "./proxy.ts";

const MODEL = "internlm/internlm2.5-latest";

function client(proxy: TestProxy, options: Record<string, unknown> = {}): Anthropic {
  return new Anthropic({
    baseURL: proxy.origin,
    apiKey: "sk-ant-client",
    maxRetries: 0,
    ...options,
  });
}

/** A one-line question, the most a test of errors or headers needs. */
function sayHi(anthropic: Anthropic, maxTokens = 10): Promise<Anthropic.Message> {
  return anthropic.messages.create({
    model: MODEL,
    max_tokens: maxTokens,
    messages: [{ role: "user", content: "hi" }],
  });
}

const writeCall = (args: Record<string, unknown>) => ({
  id: "call_w1",
  type: "function" as const,
  function: { name: "Write", arguments: JSON.stringify(args) },
});

const WRITE_TOOL = {
  name: "Write",
  description: "Writes a file",
  input_schema: {
    type: "object" as const,
    properties: { file_path: { type: "string" }, content: { type: "string" } },
    required: ["file_path", "content"],
  },
};

Deno.test("sdk: messages.create → a message; system, stop sequences and headers handled", async () => {
  await withProxy(() => completion("Hello, Anthropic client!"), async ({ up, proxy }) => {
    const message = await client(proxy).messages.create({
      model: MODEL,
      max_tokens: 256,
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      stop_sequences: ["END"],
      messages: [{ role: "user", content: "Hi" }],
    }, { headers: { "anthropic-beta": "prompt-caching-2024-07-31" } });
    assert.match(message.id, /^msg_/);
    assert.equal(message.type, "message");
    assert.deepEqual(message.content, [{ type: "text", text: "Hello, Anthropic client!" }]);
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(message.model, MODEL);
    assert.equal(message.usage.input_tokens, 10);
    assert.ok(message.usage.output_tokens > 0);
    const sent = up.chatRequests()[0];
    assert.deepEqual(sent.body?.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
    ]);
    assert.deepEqual(sent.body?.stop, ["END"]);
    assert.equal(sent.body?.max_tokens, 256);
    for (const header of ["anthropic-version", "anthropic-beta", "x-api-key"]) {
      assert.equal(sent.headers.get(header), null, `${header} is not forwarded`);
    }
    assert.equal(sent.key, "test-key-0", "the proxy's own InternLM key, not the client's");
  });
});

Deno.test("sdk: messages.stream().finalMessage() over a synthesized stream: thinking, text, tool_use, usage", async () => {
  const reply = completion("I will write it.", {
    reasoning_content: "The user wants a file.",
    tool_calls: [writeCall({ file_path: "a.txt", content: "x".repeat(300) })],
    usage: { prompt_tokens: 42, completion_tokens: 17, total_tokens: 59 },
  });
  await withProxy(() => reply, async ({ proxy }) => {
    const stream = client(proxy).messages.stream({
      model: MODEL,
      max_tokens: 1024,
      tools: [WRITE_TOOL],
      messages: [{ role: "user", content: "Write a.txt" }],
    });
    let startTokens = -1;
    let deltas = 0;
    stream.on("streamEvent", (event) => {
      if (event.type === "message_start") startTokens = event.message.usage.input_tokens;
      if (event.type === "content_block_delta") deltas++;
    });
    const message = await stream.finalMessage();
    assert.equal(startTokens, 42, "message_start carries the real input tokens");
    assert.ok(deltas > 10, "the answer came in pieces");
    assert.deepEqual(message.content.map((b) => b.type), ["thinking", "text", "tool_use"]);
    const [thinking, text, tool] = message.content;
    assert.equal(thinking.type === "thinking" && thinking.thinking, "The user wants a file.");
    assert.equal(text.type === "text" && text.text, "I will write it.");
    assert.deepEqual(tool.type === "tool_use" && tool.input, {
      file_path: "a.txt",
      content: "x".repeat(300),
    });
    assert.equal(message.stop_reason, "tool_use");
    assert.deepEqual([message.usage.input_tokens, message.usage.output_tokens], [42, 17]);
  });
});

Deno.test("sdk: tool use round trip: the tool_result goes upstream as a tool message", async () => {
  let turn = 0;
  const responder: Responder = () =>
    turn++ === 0
      ? completion(null, { tool_calls: [writeCall({ file_path: "b.txt", content: "hi" })] })
      : completion("Written.");
  await withProxy(responder, async ({ up, proxy }) => {
    const anthropic = client(proxy);
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Write b.txt" }];
    const first = await anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools: [WRITE_TOOL],
      messages,
    });
    assert.equal(first.stop_reason, "tool_use");
    const use = first.content.find((b) => b.type === "tool_use");
    assert.ok(use && use.type === "tool_use");
    assert.equal(use.name, "Write");
    messages.push({ role: "assistant", content: first.content });
    messages.push({
      role: "user",
      content: [{ type: "tool_result", tool_use_id: use.id, content: "ok, 2 bytes" }],
    });
    const second = await anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools: [WRITE_TOOL],
      tool_choice: { type: "any" },
      messages,
    });
    assert.deepEqual(second.content, [{ type: "text", text: "Written." }]);
    const sent = up.chatRequests()[1].body!;
    assert.deepEqual((sent.messages as unknown[]).slice(1), [
      {
        role: "assistant",
        content: null,
        tool_calls: [writeCall({ file_path: "b.txt", content: "hi" })],
      },
      { role: "tool", tool_call_id: "call_w1", content: "ok, 2 bytes" },
    ]);
    assert.equal(sent.tool_choice, "required");
    assert.deepEqual(
      (sent.tools as Array<{ function: { name: string } }>)[0].function.name,
      "Write",
    );
  });
});

Deno.test("sdk: thinking enabled → InternLM thinking_mode; the thinking comes back as a block", async () => {
  await withProxy(
    () => completion("42.", { reasoning_content: "6 times 7." }),
    async ({ up, proxy }) => {
      const message = await client(proxy).messages.create({
        model: "internlm/intern-s1",
        max_tokens: 2048,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "6*7?" }],
      });
      assert.deepEqual(message.content[0], {
        type: "thinking",
        thinking: "6 times 7.",
        signature: "llm-proxy",
      });
      assert.equal(up.chatRequests()[0].body?.thinking_mode, true);
      await client(proxy).messages.create({
        model: "internlm/intern-s1",
        max_tokens: 10,
        thinking: { type: "disabled" },
        messages: [{ role: "user", content: "6*7?" }],
      });
      assert.equal(up.chatRequests()[1].body?.thinking_mode, false);
    },
  );
});

Deno.test("sdk: images (base64 and url) reach the upstream as image_url parts", async () => {
  await withProxy(() => completion("A red dot."), async ({ up, proxy }) => {
    await client(proxy).messages.create({
      model: "internlm/intern-s1", // reads images (InternLM2.5 does not)
      max_tokens: 50,
      messages: [{
        role: "user",
        content: [
          {
            type: "image",
            source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" },
          },
          { type: "image", source: { type: "url", url: "https://example.test/dot.png" } },
          { type: "text", text: "What is this?" },
        ],
      }],
    });
    assert.deepEqual((up.chatRequests()[0].body?.messages as unknown[])[0], {
      role: "user",
      content: [
        { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
        { type: "image_url", image_url: { url: "https://example.test/dot.png" } },
        { type: "text", text: "What is this?" },
      ],
    });
  });
});

Deno.test("sdk: every key rate-limited → RateLimitError 429 with retry-after", async () => {
  await withProxy(() => rateLimited(7), async ({ proxy }) => {
    const err = await sayHi(client(proxy)).catch((e) => e);
    assert.ok(err instanceof Anthropic.RateLimitError, String(err));
    assert.equal(err.status, 429);
    assert.equal(err.headers?.get("retry-after"), "7");
    assert.equal((err.error as { error: { type: string } }).error.type, "rate_limit_error");
  });
});

Deno.test("sdk: upstream 5xx → 529 overloaded_error (OverloadedError, which clients retry)", async () => {
  await withProxy(() => openaiError(500, "internal boom"), async ({ up, proxy }) => {
    const err = await sayHi(client(proxy)).catch((e) => e);
    assert.ok(err instanceof Anthropic.OverloadedError, String(err));
    assert.equal(err.status, 529);
    assert.equal((err.error as { error: { type: string } }).error.type, "overloaded_error");
    // The SDK retries it by itself when allowed to.
    const retried = await sayHi(client(proxy, { maxRetries: 1 })).catch((e) => e);
    assert.ok(retried instanceof Anthropic.OverloadedError);
    assert.equal(up.chatRequests().length, 3);
  }, { configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n" });
});

Deno.test("sdk: bad input → BadRequestError 400 invalid_request_error; nothing reaches the upstream", async () => {
  await withProxy(undefined, async ({ up, proxy }) => {
    const anthropic = client(proxy);
    const cases: unknown[] = [
      { model: MODEL, max_tokens: 10, messages: [] },
      { model: MODEL, max_tokens: "ten", messages: [{ role: "user", content: "hi" }] },
      {
        model: MODEL,
        max_tokens: 10,
        messages: [{ role: "user", content: [{ type: "image", source: {} }] }],
      },
    ];
    for (const body of cases) {
      const err = await anthropic.messages.create(body as Anthropic.MessageCreateParamsNonStreaming)
        .catch((e) => e);
      assert.ok(err instanceof Anthropic.BadRequestError, String(err));
      const inner = err.error as { type: string; error: { type: string; message: string } };
      assert.equal(inner.type, "error");
      assert.equal(inner.error.type, "invalid_request_error");
    }
    const raw = await fetch(`${proxy.origin}/v1/messages`, { method: "POST", body: "{not json" });
    assert.equal(raw.status, 400);
    assert.deepEqual(Object.keys(await raw.json()), ["type", "error"]);
    assert.equal(up.chatRequests().length, 0);
  });
});

Deno.test("sdk: messages.countTokens → an input_tokens estimate, nothing sent upstream", async () => {
  await withProxy(undefined, async ({ up, proxy }) => {
    const anthropic = client(proxy);
    const params = { model: MODEL, messages: [{ role: "user" as const, content: "Hello there!" }] };
    const small = await anthropic.messages.countTokens(params);
    const big = await anthropic.messages.countTokens({
      ...params,
      system: "You are a meticulous assistant. ".repeat(20),
      tools: [WRITE_TOOL],
    });
    assert.ok(small.input_tokens > 5 && small.input_tokens < 20, String(small.input_tokens));
    assert.ok(big.input_tokens > small.input_tokens + 100, `${big.input_tokens}`);
    assert.equal(up.chatRequests().length, 0);
  });
});

Deno.test("sdk: pings while the upstream thinks are skipped by the SDK's stream", async () => {
  await withProxy(() => completion("Late but fine.", { delayMs: 400 }), async ({ proxy }) => {
    const res = await fetch(`${proxy.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        max_tokens: 10,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const text = await res.text();
    assert.ok(text.startsWith('event: ping\ndata: {"type":"ping"}\n\n'), text.slice(0, 80));
    const message = await client(proxy).messages.stream({
      model: MODEL,
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    }).finalMessage();
    assert.deepEqual(message.content, [{ type: "text", text: "Late but fine." }]);
  }, { configText: "streaming:\n  keepalive_interval: 0.05\n" });
});

Deno.test("sdk: hanging up mid-stream cancels the upstream call", async () => {
  await withProxy(() => ({ kind: "hang" }), async ({ up, proxy }) => {
    const stream = client(proxy).messages.stream({
      model: MODEL,
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    // The stream is open (pings flowing) before the client leaves.
    await eventually(() => up.chatRequests().length === 1, "the upstream call started");
    await new Promise((resolve) => setTimeout(resolve, 150));
    stream.abort();
    await stream.done().catch(() => {});
    await up.waitForAbort(0, 5000);
  }, { configText: "streaming:\n  keepalive_interval: 0.05\n" });
});

/** A proxy whose backend `local` is `type: openai` in front of a fake server that streams. */
function withLiveUpstream(
  responder: Responder,
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
): Promise<void> {
  return withStreamingUpstream(responder, ({ up, proxy }) => fn(proxy, up));
}

const LIVE_SCRIPT = {
  reasoning: ["Let me ", "see."],
  content: ["Str", "eam", "ed!"],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
};

function streamHi(proxy: TestProxy) {
  return client(proxy).messages.stream({
    model: "local/served-model",
    max_tokens: 50,
    messages: [{ role: "user", content: "hi" }],
  });
}

Deno.test("sdk: a live upstream stream is relayed as Anthropic events (usage at the end)", async () => {
  await withLiveUpstream(
    () => ({ kind: "sse", parts: slowly(sseEvents(LIVE_SCRIPT), 5) }),
    async (proxy, up) => {
      const message = await streamHi(proxy).finalMessage();
      assert.deepEqual(message.content, [
        { type: "thinking", thinking: "Let me see.", signature: "llm-proxy" },
        { type: "text", text: "Streamed!" },
      ]);
      assert.equal(message.stop_reason, "end_turn");
      assert.deepEqual([message.usage.input_tokens, message.usage.output_tokens], [12, 5]);
      assert.equal(up.chatRequests()[0].body?.stream, true);
      assert.deepEqual(up.chatRequests()[0].body?.stream_options, { include_usage: true });
    },
  );
});

Deno.test("sdk: a live stream breaking off after the start → event: error, raised by the SDK", async () => {
  const parts = sseEvents({ ...LIVE_SCRIPT, done: false }).slice(0, 4);
  await withLiveUpstream(() => ({ kind: "sse", parts, fail: true }), async (proxy) => {
    const stream = streamHi(proxy);
    let text = "";
    stream.on("text", (delta) => text += delta);
    const err = await stream.finalMessage().catch((e) => e);
    assert.ok(err instanceof Anthropic.APIError, String(err));
    const body = err.error as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "overloaded_error");
    assert.match(body.error.message, /broke off/);
    assert.equal(text, "Str", "what came before the break was delivered");
  });
});

Deno.test("sdk: client keys work as x-api-key (the SDK's header) and a wrong one is authentication_error", async () => {
  await withProxy(() => completion("hi"), async ({ proxy }) => {
    const ok = await sayHi(client(proxy, { apiKey: "sk-proxy-client" }), 5);
    assert.equal(ok.content.length, 1);
    const err = await sayHi(client(proxy, { apiKey: "wrong" }), 5).catch((e) => e);
    assert.ok(err instanceof Anthropic.AuthenticationError, String(err));
  }, { env: { LLM_PROXY_API_KEYS: "sk-proxy-client" } });
});

Deno.test("sdk: models.list() and models.retrieve() in Anthropic's shape, aliases included", async () => {
  await withProxy(undefined, async ({ proxy }) => {
    const anthropic = client(proxy);
    const models: Anthropic.ModelInfo[] = [];
    for await (const model of anthropic.models.list()) models.push(model);
    assert.deepEqual(models[0], {
      type: "model",
      id: "claude-*",
      display_name: "claude-* → internlm/intern-s1",
      created_at: "1970-01-01T00:00:00.000Z",
    });
    const listed = models.find((m) => m.id === "internlm/internlm2.5-latest");
    assert.equal(listed?.type, "model");
    const mapped = await anthropic.models.retrieve("claude-sonnet-4-5");
    assert.equal(mapped.display_name, "claude-sonnet-4-5 → internlm/intern-s1");
    const err = await anthropic.models.retrieve("gpt-4o").catch((e) => e);
    assert.ok(err instanceof Anthropic.NotFoundError, String(err));
    // Clients of other dialects still get OpenAI's list on the same path.
    const openai = await (await fetch(`${proxy.origin}/v1/models`)).json();
    assert.equal(openai.object, "list");
  }, { configText: 'models:\n  "claude-*": internlm/intern-s1\n' });
});

Deno.test("sdk: server tools and deferred tools are left out, named in the debug log", async () => {
  await withProxy(() => completion("ok"), async ({ up, proxy }) => {
    await client(proxy).messages.create({
      model: MODEL,
      max_tokens: 10,
      tools: [
        WRITE_TOOL,
        { type: "web_search_20250305", name: "web_search" },
        { ...WRITE_TOOL, name: "Later", defer_loading: true },
      ],
      messages: [{ role: "user", content: "hi" }],
    });
    const tools = up.chatRequests()[0].body?.tools as Array<{ function: { name: string } }>;
    assert.deepEqual(tools.map((t) => t.function.name), ["Write"]);
    const line = proxy.logs.find((l) => l.includes("anthropic: left out"));
    assert.ok(line?.includes("DEBUG"), String(line));
    assert.match(line!, /tool web_search \(web_search_20250305\), tool Later \(deferred\)/);
  });
});
