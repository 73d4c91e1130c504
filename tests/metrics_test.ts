// GET /metrics (Prometheus text format 0.0.4, parsed strictly) moves as requests are made;
// /health?verbose=1 shows every key slot; both behind client auth when it is on; no key anywhere.
import assert from "node:assert/strict";
import { Registry } from "../src/operations/metrics.ts";
import { MAX_MODEL_LABELS, OTHER_MODEL, ProxyMetrics } from "../src/operations/proxy_metrics.ts";
import { sseEvents } from "./fake_stream.ts";
import {
  completion,
  FakeUpstream,
  openaiError,
  rateLimited,
  type Reply,
  textError,
} from "./fake_upstream.ts";
import { type MetricFamily, parseExposition, sampleValue } from "./exposition.ts";
import { chatBody, eventually, postChat, startProxy, type TestProxy, withProxy } from "./proxy.ts";

const KEYS = ["sk-metrics-ONE-51f0e3a7c2", "sk-metrics-TWO-9d2b84e1f6"];

async function scrape(proxy: TestProxy, headers: Record<string, string> = {}) {
  const res = await fetch(`${proxy.origin}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  for (const key of KEYS) assert.ok(!text.includes(key), "a key in /metrics");
  return { text, families: parseExposition(text) };
}

Deno.test("the registry escapes label values and HELP, and checks names and label counts", () => {
  const registry = new Registry();
  const c = registry.counter("t_total", 'Help with a \\ backslash\nand "quotes".', ["v"]);
  const weird = 'quote " backslash \\ newline \n end';
  c.inc([weird]);
  c.inc([weird], 2);
  const h = registry.histogram("t_seconds", "Latency.", [], [0.1, 1]);
  for (const v of [0.1, 0.5, 1, 7]) h.observe([], v);
  const text = registry.exposition();
  assert.ok(text.includes(String.raw`t_total{v="quote \" backslash \\ newline \n end"} 3`), text);
  assert.ok(text.includes(String.raw`# HELP t_total Help with a \\ backslash\nand "quotes".`));
  const families = parseExposition(text);
  assert.equal(families.get("t_total")!.help, 'Help with a \\ backslash\nand "quotes".');
  assert.equal(sampleValue(families, "t_total", { v: weird }), 3);
  // A value equal to a bound falls in that bucket (le is inclusive).
  assert.equal(sampleValue(families, "t_seconds_bucket", { le: "0.1" }), 1);
  assert.equal(sampleValue(families, "t_seconds_bucket", { le: "1" }), 3);
  assert.equal(sampleValue(families, "t_seconds_bucket", { le: "+Inf" }), 4);
  assert.equal(sampleValue(families, "t_seconds_sum"), 8.6);

  assert.throws(() => registry.counter("t_total", "again"), /registered twice/);
  assert.throws(() => registry.counter("1bad", "x"), /invalid metric name/);
  assert.throws(() => registry.counter("ok_total", "x", ["bad-label"]), /invalid label name/);
  assert.throws(() => registry.histogram("h", "x", ["le"], [1]), /reserved/);
  assert.throws(() => registry.histogram("h2", "x", [], [1, 1]), /must increase/);
  assert.throws(() => c.inc(["a", "b"]), /takes labels v/);
});

Deno.test("the strict parser refuses what a scraper would", () => {
  const bad = [
    "x 1", // no newline at the end
    '# TYPE x counter\nx{a="1"} one\n',
    '# TYPE x counter\nx{a="1\\t"} 1\n',
    '# TYPE x counter\nx{a="1",a="2"} 1\n',
    "# TYPE x counter\nx 1\nx 2\n",
    "# TYPE x counter\ny 1\n",
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
  ];
  for (const text of bad) assert.throws(() => parseExposition(text), Error, text);
});

