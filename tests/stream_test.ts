// Synthesized SSE streams: chunk order and framing, reassembly through the SDK, keep-alive,
// errors before and after the stream is committed, and client disconnects.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { completion, openaiError, type Reply } from "./fake_upstream.ts";
import {
  chatBody,
  parseSse,
  postChat,
  type StreamChunk,
  type TestProxy,
  withProxy,
} from "./proxy.ts";
import { assertSchema } from "./schema.ts";

/** Streams a request with raw fetch and returns the parsed, schema-checked chunks. */
async function streamChunks(proxy: TestProxy, extra = {}) {
  const res = await postChat(proxy, chatBody({ stream: true, ...extra }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("x-accel-buffering"), "no");
  const text = await res.text();
  const { data } = parseSse(text);
  assert.equal(data.at(-1), "[DONE]");
  assert.equal(data.filter((d) => d === "[DONE]").length, 1);
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as StreamChunk);
  for (const c of chunks) assertSchema("CreateChatCompletionStreamResponse", c);
  return { chunks, text };
}

Deno.test("stream: role, reasoning, content, finish in order; one id/created/model", async () => {
  const content = "The answer is forty-two, and here is a long explanation of why that is so.";
  await withProxy(
    () => completion(content, { reasoning_content: "Let me think about this carefully." }),
    async ({ up, proxy }) => {
      const { chunks } = await streamChunks(proxy);
      assert.equal(up.chatRequests()[0].body?.stream, false);
      const kinds = chunks.map((c) => {
        const d = c.choices[0].delta;
        if (d.role) return "role";
        if (d.reasoning_content) return "reasoning";
        if (d.content) return "content";
        return c.choices[0].finish_reason ? "finish" : "other";
      });
      const order = kinds.filter((k, i) => k !== kinds[i - 1]);
      assert.deepEqual(order, ["role", "reasoning", "content", "finish"]);
      assert.ok(kinds.filter((k) => k === "content").length > 1, "content is cut into pieces");
      assert.equal(new Set(chunks.map((c) => `${c.id}|${c.created}|${c.model}`)).size, 1);
      assert.equal(chunks[0].model, "internlm/internlm2.5-latest");
      const text = chunks.map((c) => c.choices[0].delta.content ?? "").join("");
      assert.equal(text, content);
      assert.equal(chunks.at(-1)!.choices[0].finish_reason, "stop");
      assert.deepEqual(chunks.at(-1)!.choices[0].delta, {});
    },
  );
});

Deno.test("stream: the SDK reassembles content and reasoning exactly, emoji included", async () => {
  const content = "Emoji 😀😃😄😁 and CJK 你好世界, plus combining é and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢. ".repeat(5);
  await withProxy(
    () => completion(`<think>思考 🤔 ${"deep ".repeat(20)}</think>${content}`),
    async ({ proxy }) => {
      const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "x" });
      const stream = await client.chat.completions.create({
        model: "internlm/internlm2.5-latest",
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      });
      let text = "";
      let reasoning = "";
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string };
        for (const piece of [delta?.content, delta?.reasoning_content]) {
          // A lone surrogate would mean a piece was cut inside a code point.
          if (piece) assert.ok(piece.isWellFormed(), `ill-formed piece ${JSON.stringify(piece)}`);
        }
        text += delta?.content ?? "";
        reasoning += delta?.reasoning_content ?? "";
      }
      assert.equal(text, content);
      assert.equal(reasoning, `思考 🤔 ${"deep ".repeat(20)}`.trim());
    },
  );
});

Deno.test("stream: tool_calls deltas carry index, id, type, name, then arguments", async () => {
  const calls = [
    { id: "call_a", type: "function" as const, function: { name: "a", arguments: '{"x":1}' } },
    {
      id: "call_b",
      type: "function" as const,
      function: { name: "b", arguments: JSON.stringify({ long: "y".repeat(100) }) },
    },
  ];
  await withProxy(() => completion(null, { tool_calls: calls }), async ({ proxy }) => {
    const { chunks } = await streamChunks(proxy);
    const deltas = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    for (const [i, call] of calls.entries()) {
      const mine = deltas.filter((d) => d.index === i);
      assert.deepEqual(mine[0], {
        index: i,
        id: call.id,
        type: "function",
        function: { name: call.function.name, arguments: "" },
      });
      assert.equal(mine.map((d) => d.function.arguments).join(""), call.function.arguments);
    }
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, "tool_calls");

    // The SDK's own stream helper assembles the same calls.
    const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "x" });
    const runner = client.chat.completions.stream({
      model: "internlm/internlm2.5-latest",
      messages: [{ role: "user", content: "weather?" }],
    });
    const final = await runner.finalChatCompletion();
    assert.deepEqual(
      final.choices[0].message.tool_calls?.map((t) =>
        t.type === "function" ? [t.id, t.function.name, t.function.arguments] : []
      ),
      calls.map((c) => [c.id, c.function.name, c.function.arguments]),
    );
  });
});

