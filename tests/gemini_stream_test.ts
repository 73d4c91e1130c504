// Gemini's streamGenerateContent: the stream writer rule by rule (events, the last event with
// function calls, finish reason and usage, both framings, keep-alives, errors), then end to end
// with @google/genai's generateContentStream: synthesized from InternLM and relayed live from an
// OpenAI-compatible upstream, keep-alives while the upstream thinks, an error after the start,
// and a hang-up cancelling the upstream.
import assert from "node:assert/strict";
import { ApiError as GenAIError, GoogleGenAI } from "@google/genai";
import { ApiError } from "../src/canonical/errors.ts";
import type { ChatCompletionChunk } from "../src/canonical/types.ts";
import { geminiStreamWriter } from "../src/frontends/gemini/stream_writer.ts";
import { completionOf } from "./completion_fixture.ts";
import { slowly, sseEvents } from "./fake_stream.ts";
import { completion, FakeUpstream, openaiError } from "./fake_upstream.ts";
import { WRITE_FILE } from "./gemini.ts";
import { eventually, startProxy, type TestProxy, withProxy } from "./proxy.ts";

const MODEL = "internlm/intern-s1";

function client(proxy: TestProxy): GoogleGenAI {
  return new GoogleGenAI({ apiKey: "unused", httpOptions: { baseUrl: proxy.origin } });
}

const chunk = (
  delta: ChatCompletionChunk["choices"][number]["delta"],
  finish: string | null = null,
  index = 0,
): ChatCompletionChunk => ({
  id: "chatcmpl-s",
  object: "chat.completion.chunk",
  created: 1,
  model: "local/m",
  choices: [{ index, delta, finish_reason: finish }],
});

/** The JSON of each `data:` event of an SSE text. */
function sseJson(text: string): Record<string, unknown>[] {
  return text.split("\r\n\r\n").filter((e) => e.startsWith("data: ")).map((e) =>
    JSON.parse(e.slice(6))
  );
}

// ---- the writer, rule by rule ----

const CHUNK_RULES: Array<[string, ChatCompletionChunk, boolean, unknown]> = [
  ["a content delta is a text part", chunk({ content: "Hi" }), false, [{
    content: { role: "model", parts: [{ text: "Hi" }] },
    index: 0,
  }]],
  ["a reasoning delta is a thought part when asked for", chunk({ reasoning_content: "hm" }), true, [
    {
      content: { role: "model", parts: [{ text: "hm", thought: true }] },
      index: 0,
    },
  ]],
  ["a reasoning delta is nothing otherwise", chunk({ reasoning_content: "hm" }), false, undefined],
  ["a role-only delta is nothing", chunk({ role: "assistant", content: "" }), false, undefined],
  [
    "a tool-call delta waits for the end",
    chunk({
      tool_calls: [{ index: 0, id: "c", function: { name: "f", arguments: "{" } }],
    }),
    false,
    undefined,
  ],
  ["the finish waits for the end", chunk({}, "stop"), false, undefined],
];

for (const [rule, input, thoughts, candidates] of CHUNK_RULES) {
  Deno.test(`gemini stream writer: ${rule}`, () => {
    const writer = geminiStreamWriter({ sse: true, includeThoughts: thoughts, pieceSize: 32 });
    const text = writer.chunk(input);
    if (candidates === undefined) return assert.equal(text, "");
    assert.deepEqual(sseJson(text), [{
      candidates,
      modelVersion: "local/m",
      responseId: "chatcmpl-s",
    }]);
  });
}

Deno.test("gemini stream writer: the last event has the calls (args joined), finish and usage", () => {
  const writer = geminiStreamWriter({ sse: true, includeThoughts: false, pieceSize: 32 });
  writer.chunk(chunk({ content: "Writing." }));
  writer.chunk(
    chunk({
      tool_calls: [{ index: 0, id: "c1", function: { name: "write_file", arguments: '{"file_' } }],
    }),
  );
  writer.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: 'path":"a"}' } }] }));
  writer.chunk(
    chunk({ tool_calls: [{ index: 1, id: "c2", function: { name: "list", arguments: "" } }] }),
  );
  writer.chunk(chunk({}, "tool_calls"));
  writer.chunk({
    ...chunk({}),
    choices: [],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  });
  assert.deepEqual(sseJson(writer.end()), [{
    candidates: [{
      content: {
        role: "model",
        parts: [
          { functionCall: { id: "c1", name: "write_file", args: { file_path: "a" } } },
          { functionCall: { id: "c2", name: "list", args: {} } },
        ],
      },
      finishReason: "STOP",
      index: 0,
    }],
    modelVersion: "local/m",
    responseId: "chatcmpl-s",
    usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7 },
  }]);
});