Deno.test("model labels are capped: clients cannot grow the series without bound", () => {
  const metrics = new ProxyMetrics(new Map());
  for (let i = 0; i < MAX_MODEL_LABELS + 20; i++) {
    metrics.requestStarted();
    metrics.requestFinished({
      route: "chat",
      status: 200,
      backend: "internlm",
      model: `m-${i}`,
      seconds: 0.01,
    });
  }
  const families = parseExposition(metrics.exposition());
  const models = families.get("llm_proxy_requests_total")!.samples.map((s) => s.labels.model);
  assert.equal(models.length, MAX_MODEL_LABELS + 1);
  assert.equal(sampleValue(families, "llm_proxy_requests_total", { model: OTHER_MODEL }), 20);
  assert.equal(sampleValue(families, "llm_proxy_requests_total", { model: "m-0" }), 1);
  assert.equal(sampleValue(families, "llm_proxy_requests_in_flight"), 0);
});

Deno.test("/metrics counters move with requests, attempts by key slot, streams and key states", async () => {
  let calls = 0;
  await withProxy(
    // The second upstream call is rate-limited: its request fails over to the other key.
    () => calls++ === 1 ? rateLimited(60) : completion("counted"),
    async ({ proxy }) => {
      const before = (await scrape(proxy)).families;
      assert.equal(sampleValue(before, "llm_proxy_requests_in_flight"), 1, "the scrape itself");
      assert.equal(sampleValue(before, "llm_proxy_keys", { state: "usable" }), 2);
      assert.equal(sampleValue(before, "llm_proxy_upstream_attempts_total"), 0);

      for (const body of [chatBody(), chatBody({ stream: true }), chatBody()]) {
        const res = await postChat(proxy, body);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      const bad = await postChat(proxy, "{not json");
      await bad.body?.cancel();

      const { families, text } = await scrape(proxy);
      const requests = (labels: Record<string, string>) =>
        sampleValue(families, "llm_proxy_requests_total", labels);
      const ok = { route: "chat", backend: "internlm", model: "internlm2.5-latest" };
      assert.equal(requests({ ...ok, status: "200" }), 3);
      assert.equal(requests({ route: "chat", backend: "", model: "", status: "400" }), 1);
      assert.equal(requests({ route: "metrics", status: "200" }), 1, "the first scrape");
      assert.equal(
        sampleValue(families, "llm_proxy_request_duration_seconds_count", {
          route: "chat",
        }),
        4,
      );

      const attempts = (slot: string, outcome: string) =>
        sampleValue(families, "llm_proxy_upstream_attempts_total", {
          backend: "internlm",
          key_slot: slot,
          outcome,
        });
      // Round robin: key 1, then key 2 (429) and key 1 again, then key 1 (key 2 is cooling).
      assert.equal(attempts("1", "ok"), 3);
      assert.equal(attempts("2", "rate_limited"), 1);
      assert.equal(
        sampleValue(families, "llm_proxy_upstream_duration_seconds_count", { backend: "internlm" }),
        4,
      );
      assert.equal(
        sampleValue(families, "llm_proxy_streams_total", {
          backend: "internlm",
          mode: "synthesized",
        }),
        1,
      );
      assert.equal(sampleValue(families, "llm_proxy_keys", { state: "usable" }), 1);
      assert.equal(sampleValue(families, "llm_proxy_keys", { state: "cooling" }), 1);
      assert.equal(sampleValue(families, "llm_proxy_keys", { state: "benched" }), 0);
      assert.equal(sampleValue(families, "llm_proxy_requests_in_flight"), 1);
      assertFamilies(families);
      assert.ok(!text.includes("sk-"), "nothing key-like");
    },
    { keys: KEYS },
  );
});

Deno.test("/metrics: each upstream attempt is counted under its outcome", async () => {
  const replies: Array<[string, Reply]> = [
    ["server_error", openaiError(500, "boom")],
    ["client_error", openaiError(400, "bad temperature")],
    ["bad_response", textError(200, "<html>not json</html>")],
    ["timeout", { kind: "hang" }],
    ["rejected", openaiError(401, "no")],
    ["ok", completion("fine")],
  ];
  let i = 0;
  await withProxy(() => replies[i][1], async ({ proxy }) => {
    for (; i < replies.length; i++) {
      const res = await postChat(proxy, chatBody());
      await res.body?.cancel();
    }
    const { families } = await scrape(proxy);
    for (const [outcome] of replies) {
      const n = sampleValue(families, "llm_proxy_upstream_attempts_total", { outcome });
      assert.equal(n, 1, outcome);
    }
  }, {
    keys: KEYS.slice(0, 1),
    configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n" +
      "    timeout: 0.3\n    auth_failure_cooldown: 0\n",
  });
});

Deno.test("/metrics and the log tell native streams from synthesized ones", async () => {
  // One fake for both backends: InternLM asks it for JSON, the openai backend for a stream.
  const up = await FakeUpstream.start((req): Reply =>
    req.body?.stream === true
      ? { kind: "sse", parts: sseEvents({ content: ["relayed", " as is"] }) }
      : completion("synthesized")
  );
  up.streams = true;
  const proxy = await startProxy({
    keys: KEYS.slice(0, 1),
    upstream: up.baseUrl,
    overrides: { logFormat: "json" },
    configText: `backends:
  internlm:
    type: internlm
  local:
    type: openai
    api_url: ${up.baseUrl}
    api_keys: ["${KEYS[1]}"]
default_backend: internlm
`,
  });
  try {
    for (const model of ["local/served-model", "internlm/internlm2.5-latest"]) {
      const res = await postChat(proxy, chatBody({ model, stream: true }), {
        "x-request-id": model,
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const { families } = await scrape(proxy);
    const streams = (backend: string, mode: string) =>
      sampleValue(families, "llm_proxy_streams_total", { backend, mode });
    assert.equal(streams("local", "native"), 1);
    assert.equal(streams("internlm", "synthesized"), 1);
    assert.equal(streams("local", "synthesized") + streams("internlm", "native"), 0);
    assert.equal(
      sampleValue(families, "llm_proxy_upstream_attempts_total", {
        backend: "local",
        outcome: "ok",
      }),
      1,
    );
    const modes = proxy.logs.map((l) => JSON.parse(l)).filter((r) =>
      r.msg === "request" && r.stream
    )
      .map((r) => [r.request_id, r.stream_mode]);
    assert.deepEqual(modes, [
      ["local/served-model", "native"],
      ["internlm/internlm2.5-latest", "synthesized"],
    ]);
  } finally {
    await proxy.close();
    await up.close();
  }
});

function assertFamilies(families: Map<string, MetricFamily>): void {
  const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
  assert.deepEqual(types, {
    llm_proxy_requests_total: "counter",
    llm_proxy_request_duration_seconds: "histogram",
    llm_proxy_requests_in_flight: "gauge",
    llm_proxy_streams_total: "counter",
    llm_proxy_upstream_attempts_total: "counter",
    llm_proxy_fallbacks_total: "counter",
    llm_proxy_upstream_duration_seconds: "histogram",
    llm_proxy_keys: "gauge",
    llm_proxy_response_store_items: "gauge",
    llm_proxy_response_store_bytes: "gauge",
    llm_proxy_response_store_evictions_total: "counter",
    process_resident_memory_bytes: "gauge",
    process_start_time_seconds: "gauge",
  });
  const rss = sampleValue(families, "process_resident_memory_bytes");
  assert.ok(rss > 1e6 && rss < 1e11, `rss ${rss}`);
  const started = sampleValue(families, "process_start_time_seconds");
  assert.ok(started > 1.6e9 && started <= Date.now() / 1000, `start ${started}`);
  for (const f of families.values()) assert.ok(f.help.length > 10, `${f.name} has a HELP text`);
}

Deno.test("/metrics: a client-chosen model name with quotes and newlines stays parseable", async () => {
  const model = 'odd "model"\\name\nsecond line';
  await withProxy(() => completion("fine"), async ({ proxy }) => {
    const res = await postChat(proxy, chatBody({ model }));
    await res.arrayBuffer();
    const { families } = await scrape(proxy);
    assert.equal(sampleValue(families, "llm_proxy_requests_total", { model }), 1);
  });
});

Deno.test("/metrics: a stream is in flight until its last byte", async () => {
  await withProxy(
    () => ({ kind: "hang" }),
    async ({ proxy }) => {
      const res = await postChat(proxy, chatBody({ stream: true }));
      const reader = res.body!.getReader();
      await reader.read(); // a keep-alive: the stream is committed
      let { families } = await scrape(proxy);
      assert.equal(sampleValue(families, "llm_proxy_requests_in_flight"), 2);
      assert.equal(sampleValue(families, "llm_proxy_requests_total", { route: "chat" }), 0);
      await reader.cancel();
      // The upstream call is aborted too; it reports its attempt once that abort lands.
      await eventually(async () => {
        ({ families } = await scrape(proxy));
        return sampleValue(families, "llm_proxy_upstream_attempts_total") > 0;
      }, "the aborted attempt to be counted");
      assert.equal(
        sampleValue(families, "llm_proxy_upstream_attempts_total", { outcome: "cancelled" }),
        1,
      );
      assert.equal(sampleValue(families, "llm_proxy_requests_in_flight"), 1);
      assert.equal(
        sampleValue(families, "llm_proxy_requests_total", { route: "chat", status: "200" }),
        1,
      );
    },
    { configText: "streaming:\n  keepalive_interval: 0.05\n" },
  );
});

Deno.test("/health?verbose=1 shows each key slot's state and why; plain /health stays short", async () => {
  await withProxy(
    (req) => req.key === KEYS[0] ? rateLimited(120) : openaiError(401, `bad key ${req.key}`),
    async ({ proxy }) => {
      const res = await postChat(proxy, chatBody());
      assert.equal(res.status, 429, "key 1 cooling, key 2 benched");
      await res.body?.cancel();

      const plain = await (await fetch(`${proxy.origin}/health`)).json();
      assert.equal(plain.backends.internlm.slots, undefined);

      const verbose = await fetch(`${proxy.origin}/health?verbose=1`);
      const text = await verbose.text();
      for (const key of KEYS) assert.ok(!text.includes(key));
      assert.ok(!text.includes("bad key"), "the upstream's words are not repeated");
      const slots = JSON.parse(text).backends.internlm.slots;
      assert.equal(slots.length, 2);
      assert.equal(slots[0].slot, 1);
      assert.equal(slots[0].state, "cooling");
      assert.equal(slots[0].reason, "rate-limited (429)");
      assert.ok(slots[0].remaining_seconds > 100 && slots[0].remaining_seconds <= 120);
      assert.ok(Math.abs(Date.parse(slots[0].until) - Date.now() - 120_000) < 10_000);
      assert.equal(slots[1].state, "benched");
      assert.equal(slots[1].reason, "rejected by InternLM (401)");
      assert.equal(typeof slots[1].until, "string");
    },
    { keys: KEYS },
  );
});

Deno.test("with client keys on, /metrics and verbose /health need one; plain /health does not", async () => {
  const client = "client-key-for-metrics-6e2f";
  await withProxy(() => completion("x"), async ({ proxy }) => {
    const status = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${proxy.origin}${path}`, { headers });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await status("/metrics"), 401);
    assert.equal(await status("/health?verbose=1"), 401);
    assert.equal(await status("/health"), 200);
    const auth = { authorization: `Bearer ${client}` };
    assert.equal(await status("/health?verbose=1", auth), 200);
    const { families } = await scrape(proxy, auth);
    const unauthorized = (route: string) =>
      sampleValue(families, "llm_proxy_requests_total", { route, status: "401" });
    assert.equal(unauthorized("metrics"), 1);
    assert.equal(unauthorized("health"), 1);
  }, { env: { LLM_PROXY_API_KEYS: client } });
});