Deno.test("stream: n > 1 keeps each choice's index; include_usage adds a usage chunk", async () => {
  await withProxy(() => completion("hello", { n: 2 }), async ({ proxy }) => {
    const { chunks } = await streamChunks(proxy, {
      n: 2,
      stream_options: { include_usage: true },
    });
    const byIndex = (i: number) =>
      chunks.filter((c) => c.choices[0]?.index === i).map((c) => c.choices[0].delta.content ?? "")
        .join("");
    assert.equal(byIndex(0), "hello");
    assert.equal(byIndex(1), "hello #1");
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage, "usage chunk present");
    // With include_usage, every other chunk carries usage: null (as OpenAI does).
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });
});

Deno.test("stream: an upstream error before keep-alive is a plain JSON error with its status", async () => {
  await withProxy(() => openaiError(400, "bad temperature"), async ({ proxy }) => {
    const res = await postChat(proxy, chatBody({ stream: true }));
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("content-type"), "application/json");
    const body = await res.json();
    assertSchema("ErrorResponse", body);
    assert.equal(body.error.message, "bad temperature");
  });
});

const slow = (ms: number, reply: Reply): () => Promise<Reply> => () =>
  new Promise((resolve) => setTimeout(() => resolve(reply), ms));

Deno.test("stream: slow upstream → 200 with keep-alive comments, then the answer", async () => {
  await withProxy(
    slow(700, completion("finally")),
    async ({ proxy }) => {
      const { chunks, text } = await streamChunks(proxy);
      assert.ok(parseSse(text).comments.length >= 2, "keep-alives were sent while waiting");
      assert.ok(text.startsWith(": keep-alive\n\n"));
      assert.equal(chunks.map((c) => c.choices[0].delta.content ?? "").join(""), "finally");
    },
    { configText: "streaming:\n  keepalive_interval: 0.2\n" },
  );
});

Deno.test("stream: failure after keep-alive becomes an error event, then the stream closes", async () => {
  await withProxy(
    slow(500, openaiError(500, "upstream exploded")),
    async ({ proxy }) => {
      const res = await postChat(proxy, chatBody({ stream: true }));
      assert.equal(res.status, 200);
      const { data, comments } = parseSse(await res.text());
      assert.ok(comments.length >= 1);
      assert.equal(data.length, 1, "one error event and no [DONE]");
      const event = JSON.parse(data[0]);
      assertSchema("ErrorResponse", event);
      assert.match(event.error.message, /upstream exploded/);
    },
    {
      configText: "streaming:\n  keepalive_interval: 0.2\n" +
        "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n",
    },
  );
});

Deno.test("stream: the SDK surfaces a post-commit error event as an APIError", async () => {
  await withProxy(
    slow(400, openaiError(500, "late failure")),
    async ({ proxy }) => {
      const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "x", maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: "internlm/internlm2.5-latest",
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      });
      await assert.rejects(async () => {
        for await (const _ of stream) { /* drain */ }
      }, /late failure/);
    },
    {
      configText: "streaming:\n  keepalive_interval: 0.1\n" +
        "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n",
    },
  );
});

Deno.test("disconnect before the upstream answers aborts the upstream call", async () => {
  await withProxy(() => ({ kind: "hang" }), async ({ up, proxy }) => {
    const client = new AbortController();
    const pending = postChat(proxy, chatBody()).catch(() => "aborted");
    const req = fetch(`${proxy.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chatBody()),
      signal: client.signal,
    }).catch(() => "aborted");
    // Wait until both calls reached the upstream, then hang up on the second one only.
    while (up.chatRequests().length < 2) await new Promise((r) => setTimeout(r, 5));
    client.abort();
    assert.equal(await req, "aborted");
    const ms = await up.waitForAbort(1, 2000);
    assert.ok(ms < 100, `upstream saw the abort after ${ms} ms`);
    assert.equal(up.chatRequests()[0].aborted, false, "the other client's call is untouched");
    await up.close(); // ends the first hang
    await pending;
  });
});

Deno.test("disconnect mid-stream (during keep-alive) aborts the upstream call", async () => {
  await withProxy(
    () => ({ kind: "hang" }),
    async ({ up, proxy }) => {
      const res = await postChat(proxy, chatBody({ stream: true }));
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value), ": keep-alive\n\n");
      await reader.cancel();
      const ms = await up.waitForAbort(0, 2000);
      assert.ok(ms < 100, `upstream saw the abort after ${ms} ms`);
    },
    { configText: "streaming:\n  keepalive_interval: 0.1\n" },
  );
});
