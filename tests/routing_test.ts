// Model routing: backend prefixes, the default backend, several backends of one type, forced
// models, and the routing mistakes that must stop the proxy at startup.
import assert from "node:assert/strict";
import { ConfigError, loadConfig, type Overrides } from "../src/config/config.ts";
import { FakeUpstream } from "./fake_upstream.ts";
import {
  chatBody,
  postChat,
  startProxy,
  type TestProxy,
  withProxy as withUpstreamAndProxy,
} from "./proxy.ts";
import { assertSchema } from "./schema.ts";

/** A proxy in front of one fake upstream, as the single `internlm` backend. */
function withOne(
  overrides: Overrides,
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
): Promise<void> {
  return withUpstreamAndProxy(undefined, ({ up, proxy }) => fn(proxy, up), {
    keys: ["route-key"],
    overrides,
  });
}

/** Two internlm-type backends `a` and `b`, each with its own fake upstream and key. */
function twoBackends(urlA: string, urlB: string, extra = ""): string {
  return `backends:
  a:
    type: internlm
    api_url: ${urlA}
    api_keys: [key-a]
  b:
    type: internlm
    api_url: ${urlB}
    api_keys: [key-b]
${extra}`;
}

async function withTwo(
  extraConfig: string,
  overrides: Overrides,
  fn: (proxy: TestProxy, upA: FakeUpstream, upB: FakeUpstream) => Promise<void>,
): Promise<void> {
  const upA = await FakeUpstream.start();
  const upB = await FakeUpstream.start();
  try {
    // No `upstream` and no env keys: INTERNAI_API_BASE_URL would override both api_urls.
    const proxy = await startProxy({
      keys: [],
      configText: twoBackends(upA.baseUrl, upB.baseUrl, extraConfig),
      overrides,
    });
    try {
      await fn(proxy, upA, upB);
    } finally {
      await proxy.close();
    }
  } finally {
    await upA.close();
    await upB.close();
  }
}

/** Posts a chat for `model`, expects 200, returns the response's model field. */
async function chatModel(proxy: TestProxy, model: string | undefined): Promise<string> {
  const res = await postChat(proxy, chatBody({ model }));
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assertSchema("CreateChatCompletionResponse", body);
  return body.model;
}

Deno.test("routing: internlm/<m> and internlm:<m> reach upstream as <m>, reported as internlm/<m>", async () => {
  await withOne({}, async (proxy, up) => {
    assert.equal(
      await chatModel(proxy, "internlm/internlm2.5-latest"),
      "internlm/internlm2.5-latest",
    );
    assert.equal(await chatModel(proxy, "internlm:intern-s1"), "internlm/intern-s1");
    assert.deepEqual(up.chatRequests().map((r) => r.body?.model), [
      "internlm2.5-latest",
      "intern-s1",
    ]);
  });
});

Deno.test("routing: a model without a backend prefix goes to the default backend unchanged", async () => {
  await withOne({}, async (proxy, up) => {
    // Only the first separator can name a backend, and "meta-llama" is not one.
    assert.equal(await chatModel(proxy, "meta-llama/Llama-3-8B"), "internlm/meta-llama/Llama-3-8B");
    assert.equal(await chatModel(proxy, "internlm2.5-latest"), "internlm/internlm2.5-latest");
    assert.deepEqual(up.chatRequests().map((r) => r.body?.model), [
      "meta-llama/Llama-3-8B",
      "internlm2.5-latest",
    ]);
  });
});

Deno.test("routing: backend prefix with no model after it is a 400", async () => {
  await withOne({}, async (proxy, up) => {
    const res = await postChat(proxy, chatBody({ model: "internlm/" }));
    const body = await res.json();
    assert.equal(res.status, 400);
    assertSchema("ErrorResponse", body);
    assert.equal(body.error.param, "model");
    assert.equal(up.chatRequests().length, 0);
  });
});

Deno.test("routing: two internlm backends, no default: prefix picks the upstream", async () => {
  await withTwo("", {}, async (proxy, upA, upB) => {
    assert.equal(await chatModel(proxy, "a/x"), "a/x");
    assert.equal(await chatModel(proxy, "b:y"), "b/y");
    assert.deepEqual(upA.chatRequests().map((r) => [r.key, r.body?.model]), [["key-a", "x"]]);
    assert.deepEqual(upB.chatRequests().map((r) => [r.key, r.body?.model]), [["key-b", "y"]]);
  });
});

