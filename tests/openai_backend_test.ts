// The `openai` backend type: native stream relay (reassembly across awkward TCP reads, ordering,
// comments, [DONE], reasoning, failures before and after the first byte, disconnects,
// backpressure), the synthesize mode, and its configuration.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { envPrefixFor } from "../src/backends/openai.ts";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { cutBytes, Gate, slowly, sseData, sseEvents, type StreamScript } from "./fake_stream.ts";
import {
  completion,
  FakeUpstream,
  openaiError,
  rateLimited,
  type Reply,
  type Responder,
} from "./fake_upstream.ts";
import { parseSse, postChat, startProxy, type StreamChunk, type TestProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

/** A proxy whose one backend, `local`, is `type: openai` in front of a streaming fake upstream. */
async function withLocal(
  responder: Responder,
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
  settings = "",
  keys = ["local-key-1"],
): Promise<void> {
  const up = await FakeUpstream.start(responder);
  up.streams = true;
  try {
    const proxy = await startProxy({
      keys: [],
      configText: `backends:
  local:
    type: openai
    api_url: ${up.baseUrl}
    api_keys: [${keys.join(", ")}]
${settings}`,
    });
    try {
      await fn(proxy, up);
    } finally {
      await proxy.close();
    }
  } finally {
    await up.close();
  }
}

const sse = (parts: Extract<Reply, { kind: "sse" }>["parts"], fail = false): Reply => ({
  kind: "sse",
  parts,
  fail,
});

function localBody(extra: Record<string, unknown> = {}) {
  return {
    model: "local/served-model",
    messages: [{ role: "user", content: "Hello!" }],
    stream: true,
    ...extra,
  };
}

/** Streams through raw fetch; returns the data payloads, comments and schema-checked chunks. */
async function rawStream(proxy: TestProxy, extra: Record<string, unknown> = {}) {
  const res = await postChat(proxy, localBody(extra));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const { data, comments } = parseSse(await res.text());
  const chunks = data.filter((d) => d !== "[DONE]" && !d.startsWith('{"error"')).map((d) =>
    JSON.parse(d) as StreamChunk
  );
  for (const c of chunks) assertSchema("CreateChatCompletionStreamResponse", c);
  return { data, comments, chunks };
}

/** A streamed completion of `local/served-model` through the official SDK. */
function sdkStream(proxy: TestProxy) {
  const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "x", maxRetries: 0 });
  return client.chat.completions.create({
    model: "local/served-model",
    messages: [{ role: "user", content: "hi" }],
    stream: true,
  });
}

const text = (chunks: StreamChunk[], field: "content" | "reasoning_content" = "content") =>
  chunks.map((c) => c.choices[0]?.delta[field] ?? "").join("");

// Multi-byte text so that byte cuts land inside characters.
const CONTENT = ["Grüße ", "aus ", "你好世界 ", "😀😃😄", " — done."];
const SCRIPT: StreamScript = { content: CONTENT, reasoning: ["Let me ", "think 🤔"] };

Deno.test("native: the SDK reassembles the exact text from reads cut mid-line and mid-UTF-8", async () => {
  const whole = sseEvents(SCRIPT).join("");
  const emoji = new TextEncoder().encode(whole.slice(0, whole.indexOf("😀"))).length;
  // Cuts inside "data:", inside the JSON, 1 and 2 bytes into an emoji, and one read at the end
  // carrying several events.
  const cuts = [3, 40, 41, 150, emoji + 1, emoji + 6];
  await withLocal(() => sse(slowly(cutBytes(whole, cuts), 5)), async (proxy, up) => {
    const stream = await sdkStream(proxy);
    let content = "";
    let reasoning = "";
    const models = new Set<string>();
    for await (const chunk of stream) {
      models.add(chunk.model);
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string };
      content += delta?.content ?? "";
      reasoning += delta?.reasoning_content ?? "";
    }
    assert.equal(content, CONTENT.join(""));
    assert.equal(reasoning, "Let me think 🤔");
    assert.deepEqual([...models], ["local/served-model"]);
    const sent = up.chatRequests()[0];
    assert.equal(sent.body?.stream, true, "the upstream is asked to stream");
    assert.equal(sent.body?.model, "served-model");
    assert.equal(sent.key, "local-key-1");
    assert.equal(sent.headers.get("accept"), "text/event-stream");
  });
});