Deno.test("gemini stream writer: a stream that just ends still says STOP; length is MAX_TOKENS", () => {
  const ended = geminiStreamWriter({ sse: true, includeThoughts: false, pieceSize: 32 });
  ended.chunk(chunk({ content: "x" }));
  assert.equal(
    (sseJson(ended.end())[0].candidates as { finishReason: string }[])[0].finishReason,
    "STOP",
  );
  const cut = geminiStreamWriter({ sse: true, includeThoughts: false, pieceSize: 32 });
  cut.chunk(chunk({ content: "x" }, "length"));
  assert.equal(
    (sseJson(cut.end())[0].candidates as { finishReason: string }[])[0].finishReason,
    "MAX_TOKENS",
  );
});

Deno.test("gemini stream writer: without alt=sse the events are one JSON array", () => {
  const writer = geminiStreamWriter({ sse: false, includeThoughts: false, pieceSize: 32 });
  assert.equal(writer.headers["content-type"], "application/json");
  const text = writer.keepAlive() + writer.chunk(chunk({ content: "a" })) +
    writer.chunk(chunk({ content: "b" })) + writer.end();
  const events = JSON.parse(text) as Array<
    { candidates: Array<{ content: { parts: unknown[] } }> }
  >;
  assert.equal(events.length, 3);
  assert.deepEqual(events.map((e) => e.candidates[0].content.parts), [[{ text: "a" }], [{
    text: "b",
  }], []]);
});

Deno.test("gemini stream writer: keep-alives are whitespace; an error is Google's raw error JSON", () => {
  const sse = geminiStreamWriter({ sse: true, includeThoughts: false, pieceSize: 32 });
  assert.equal(sse.keepAlive().trim(), "");
  assert.equal(sse.comment(" ping").trim(), "");
  const error = new ApiError(503, "shutting down");
  assert.deepEqual(JSON.parse(sse.error(error)), {
    error: { code: 503, message: "shutting down", status: "UNAVAILABLE" },
  });
  const array = geminiStreamWriter({ sse: false, includeThoughts: false, pieceSize: 32 });
  assert.deepEqual(JSON.parse(array.error(error)), [{
    error: { code: 503, message: "shutting down", status: "UNAVAILABLE" },
  }]);
  const started = geminiStreamWriter({ sse: false, includeThoughts: false, pieceSize: 32 });
  const text = started.chunk(chunk({ content: "a" })) + started.error(error);
  assert.equal((JSON.parse(text) as unknown[]).length, 2);
});

Deno.test("gemini stream writer: a whole answer cut up says what chunk by chunk would", () => {
  const completion = completionOf({
    content: "The answer is a longish sentence 😀 with an emoji.",
    reasoning_content: "Thinking it through.",
    tool_calls: [{ id: "t", type: "function", function: { name: "f", arguments: '{"x":1}' } }],
  }, "tool_calls");
  const writer = geminiStreamWriter({ sse: true, includeThoughts: true, pieceSize: 8 });
  const out: string[] = [];
  writer.completionParts!(completion, out);
  const events = sseJson(out.join("") + writer.end());
  type Event = {
    candidates: Array<
      { content: { parts: Array<Record<string, unknown>> }; finishReason?: string }
    >;
  };
  const parts = (events as Event[]).flatMap((e) => e.candidates[0].content.parts);
  assert.equal(parts.filter((p) => p.thought).map((p) => p.text).join(""), "Thinking it through.");
  assert.equal(
    parts.filter((p) => !p.thought && p.text).map((p) => p.text).join(""),
    completion.choices[0].message.content,
  );
  assert.deepEqual(parts.filter((p) => p.functionCall), [{
    functionCall: { id: "t", name: "f", args: { x: 1 } },
  }]);
  const last = events.at(-1) as Event & { usageMetadata: unknown };
  assert.equal(last.candidates[0].finishReason, "STOP");
  assert.deepEqual(last.usageMetadata, {
    promptTokenCount: 30,
    candidatesTokenCount: 4,
    thoughtsTokenCount: 3,
    cachedContentTokenCount: 10,
    totalTokenCount: 37,
  });
  assert.ok(events.length > 8, "the text went out in pieces");
});

