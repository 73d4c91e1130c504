// Two backend types at once: `internlm` (synthesized streams) and `local` (type openai, native
// streams), each with its own upstream, keys and rotation; prefix routing, the default backend,
// the merged model list and /health.
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { Overrides } from "../src/config/config.ts";
import { sseEvents } from "./fake_stream.ts";
import { completion, FakeUpstream, type Responder } from "./fake_upstream.ts";
import { parseSse, postChat, startProxy, type TestProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

interface Two {
  proxy: TestProxy;
  internlm: FakeUpstream;
  local: FakeUpstream;
}

/** Answers a streaming request natively and any other with a completion, both saying `text`. */
const answers = (text: string): Responder => (req) =>
  req.body?.stream === true
    ? { kind: "sse", parts: sseEvents({ content: [text], model: String(req.body.model) }) }
    : completion(text);

async function withTwo(overrides: Overrides, fn: (two: Two) => Promise<void>): Promise<void> {
  const internlm = await FakeUpstream.start(answers("from internlm"));
  const local = await FakeUpstream.start(answers("from local"));
  local.streams = true;
  try {
    const proxy = await startProxy({
      keys: ["i-1", "i-2"],
      env: { LOCAL_API_KEY: "l-1", LOCAL_API_KEY_1: "l-2", LOCAL_API_KEY_2: "l-3" },
      overrides,
      configText: `default_backend: local
backends:
  internlm:
    type: internlm
    api_url: ${internlm.baseUrl}
  local:
    type: openai
    api_url: ${local.baseUrl}
    models: [fallback-a, fallback-b]
`,
    });
    try {
      await fn({ proxy, internlm, local });
    } finally {
      await proxy.close();
    }
  } finally {
    await internlm.close();
    await local.close();
  }
}

async function ask(proxy: TestProxy, model: string, stream = false) {
  const res = await postChat(proxy, {
    model,
    messages: [{ role: "user", content: "hi" }],
    stream,
  });
  assert.equal(res.status, 200);
  if (!stream) {
    const body = await res.json();
    assertSchema("CreateChatCompletionResponse", body);
    return { model: body.model as string, content: body.choices[0].message.content as string };
  }
  const data = parseSse(await res.text()).data;
  assert.equal(data.at(-1), "[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  return {
    model: chunks[0].model as string,
    content: chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
  };
}

Deno.test("two backends: prefixes route, the default takes the rest, streams go their own way", async () => {
  await withTwo({}, async ({ proxy, internlm, local }) => {
    assert.deepEqual(await ask(proxy, "internlm/internlm2.5-latest"), {
      model: "internlm/internlm2.5-latest",
      content: "from internlm",
    });
    assert.deepEqual(await ask(proxy, "local:qwen3"), {
      model: "local/qwen3",
      content: "from local",
    });
    // No prefix: the default backend (local), model id untouched, slashes and all.
    assert.deepEqual(await ask(proxy, "Qwen/Qwen3-8B"), {
      model: "local/Qwen/Qwen3-8B",
      content: "from local",
    });
    assert.deepEqual(await ask(proxy, "internlm/intern-s1", true), {
      model: "internlm/intern-s1",
      content: "from internlm",
    });
    assert.deepEqual(await ask(proxy, "local/qwen3", true), {
      model: "local/qwen3",
      content: "from local",
    });
    assert.deepEqual(
      internlm.chatRequests().map((r) => [r.body?.model, r.body?.stream]),
      [["internlm2.5-latest", false], ["intern-s1", false]],
    );
    assert.deepEqual(
      local.chatRequests().map((r) => [r.body?.model, r.body?.stream]),
      [["qwen3", false], ["Qwen/Qwen3-8B", false], ["qwen3", true]],
    );
    // One stream of each kind, counted as such.
    const metrics = await (await fetch(`${proxy.origin}/metrics`)).text();
    for (const [backend, mode] of [["internlm", "synthesized"], ["local", "native"]]) {
      const line = `llm_proxy_streams_total{backend="${backend}",mode="${mode}"} 1`;
      assert.ok(metrics.split("\n").includes(line), `${line} in\n${metrics}`);
    }
  });
});

Deno.test("two backends: --default-backend picks the other one", async () => {
  await withTwo({ defaultBackend: "internlm" }, async ({ proxy, internlm, local }) => {
    assert.equal((await ask(proxy, "internlm2.5-7b")).model, "internlm/internlm2.5-7b");
    assert.equal(internlm.chatRequests().length, 1);
    assert.equal(local.chatRequests().length, 0);
  });
});

Deno.test("two backends: each rotates its own keys, interleaved requests or not", async () => {
  await withTwo({}, async ({ proxy, internlm, local }) => {
    for (let i = 0; i < 6; i++) {
      await ask(proxy, "local/m", i % 2 === 0);
      if (i < 4) await ask(proxy, "internlm/m");
    }
    assert.deepEqual(internlm.chatRequests().map((r) => r.key), ["i-1", "i-2", "i-1", "i-2"]);
    assert.deepEqual(local.chatRequests().map((r) => r.key), [
      "l-1",
      "l-2",
      "l-3",
      "l-1",
      "l-2",
      "l-3",
    ]);
  });
});

Deno.test("two backends: /v1/models merges both lists; `models:` is the fallback", async () => {
  await withTwo({}, async ({ proxy, local }) => {
    local.setModels(null); // the local server has no /models: its configured list is served
    const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "x" });
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, [
      "internlm/internlm2.5-latest",
      "internlm/intern-s1",
      "local/fallback-a",
      "local/fallback-b",
    ]);
    const one = await fetch(`${proxy.baseUrl}/models/local/fallback-b`);
    assert.equal(one.status, 200);
    assertSchema("Model", await one.json());
  });
});

Deno.test("two backends: /health reports each backend with its type and keys", async () => {
  await withTwo({}, async ({ proxy }) => {
    const res = await fetch(`${proxy.origin}/health`);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), {
      status: "ok",
      backends: {
        internlm: {
          type: "internlm",
          status: "ok",
          keys: { total: 2, usable: 2, cooling: 0, benched: 0 },
        },
        local: {
          type: "openai",
          status: "ok",
          keys: { total: 3, usable: 3, cooling: 0, benched: 0 },
        },
      },
    });
    for (const key of ["i-1", "l-1", "l-3"]) assert.ok(!text.includes(`"${key}"`));
  });
});