Deno.test("native: one read carrying every event, and one byte per read, relay the same", async () => {
  const whole = sseEvents(SCRIPT).join("");
  const bytes = new TextEncoder().encode(whole);
  const everyByte = Array.from(bytes, (_, i) => i + 1).slice(0, -1);
  for (const parts of [[whole], cutBytes(whole, everyByte)]) {
    await withLocal(() => sse(parts), async (proxy) => {
      const { data, chunks } = await rawStream(proxy);
      assert.equal(text(chunks), CONTENT.join(""));
      assert.equal(data.filter((d) => d === "[DONE]").length, 1);
      assert.equal(data.at(-1), "[DONE]");
    });
  }
});

Deno.test("native: the first chunk reaches the client while the upstream still holds the rest", async () => {
  const events = sseEvents({ content: ["first", " second", " third"] });
  const gate = new Gate();
  let upstreamFinished = false;
  async function* parts() {
    yield events.slice(0, 2).join(""); // role chunk + "first"
    await gate.wait(); // until the client has read "first"
    yield events.slice(2).join("");
    upstreamFinished = true;
  }
  await withLocal(() => sse(parts()), async (proxy) => {
    const stream = await sdkStream(proxy);
    let content = "";
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta?.content ?? "";
      if (piece === "first") {
        assert.equal(upstreamFinished, false, "the rest was not sent before the client read");
        gate.open();
      }
      content += piece;
    }
    assert.equal(gate.gaveUp, false, "the first chunk was relayed before the upstream finished");
    assert.equal(content, "first second third");
  });
});

Deno.test("native: comments and keep-alives pass through in order; one id/created/model", async () => {
  const events = sseEvents({ content: ["a", "b"], model: "" });
  // An upstream whose later chunks drift: other id and model, which clients must not see.
  const drifting = events[2].replace("chatcmpl-fake-stream", "chatcmpl-other");
  const parts = [": OPENROUTER PROCESSING\n\n", events[0], events[1], ":ping\r\n\r\n", drifting];
  await withLocal(() => sse(slowly([...parts, ...events.slice(3)], 5)), async (proxy) => {
    const res = await postChat(proxy, localBody());
    const body = await res.text();
    assert.ok(body.startsWith(": OPENROUTER PROCESSING\n\n"), body.slice(0, 80));
    assert.ok(body.indexOf(":ping\n\n") < body.indexOf('"content":"b"'));
    const { data, comments } = parseSse(body);
    assert.deepEqual(comments, [": OPENROUTER PROCESSING", ":ping"]);
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as StreamChunk);
    // The upstream named no model: the requested one is reported.
    assert.deepEqual(
      [...new Set(chunks.map((c) => `${c.id}|${c.created}|${c.model}`))],
      ["chatcmpl-fake-stream|1720000000|local/served-model"],
    );
  });
});

Deno.test("native: [DONE] exactly once, also when the upstream forgets it or talks after it", async () => {
  const noDone = sseEvents({ content: ["x"], done: false });
  const afterDone = [...sseEvents({ content: ["y"] }), sseData({ choices: [] }), "data: junk\n\n"];
  for (const [parts, expected] of [[noDone, "x"], [afterDone, "y"]] as const) {
    await withLocal(() => sse(parts), async (proxy) => {
      const { data, chunks } = await rawStream(proxy);
      assert.equal(data.filter((d) => d === "[DONE]").length, 1);
      assert.equal(data.at(-1), "[DONE]");
      assert.equal(text(chunks), expected);
    });
  }
});

Deno.test("native: `reasoning` deltas reach clients as `reasoning_content`", async () => {
  const script = {
    content: ["42"],
    reasoning: ["hmm ", "yes"],
    reasoningField: "reasoning" as const,
  };
  await withLocal(() => sse(sseEvents(script)), async (proxy) => {
    const { chunks } = await rawStream(proxy);
    assert.equal(text(chunks, "reasoning_content"), "hmm yes");
    assert.ok(chunks.every((c) => c.choices[0]?.delta.reasoning === undefined));
    assert.equal(text(chunks), "42");
  });
});