Deno.test("gemini stream writer: a whole answer without alt=sse is the same events, as an array", () => {
  const completion = completionOf({
    content: 'A "quoted" answer 😀\nwith a line break, long enough for pieces.',
    reasoning_content: "Hm, plain.",
  }, "stop");
  const write = (sse: boolean) => {
    const writer = geminiStreamWriter({ sse, includeThoughts: true, pieceSize: 8 });
    // A keep-alive before the array's first element is whitespace before the "[".
    const out = sse ? [] : [writer.keepAlive()];
    writer.completionParts!(structuredClone(completion), out);
    return out.join("") + writer.end();
  };
  const array = JSON.parse(write(false)) as unknown[];
  assert.deepEqual(array, sseJson(write(true)));
  assert.ok(array.length > 8, "the text went out in pieces");
});

// ---- end to end ----

Deno.test("genai generateContentStream: a synthesized answer, the last chunk with finish and usage", async () => {
  const text = "Streaming through the Gemini front end, piece by piece.";
  await withProxy(() => completion(text, { reasoning_content: "Plan." }), async ({ proxy, up }) => {
    const chunks = [];
    for await (
      const c of await client(proxy).models.generateContentStream({
        model: MODEL,
        contents: "Stream please",
        config: { thinkingConfig: { includeThoughts: true } },
      })
    ) chunks.push(c);
    assert.ok(chunks.length > 2);
    const parts = chunks.flatMap((c) => c.candidates?.[0].content?.parts ?? []);
    assert.equal(parts.filter((p) => p.thought).map((p) => p.text).join(""), "Plan.");
    assert.equal(chunks.map((c) => c.text ?? "").join(""), text);
    const last = chunks.at(-1)!;
    assert.equal(last.candidates?.[0].finishReason, "STOP");
    assert.equal(last.usageMetadata?.totalTokenCount, 10 + Math.ceil(text.length / 4));
    assert.equal(up.chatRequests()[0].body?.stream, false, "InternLM is called without streaming");
    assert.ok(
      proxy.logs.some((l) =>
        l.includes(":streamGenerateContent 200") && l.includes("stream=synthesized")
      ),
    );
  });
});

Deno.test("genai generateContentStream: a function call arrives whole in the last chunk", async () => {
  await withProxy(() =>
    completion(null, {
      tool_calls: [{
        id: "call_s1",
        type: "function",
        function: {
          name: "write_file",
          arguments: JSON.stringify({ file_path: "a.txt", content: "A".repeat(200) }),
        },
      }],
    }), async ({ proxy }) => {
    const calls = [];
    let finish;
    for await (
      const c of await client(proxy).models.generateContentStream({
        model: MODEL,
        contents: "Write a.txt",
        config: { tools: [{ functionDeclarations: [WRITE_FILE] }] },
      })
    ) {
      calls.push(...(c.functionCalls ?? []));
      finish = c.candidates?.[0].finishReason ?? finish;
    }
    assert.deepEqual(calls, [{
      id: "call_s1",
      name: "write_file",
      args: { file_path: "a.txt", content: "A".repeat(200) },
    }]);
    assert.equal(finish, "STOP");
  });
});

