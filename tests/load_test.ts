// Load: 200 concurrent streaming clients against a slow upstream (1-2 s per answer) all get their
// own answer back intact, and the proxy's memory returns near where it started. Bounded: one wave
// of 200, a few seconds. Throughput is the benchmark's business (deno task bench), not this test's.
import assert from "node:assert/strict";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, parseSse, postChat, startProxy, type TestProxy } from "./proxy.ts";

const CLIENTS = 200;
const MiB = 1024 * 1024;

/** Present when V8 runs with --expose-gc (`deno task test` passes it). */
const gc = (globalThis as { gc?: () => void }).gc;

/** Heap and RSS after a full collection, when one can be forced. */
function memory(): { heap: number; rss: number } {
  gc?.();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { heap: heapUsed, rss };
}

/** The answer for client `i`: distinct per client, multi-byte characters included. */
function answerFor(i: number): string {
  return `client ${i}: ` + `naïve café ✓ 你好 🙂 line ${i} `.repeat(1500 + (i % 17) * 10);
}

/** Streams one request; keeps only the verdict, so the test itself holds no answer text. */
async function streamOne(proxy: TestProxy, i: number) {
  const res = await postChat(
    proxy,
    chatBody({ stream: true, messages: [{ role: "user", content: String(i) }] }),
  );
  assert.equal(res.status, 200);
  const { data, comments } = parseSse(await res.text());
  const chunks = data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
  const text = chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join("");
  const errors = chunks.filter((c) => c.error).length;
  return {
    intact: text === answerFor(i) && data.at(-1) === "[DONE]" && errors === 0,
    keepAlives: comments.length,
  };
}

Deno.test("load: 200 concurrent streams from a slow upstream arrive intact; memory recovers", async () => {
  const up = await FakeUpstream.start((req) => {
    const i = Number((req.body?.messages as Array<{ content: string }>)[0].content);
    // 1-2 s per answer, spread evenly, so streams commit (keep-alive) and finish at different times.
    // (Warm-up requests, numbered from CLIENTS on, are answered at once.)
    return completion(answerFor(i), { delayMs: i < CLIENTS ? 1000 + (i * 997) % 1000 : 0 });
  });
  let answerBytes = 0;
  for (let i = 0; i < CLIENTS; i++) answerBytes += new TextEncoder().encode(answerFor(i)).length;
  const proxy = await startProxy({
    upstream: up.baseUrl,
    keys: ["sk-load-1", "sk-load-2", "sk-load-3"],
    configText: "streaming:\n  keepalive_interval: 0.5\n  chunk_size: 1024\n",
    overrides: { logLevel: "warn" },
  });
  let results;
  let before, peak;
  try {
    // Warm up, so lazily compiled code and pools are not counted as growth.
    for (let i = CLIENTS; i < CLIENTS + 3; i++) {
      assert.ok((await streamOne(proxy, i)).intact);
    }
    before = memory();
    peak = before;
    const sampler = setInterval(() => {
      const now = Deno.memoryUsage();
      if (now.heapUsed > peak!.heap) peak = { heap: now.heapUsed, rss: now.rss };
    }, 50);
    try {
      results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => streamOne(proxy, i)));
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await proxy.close();
    await up.close();
  }
  const after = memory();

  const intact = results.filter((r) => r.intact).length;
  const committed = results.filter((r) => r.keepAlives > 0).length;
  assert.equal(up.chatRequests().length, CLIENTS + 3);
  assert.equal(intact, CLIENTS, `${CLIENTS - intact} streams differ from the upstream`);
  const mb = (n: number) => (n / MiB).toFixed(1);
  const grown = after.heap - before.heap;
  console.log(
    `load: ${CLIENTS} concurrent streams (${mb(answerBytes)} MiB of answers), ${intact} intact, ` +
      `${committed} committed with keep-alives; heap ${mb(before.heap)} → peak ` +
      `${mb(peak.heap)} → ${mb(after.heap)} MiB, rss ${mb(before.rss)} → ${mb(after.rss)} MiB ` +
      `(${gc ? "after GC" : "no GC available"})`,
  );
  // Everything a finished stream held is garbage now: the heap is back near where it started,
  // well below what keeping even half of the answers would take.
  const bound = gc ? Math.min(8 * MiB, answerBytes / 2) : 64 * MiB;
  assert.ok(grown < bound, `heap grew by ${mb(grown)} MiB`);
});