Deno.test("native: a <think> block streamed in the content reaches clients as reasoning", async () => {
  // Tags cut across chunks, as a server without a reasoning parser streams them token by token.
  const content = ["<thi", "nk>\nFirst, ", "recall 🤔.", "\n</th", "ink>\n\nThe ans", "wer."];
  await withLocal(() => sse(sseEvents({ content })), async (proxy) => {
    const { chunks } = await rawStream(proxy);
    assert.equal(text(chunks, "reasoning_content"), "First, recall 🤔.");
    assert.equal(text(chunks), "The answer.");
    assert.ok(!chunks.some((c) => c.choices[0]?.delta.content?.includes("<")));
  });
  // Cut off mid-thought and without a finish chunk: the held-back text still arrives.
  const cut = sseEvents({ content: ["<think>", "unfinished </thi"], done: false }).slice(0, 3);
  await withLocal(() => sse(cut), async (proxy) => {
    const { data, chunks } = await rawStream(proxy);
    assert.equal(text(chunks, "reasoning_content"), "unfinished </thi");
    assert.equal(data.at(-1), "[DONE]");
  });
});

Deno.test("native: stream_options and the usage chunk pass through", async () => {
  const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
  await withLocal(() => sse(sseEvents({ content: ["hi"], usage })), async (proxy, up) => {
    const { chunks } = await rawStream(proxy, { stream_options: { include_usage: true } });
    assert.deepEqual(up.chatRequests()[0].body?.stream_options, { include_usage: true });
    const last = chunks.at(-1) as StreamChunk & { usage?: unknown };
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, usage);
  });
});

Deno.test("native: n > 1 keeps each choice apart, <think> split per choice", async () => {
  const chunk = (index: number, content: string, finish: string | null = null) =>
    sseData({
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{ index, delta: { content }, finish_reason: finish }],
    });
  const parts = [
    chunk(0, "<think>a"),
    chunk(1, "plain "),
    chunk(0, "</think>zero"),
    chunk(1, "one"),
    chunk(0, "", "stop"),
    chunk(1, "", "stop"),
    "data: [DONE]\n\n",
  ];
  await withLocal(() => sse(parts), async (proxy, up) => {
    const { chunks } = await rawStream(proxy, { n: 2 });
    assert.equal(up.chatRequests()[0].body?.n, 2);
    const of = (i: number, field: "content" | "reasoning_content") =>
      text(chunks.filter((c) => c.choices[0]?.index === i), field);
    assert.deepEqual([of(0, "reasoning_content"), of(0, "content")], ["a", "zero"]);
    assert.deepEqual([of(1, "reasoning_content"), of(1, "content")], ["", "plain one"]);
  });
});

Deno.test("native: a connection cut mid-stream ends with an error event, no [DONE], no retry", async () => {
  const events = sseEvents({ content: ["partial ", "answer", " never"] });
  await withLocal(
    () => sse(slowly(events.slice(0, 3), 5), true),
    async (proxy, up) => {
      const { data, chunks } = await rawStream(proxy);
      assert.equal(text(chunks), "partial answer");
      assert.ok(!data.includes("[DONE]"));
      const error = JSON.parse(data.at(-1)!);
      assertSchema("ErrorResponse", error);
      assert.match(error.error.message, /local stream broke off/);
      assert.equal(up.chatRequests().length, 1, "never retried after bytes reached the client");
    },
    "",
    ["k1", "k2"],
  );
});

Deno.test("native: an upstream error event is relayed as an error event, keys redacted", async () => {
  const events = sseEvents({ content: ["so far"] });
  const failure = sseData({ error: { message: "model crashed using key local-key-1", code: 500 } });
  await withLocal(() => sse([...events.slice(0, 2), failure]), async (proxy) => {
    const stream = await sdkStream(proxy);
    let content = "";
    await assert.rejects(async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? "";
    }, (err: Error) => {
      assert.match(err.message, /local stream failed: model crashed/);
      assert.ok(!err.message.includes("local-key-1"), err.message);
      return true;
    });
    assert.equal(content, "so far");
  });
});

Deno.test("native: garbage from the upstream mid-stream becomes a 502 error event", async () => {
  const events = sseEvents({ content: ["ok"] });
  // Pings and empty heartbeats are skipped; the garbage after them is not.
  const parts = [events[0], "event: ping\ndata: {}\n\n", "data:\n\n", "data: {not json\n\n"];
  await withLocal(() => sse(parts), async (proxy) => {
    const { data } = await rawStream(proxy);
    assert.equal(data.length, 2, "the role chunk, then the error");
    const error = JSON.parse(data.at(-1)!);
    assertSchema("ErrorResponse", error);
    assert.equal(error.error.code, "bad_upstream_response");
    assert.match(error.error.message, /not JSON/);
  });
});