Deno.test("genai generateContentStream: a live upstream stream is relayed as it comes", async () => {
  const up = await FakeUpstream.start(() => ({
    kind: "sse",
    parts: slowly(
      sseEvents({
        reasoning: ["Let me ", "see."],
        content: ["Str", "eam", "ed!"],
        usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
      }),
      5,
    ),
  }));
  up.streams = true;
  const proxy = await startProxy({
    configText:
      `backends:\n  local:\n    type: openai\n    api_url: ${up.baseUrl}\n    api_keys: [k1]\n`,
  });
  try {
    const chunks = [];
    for await (
      const c of await client(proxy).models.generateContentStream({
        model: "local/served-model",
        contents: "hi",
      })
    ) chunks.push(c);
    assert.deepEqual(chunks.map((c) => c.text ?? ""), ["Str", "eam", "ed!", ""]);
    assert.equal(chunks.at(-1)?.candidates?.[0].finishReason, "STOP");
    assert.equal(chunks.at(-1)?.usageMetadata?.promptTokenCount, 12);
    assert.equal(chunks.at(-1)?.modelVersion, "local/served-model");
    assert.deepEqual(up.chatRequests()[0].body?.stream_options, { include_usage: true });
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("streamGenerateContent without alt=sse is a JSON array", async () => {
  await withProxy(() => completion("Array answer."), async ({ proxy }) => {
    const res = await fetch(`${proxy.origin}/v1beta/models/${MODEL}:streamGenerateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }),
    });
    assert.equal(res.headers.get("content-type"), "application/json");
    const events = await res.json() as Array<
      { candidates: Array<{ content: { parts: Array<{ text?: string }> } }> }
    >;
    assert.equal(
      events.flatMap((e) => e.candidates[0].content.parts.map((p) => p.text ?? "")).join(""),
      "Array answer.",
    );
  });
});

const SLOW = { configText: "streaming:\n  keepalive_interval: 0.05\n" };

Deno.test("genai generateContentStream: keep-alives while the upstream thinks do not disturb the SDK", async () => {
  await withProxy(() => completion("Late but fine.", { delayMs: 300 }), async ({ proxy }) => {
    const res = await fetch(
      `${proxy.origin}/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`,
      {
        method: "POST",
        body: JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }),
      },
    );
    const raw = await res.text();
    assert.ok(raw.startsWith("\n\n"), JSON.stringify(raw.slice(0, 20)));
    const chunks = [];
    for await (
      const c of await client(proxy).models.generateContentStream({ model: MODEL, contents: "x" })
    ) chunks.push(c);
    assert.equal(chunks.map((c) => c.text ?? "").join(""), "Late but fine.");
  }, SLOW);
});

Deno.test("genai generateContentStream: an error after the stream started is raised with its code", async () => {
  await withProxy(
    () => ({ ...openaiError(400, "context window exceeded"), delayMs: 300 }),
    async ({ proxy }) => {
      const stream = await client(proxy).models.generateContentStream({
        model: MODEL,
        contents: "x",
      });
      const err = await (async () => {
        try {
          for await (const _ of stream) { /* nothing arrives */ }
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof GenAIError, String(err));
      assert.equal(err.status, 400);
      assert.match(err.message, /INVALID_ARGUMENT/);
      assert.match(err.message, /context window exceeded/);
    },
    SLOW,
  );
});

Deno.test("streamGenerateContent: after the error JSON the body breaks off, never ends cleanly", async () => {
  // The AI SDK's Google provider (opencode) skips the raw error JSON; a clean end after it read
  // as a complete, empty answer, which opencode asked again without end.
  await withProxy(
    () => ({ ...openaiError(400, "context window exceeded"), delayMs: 300 }),
    async ({ proxy }) => {
      const res = await fetch(
        `${proxy.origin}/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`,
        {
          method: "POST",
          body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "x" }] }] }),
        },
      );
      assert.equal(res.status, 200);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      const broken = await (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return false;
            text += value;
          }
        } catch {
          return true;
        }
      })();
      assert.deepEqual(JSON.parse(text), {
        error: { code: 400, message: "context window exceeded", status: "INVALID_ARGUMENT" },
      });
      assert.ok(broken, "the body ended cleanly");
    },
    SLOW,
  );
});

Deno.test("genai generateContentStream: an error before the stream started is an HTTP error", async () => {
  await withProxy(() => openaiError(400, "bad request upstream"), async ({ proxy }) => {
    const err = await client(proxy).models.generateContentStream({ model: MODEL, contents: "x" })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof GenAIError, String(err));
    assert.equal(err.status, 400);
  });
});

Deno.test("genai generateContentStream: hanging up mid-stream cancels the upstream call", async () => {
  await withProxy(() => ({ kind: "hang" }), async ({ up, proxy }) => {
    const controller = new AbortController();
    const streaming = client(proxy).models.generateContentStream({
      model: MODEL,
      contents: "x",
      config: { abortSignal: controller.signal },
    }).then(async (stream) => {
      for await (const _ of stream) { /* keep reading */ }
    });
    streaming.catch(() => {});
    await eventually(() => up.chatRequests().length === 1, "the upstream call started");
    // The stream is open (keep-alives flowing) before the client leaves.
    await new Promise((resolve) => setTimeout(resolve, 150));
    controller.abort();
    await streaming.catch(() => {});
    await up.waitForAbort(0, 5000);
  }, SLOW);
});
