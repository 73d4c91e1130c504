// GET /v1/models (upstream list, cache, built-in fallback) and GET /health.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { INTERNLM_CATALOGUE } from "../src/backends/internlm.ts";
import { completion, FakeUpstream, rateLimited } from "./fake_upstream.ts";
import { chatBody, eventually, postChat, startProxy, type TestProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

Deno.test("/v1/models lists the upstream's models, prefixed, and caches them", async () => {
  const up = await FakeUpstream.start();
  const proxy = await startProxy({ upstream: up.baseUrl });
  try {
    const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "x" });
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ["internlm/internlm2.5-latest", "internlm/intern-s1"]);
    const res = await fetch(`${proxy.baseUrl}/models`);
    assertSchema("ListModelsResponse", await res.json());
    const modelCalls = up.requests.filter((r) => r.path.endsWith("/models"));
    assert.equal(modelCalls.length, 1, "second call served from cache");
    assert.equal(modelCalls[0].key, "test-key-0");
    const one = await fetch(`${proxy.baseUrl}/models/internlm/intern-s1`);
    assert.equal(one.status, 200);
    assertSchema("Model", await one.json());
    const missing = await fetch(`${proxy.baseUrl}/models/internlm/nope`);
    assert.equal(missing.status, 404);
    assertSchema("ErrorResponse", await missing.json());
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("/v1/models/{id} accepts every spelling chat accepts: prefix, colon, bare name on the default backend", async () => {
  const up = await FakeUpstream.start();
  const proxy = await startProxy({ upstream: up.baseUrl });
  try {
    for (
      const spelling of [
        "internlm/intern-s1",
        "internlm:intern-s1",
        "intern-s1",
        "internlm%3Aintern-s1",
      ]
    ) {
      const res = await fetch(`${proxy.baseUrl}/models/${spelling}`);
      const body = await res.json();
      assert.equal(res.status, 200, `${spelling}: ${JSON.stringify(body)}`);
      assertSchema("Model", body);
      assert.equal(body.id, "internlm/intern-s1", spelling);
      // And chat takes the same spelling to the same model.
      const chat = await postChat(proxy, chatBody({ model: decodeURIComponent(spelling) }));
      assert.equal(chat.status, 200, spelling);
      assert.equal((await chat.json()).model, "internlm/intern-s1", spelling);
    }
    assert.deepEqual(up.chatRequests().map((r) => r.body?.model), Array(4).fill("intern-s1"));
    for (const missing of ["internlm:nope", "nope", "internlm/"]) {
      const res = await fetch(`${proxy.baseUrl}/models/${missing}`);
      assert.equal(res.status, 404, missing);
      assertSchema("ErrorResponse", await res.json());
    }
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("/v1/models/{id} with two backends and no default: bare names are not found, prefixed ones are", async () => {
  const up = await FakeUpstream.start();
  const configText = "backends:\n  internlm: {type: internlm}\n" +
    `  local: {type: openai, api_url: "${up.baseUrl}"}\n`;
  const proxy = await startProxy({ upstream: up.baseUrl, configText, env: { LOCAL_API_KEY: "k" } });
  try {
    const prefixed = await fetch(`${proxy.baseUrl}/models/local:intern-s1`);
    assert.equal(prefixed.status, 200);
    await prefixed.body?.cancel();
    const bare = await fetch(`${proxy.baseUrl}/models/intern-s1`);
    assert.equal(bare.status, 404);
    await bare.body?.cancel();
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("/v1/models falls back to the built-in catalogue when the upstream has none", async () => {
  const up = await FakeUpstream.start();
  up.setModels(null);
  const proxy = await startProxy({ upstream: up.baseUrl });
  try {
    const res = await fetch(`${proxy.origin}/models`);
    const body = await res.json();
    assertSchema("ListModelsResponse", body);
    assert.deepEqual(
      body.data.map((m: { id: string }) => m.id),
      INTERNLM_CATALOGUE.map((id) => `internlm/${id}`),
    );
    for (
      const id of ["internlm2.5-latest", "internvl3.5-latest", "intern-s1-pro", "intern-latest"]
    ) {
      assert.ok(body.data.some((m: { id: string }) => m.id === `internlm/${id}`), id);
    }
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("/health reports keys per backend, changes as keys cool, and shows no key", async () => {
  const keys = ["sk-health-secret-1", "sk-health-secret-2"];
  let first = true;
  const up = await FakeUpstream.start(() => {
    const reply = first ? rateLimited(60) : completion("ok");
    first = false;
    return reply;
  });
  const proxy = await startProxy({ upstream: up.baseUrl, keys });
  try {
    let res = await fetch(`${proxy.origin}/health`);
    let text = await res.text();
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(text), {
      status: "ok",
      backends: {
        internlm: {
          type: "internlm",
          status: "ok",
          keys: { total: 2, usable: 2, cooling: 0, benched: 0 },
        },
      },
    });
    const chat = await postChat(proxy, chatBody());
    assert.equal(chat.status, 200);
    await chat.body?.cancel();
    res = await fetch(`${proxy.origin}/health`);
    text = await res.text();
    const health = JSON.parse(text);
    assert.equal(health.status, "degraded");
    assert.deepEqual(health.backends.internlm.keys, {
      total: 2,
      usable: 1,
      cooling: 1,
      benched: 0,
    });
    for (const key of keys) assert.ok(!text.includes(key));
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("/health/ready: 503 while no backend can serve, 200 once one can; /health stays 200", async () => {
  const statuses = async (proxy: TestProxy) => {
    const live = await fetch(`${proxy.origin}/health`);
    const ready = await fetch(`${proxy.origin}/health/ready`);
    const body = await ready.json();
    await live.body?.cancel();
    return { live: live.status, ready: ready.status, status: body.status };
  };
  // No key at all.
  let proxy = await startProxy({ upstream: "http://127.0.0.1:1/api/v1", keys: [] });
  try {
    assert.deepEqual(await statuses(proxy), { live: 200, ready: 503, status: "unavailable" });
  } finally {
    await proxy.close();
  }
  // Every key rate-limited, then one recovers; probes need no client key.
  let limited = true;
  const up = await FakeUpstream.start(() => limited ? rateLimited(1) : completion("ok"));
  proxy = await startProxy({
    upstream: up.baseUrl,
    keys: ["k1", "k2"],
    env: { LLM_PROXY_API_KEYS: "client-key" },
  });
  try {
    assert.deepEqual(await statuses(proxy), { live: 200, ready: 200, status: "ok" });
    const chat = await postChat(proxy, chatBody(), { authorization: "Bearer client-key" });
    assert.equal(chat.status, 429);
    await chat.body?.cancel();
    assert.deepEqual(await statuses(proxy), { live: 200, ready: 503, status: "unavailable" });
    limited = false;
    await eventually(async () => (await statuses(proxy)).ready === 200, "a key to recover", 5_000);
  } finally {
    await proxy.close();
    await up.close();
  }
});

Deno.test("/health with no key at all says unavailable but answers 200", async () => {
  const proxy = await startProxy({ upstream: "http://127.0.0.1:9/api/v1", keys: [] });
  try {
    const res = await fetch(`${proxy.origin}/health`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "unavailable");
    assert.equal(body.backends.internlm.keys.total, 0);
  } finally {
    await proxy.close();
  }
});