Deno.test("native: key failover happens before the first byte (429, 500, a connection cut)", async () => {
  const replies: Record<string, () => Reply> = {
    "k-limited": () => rateLimited(30),
    "k-broken": () => openaiError(500, "boom"),
    "k-cut": () => sse([], true),
  };
  const responder: Responder = (req) => replies[req.key ?? ""]?.() ?? sse(sseEvents(SCRIPT));
  await withLocal(
    responder,
    async (proxy, up) => {
      const { data, chunks } = await rawStream(proxy);
      assert.equal(text(chunks), CONTENT.join(""));
      assert.equal(data.at(-1), "[DONE]");
      assert.deepEqual(up.chatRequests().map((r) => r.key), [
        "k-limited",
        "k-broken",
        "k-cut",
        "k-good",
      ]);
    },
    "    retry_backoff: 0\n    max_retries: 3\n",
    ["k-limited", "k-broken", "k-cut", "k-good"],
  );
});

Deno.test("native: an error before the stream starts is a JSON error with its own status", async () => {
  await withLocal(() => openaiError(400, "temperature too high"), async (proxy) => {
    const res = await postChat(proxy, localBody());
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("content-type"), "application/json");
    const body = await res.json();
    assertSchema("ErrorResponse", body);
    assert.equal(body.error.message, "temperature too high");
  });
});

Deno.test("native: a client that hangs up mid-stream cancels the upstream body", async () => {
  const events = sseEvents({ content: ["one", "two"] });
  const held = new Gate();
  async function* parts() {
    yield events.slice(0, 2).join("");
    await held.wait(); // never opened: only the hang-up can end this reply
    yield events.slice(2).join("");
  }
  await withLocal(() => sse(parts()), async (proxy, up) => {
    const res = await postChat(proxy, localBody());
    const reader = res.body!.getReader();
    let seen = "";
    while (!seen.includes('"content":"one"')) {
      seen += new TextDecoder().decode((await reader.read()).value);
    }
    await reader.cancel();
    await up.waitForAbort(0, 3000);
    assert.equal(held.gaveUp, false, "the upstream saw the hang-up while still holding");
    assert.equal(up.chatRequests()[0].aborted, true);
    held.open();
  });
});

Deno.test("native: a client that stops reading stops the upstream reads (backpressure)", async () => {
  const PART = sseData({
    id: "x",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { content: "z".repeat(64 * 1024) }, finish_reason: null }],
  });
  const TOTAL = 2048; // 128 MiB on offer
  let sent = 0;
  function* parts() {
    for (; sent < TOTAL; sent++) yield PART;
  }
  await withLocal(() => sse(parts()), async (proxy, up) => {
    const res = await postChat(proxy, localBody());
    const reader = res.body!.getReader();
    await reader.read();
    // Let every buffer on the way fill up, then check the upstream is no longer being read.
    let before = -1;
    while (before !== sent) {
      before = sent;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    console.log(`backpressure: ${sent} of ${TOTAL} 64 KiB parts left the upstream`);
    assert.ok(sent < TOTAL / 4, `upstream sent ${sent} of ${TOTAL} parts to a stalled client`);
    await reader.cancel();
    await up.waitForAbort(0, 3000);
  });
});

Deno.test("native: an upstream silent mid-stream past `timeout` ends with a 504 event", async () => {
  const events = sseEvents({ content: ["start"] });
  const never = new Gate();
  async function* parts() {
    yield events.slice(0, 2).join("");
    await never.wait(10_000);
  }
  await withLocal(() => sse(parts()), async (proxy, up) => {
    const { data, chunks } = await rawStream(proxy);
    assert.equal(text(chunks), "start");
    const error = JSON.parse(data.at(-1)!);
    assert.equal(error.error.code, "upstream_timeout");
    await up.waitForAbort(0, 3000);
    never.open();
  }, "    timeout: 1\n");
});

Deno.test("native: keep-alives while the upstream has not started, then the live stream", async () => {
  const started = new Gate();
  // The upstream sends nothing, not even headers, until the client has seen a keep-alive.
  const responder = async () => {
    await started.wait();
    return sse(sseEvents({ content: ["late ", "but live"] }));
  };
  await withLocal(responder, async (proxy) => {
    const res = await postChat(proxy, localBody());
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let body = "";
    while (!body.includes(": keep-alive\n\n")) body += (await reader.read()).value;
    started.open();
    for (let r = await reader.read(); !r.done; r = await reader.read()) body += r.value;
    assert.equal(started.gaveUp, false);
    const { data } = parseSse(body);
    assert.equal(data.at(-1), "[DONE]");
    assert.equal(text(data.slice(0, -1).map((d) => JSON.parse(d))), "late but live");
  }, "streaming:\n  keepalive_interval: 0.05\n");
});