Deno.test("routing: two backends, no default: an unprefixed model is a 400 naming the backends", async () => {
  await withTwo("", {}, async (proxy, upA, upB) => {
    for (const model of ["internlm2.5-latest", "c/x"]) {
      const res = await postChat(proxy, chatBody({ model }));
      const body = await res.json();
      assert.equal(res.status, 400, JSON.stringify(body));
      assertSchema("ErrorResponse", body);
      assert.equal(body.error.code, "model_not_found");
      assert.match(body.error.message, /a\/<model>/);
      assert.match(body.error.message, /b\/<model>/);
    }
    assert.equal(upA.requests.length + upB.requests.length, 0);
  });
});

Deno.test("routing: two backends with default_backend b: unprefixed models go to b", async () => {
  await withTwo("default_backend: b\n", {}, async (proxy, upA, upB) => {
    assert.equal(await chatModel(proxy, "m1"), "b/m1");
    assert.equal(upA.chatRequests().length, 0);
    assert.deepEqual(upB.chatRequests().map((r) => r.body?.model), ["m1"]);
  });
});

Deno.test("routing: --force-model answers every request with that model", async () => {
  const overrides = { defaultBackend: "internlm", forceModel: "internlm2.5-latest" };
  await withOne(overrides, async (proxy, up) => {
    assert.equal(await chatModel(proxy, "gpt-4o"), "internlm/internlm2.5-latest");
    assert.equal(await chatModel(proxy, "internlm/intern-s1"), "internlm/internlm2.5-latest");
    // With a forced model the client need not name one at all.
    assert.equal(await chatModel(proxy, undefined), "internlm/internlm2.5-latest");
    assert.deepEqual(
      up.chatRequests().map((r) => r.body?.model),
      ["internlm2.5-latest", "internlm2.5-latest", "internlm2.5-latest"],
    );
  });
});

Deno.test("routing: force model b/m2 with two backends routes everything to b", async () => {
  await withTwo("", { forceModel: "b/m2" }, async (proxy, upA, upB) => {
    assert.equal(await chatModel(proxy, "a/x"), "b/m2");
    assert.equal(await chatModel(proxy, "gpt-4o"), "b/m2");
    assert.equal(upA.chatRequests().length, 0);
    assert.deepEqual(upB.chatRequests().map((r) => r.body?.model), ["m2", "m2"]);
  });
});

// ---- startup errors ----

const quiet = () => {};
const TWO = twoBackends("http://127.0.0.1:1/a", "http://127.0.0.1:1/b");

async function loadFails(
  configText: string,
  overrides: Overrides = {},
): Promise<ConfigError> {
  let caught: unknown;
  try {
    await loadConfig({ configText, overrides, env: {}, logSink: quiet });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  return caught;
}

Deno.test("routing startup: a default backend that does not exist is a ConfigError", async () => {
  const fromFile = await loadFails(`${TWO}default_backend: nope\n`);
  assert.match(fromFile.message, /default backend "nope" is not configured \(backends: a, b\)/);
  // Located in the file, at the default_backend line (line 10).
  assert.match(fromFile.message, /^<config>:10:\d+: /);

  const fromFlag = await loadFails(TWO, { defaultBackend: "nope" });
  assert.match(fromFlag.message, /default backend "nope" is not configured/);
});

Deno.test("routing startup: a default backend that is disabled is a ConfigError", async () => {
  const text = `backends:
  a:
    type: internlm
  b:
    type: internlm
    enabled: false
default_backend: b
`;
  assert.match((await loadFails(text)).message, /default backend "b" is disabled/);
  assert.match(
    (await loadFails(text.replace("default_backend: b\n", ""), { defaultBackend: "b" })).message,
    /disabled/,
  );
  // The same file with b enabled loads: the error is about `enabled: false`, nothing else.
  const config = await loadConfig({
    configText: text.replace("false", "true"),
    env: {},
    logSink: quiet,
  });
  assert.equal(config.router.resolve("m").backend.name, "b");
});

Deno.test("routing startup: a forced model no backend can serve is a ConfigError", async () => {
  // Two backends, no default: an unprefixed forced model has nowhere to go.
  const err = await loadFails(TWO, { forceModel: "m" });
  assert.match(err.message, /force model: model "m" has no backend prefix/);
});

Deno.test("routing startup: every backend disabled is a ConfigError", async () => {
  const err = await loadFails("backends:\n  internlm:\n    type: internlm\n    enabled: false\n");
  assert.match(err.message, /no backend is enabled/);
});