Deno.test("native: an upstream that answers JSON to stream: true is synthesized", async () => {
  await withLocal(() => completion("plain JSON answer"), async (proxy) => {
    const { data, chunks } = await rawStream(proxy);
    assert.equal(text(chunks), "plain JSON answer");
    assert.equal(data.at(-1), "[DONE]");
    assert.equal(chunks[0].model, "local/served-model");
  });
});

Deno.test("openai type: non-stream requests and `stream: synthesize` call the upstream with stream: false", async () => {
  await withLocal(() => completion("hello there"), async (proxy, up) => {
    const plain = await postChat(proxy, localBody({ stream: false }));
    const body = await plain.json();
    assertSchema("CreateChatCompletionResponse", body);
    assert.equal(body.model, "local/served-model");
    const { chunks } = await rawStream(proxy, { stream_options: { include_usage: true } });
    assert.equal(text(chunks), "hello there");
    for (const req of up.chatRequests()) {
      assert.equal(req.body?.stream, false);
      assert.equal(req.body?.stream_options, undefined);
    }
  }, "    stream: synthesize\n");
});

Deno.test("openai type: keys from <NAME>_API_KEY[_N], api_url required, stream mode checked", async () => {
  assert.equal(envPrefixFor("local"), "LOCAL");
  assert.equal(envPrefixFor("deep-seek.v3"), "DEEP_SEEK_V3");
  const logs: string[] = [];
  const config = await loadConfig({
    configText: "backends:\n  deep-seek:\n    type: openai\n    api_url: http://127.0.0.1:9/v1\n",
    env: { DEEP_SEEK_API_KEY: "a", DEEP_SEEK_API_KEY_3: "c", DEEP_SEEK_API_KEY_1: "b" },
    logSink: (line) => logs.push(line),
  });
  const backend = config.backends.get("deep-seek")!;
  assert.deepEqual(backend.health(), {
    type: "openai",
    status: "ok",
    keys: { total: 3, usable: 3, cooling: 0, benched: 0 },
  });
  const bad = (yaml: string, message: RegExp) =>
    assert.rejects(() => loadConfig({ configText: yaml, logSink: () => {} }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, message);
      return true;
    });
  await bad(
    "backends:\n  x:\n    type: openai\n",
    /<config>:3:5: backends\.x\.api_url is required/,
  );
  await bad(
    "backends:\n  x:\n    type: openai\n    api_url: http://h/v1\n    stream: chunked\n",
    /backends\.x\.stream must be one of: native, synthesize/,
  );
  await bad(
    "backends:\n  i:\n    type: internlm\n    stream: native\n",
    /backends\.i\.stream is not a known setting/,
  );
});

Deno.test("openai type: without a key the proxy names <NAME>_API_KEY in the 503", async () => {
  const proxy = await startProxy({
    keys: [],
    configText: "backends:\n  my-vllm:\n    type: openai\n    api_url: http://127.0.0.1:9/v1\n",
  });
  try {
    const res = await postChat(proxy, { ...localBody(), model: "my-vllm/m" });
    assert.equal(res.status, 503);
    assert.match((await res.json()).error.message, /MY_VLLM_API_KEY/);
    assert.ok(proxy.logs.some((l) => l.includes("MY_VLLM_API_KEY")));
  } finally {
    await proxy.close();
  }
});

Deno.test("openai type: <NAME>_API_BASE_URL overrides api_url", async () => {
  const fromEnv = await FakeUpstream.start(() => completion("from env"));
  const fromFile = await FakeUpstream.start(() => completion("from file"));
  try {
    const proxy = await startProxy({
      keys: [],
      env: { LOCAL_API_BASE_URL: fromEnv.baseUrl, LOCAL_API_KEY: "local-key-1" },
      configText: `backends:\n  local:\n    type: openai\n    api_url: ${fromFile.baseUrl}\n`,
    });
    try {
      const res = await postChat(proxy, localBody({ stream: false }));
      assert.equal((await res.json()).choices[0].message.content, "from env");
      assert.equal(fromFile.chatRequests().length, 0);
    } finally {
      await proxy.close();
    }
  } finally {
    await fromEnv.close();
    await fromFile.close();
  }
});
