// The embedded response store: bounded by count and bytes (least recently used out first), a TTL
// renewed by use, copies in and out; its config section and its sizes in /metrics.
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { MemoryResponseStore } from "../src/state/memory_response_store.ts";
import type { StoredResponse } from "../src/state/response_store.ts";
import { completion } from "./fake_upstream.ts";
import { withProxy } from "./proxy.ts";

const record = (id: string, pad = 0): StoredResponse => ({
  response: { id, output: [], pad: "x".repeat(pad) },
  history: [],
  input: [],
});
const ids = async (store: MemoryResponseStore, all: string[]) => {
  const kept: string[] = [];
  for (const id of all) if (await store.get(id)) kept.push(id);
  return kept;
};

Deno.test("store: past max_items the least recently used goes first", async () => {
  const store = new MemoryResponseStore({ maxItems: 2, maxBytes: 1 << 20, ttlMs: 60_000 });
  await store.put(record("a"));
  await store.put(record("b"));
  await store.get("a"); // a is now the more recent
  await store.put(record("c"));
  assert.deepEqual(await ids(store, ["a", "b", "c"]), ["a", "c"]);
  assert.equal(store.stats().evictions.count, 1);
});

Deno.test("store: past max_bytes records go until it fits; one bigger than the store is not kept", async () => {
  const size = JSON.stringify(record("a", 1000)).length;
  const store = new MemoryResponseStore({ maxItems: 100, maxBytes: size * 3, ttlMs: 60_000 });
  for (const id of ["a", "b", "c", "d"]) await store.put(record(id, 1000));
  assert.deepEqual(await ids(store, ["a", "b", "c", "d"]), ["b", "c", "d"]);
  assert.ok(store.stats().bytes <= size * 3);
  await store.put(record("huge", size * 4));
  assert.equal(await store.get("huge"), undefined);
  assert.deepEqual(await ids(store, ["b", "c", "d"]), ["b", "c", "d"], "nothing else was evicted");
  assert.deepEqual(store.stats().evictions, { count: 0, bytes: 2, ttl: 0 });
});

Deno.test("store: a record unused for the TTL is gone; a read renews it", async () => {
  let now = 0;
  const store = new MemoryResponseStore({
    maxItems: 10,
    maxBytes: 1 << 20,
    ttlMs: 100,
    now: () => now,
  });
  await store.put(record("a"));
  await store.put(record("b"));
  now = 90;
  assert.ok(await store.get("a"));
  now = 150;
  assert.ok(await store.get("a"), "renewed at 90");
  assert.equal(await store.get("b"), undefined, "expired at 100");
  assert.equal(store.stats().items, 1);
  assert.equal(store.stats().evictions.ttl, 1);
});

Deno.test("store: replacing and deleting keep the byte count exact; reads are copies", async () => {
  const store = new MemoryResponseStore({ maxItems: 10, maxBytes: 1 << 20, ttlMs: 60_000 });
  await store.put(record("a", 10));
  await store.put(record("a", 20));
  assert.equal(store.stats().bytes, JSON.stringify(record("a", 20)).length);
  const got = (await store.get("a"))!;
  got.response.pad = "changed";
  assert.notEqual((await store.get("a"))!.response.pad, "changed");
  assert.equal(await store.delete("a"), true);
  assert.equal(await store.delete("a"), false);
  assert.deepEqual([store.stats().items, store.stats().bytes], [0, 0]);
});

Deno.test("config: responses.store sets the bounds; typos and bad values fail with the key", async () => {
  const text = "responses:\n  store:\n    max_items: 3\n    max_bytes: 4096\n    ttl: 60\n";
  const store = (await loadConfig({ configText: text, logSink: () => {} })).responseStore;
  assert.ok(store instanceof MemoryResponseStore);
  for (
    const [bad, message] of [
      ["responses:\n  store:\n    max_itemz: 3\n", /max_itemz is not a known setting/],
      [
        "responses:\n  store:\n    type: disk\n",
        /responses.store.type must be one of: memory, redis/,
      ],
      ["responses:\n  store:\n    type: redis\n", /type redis needs state.redis_url/],
      ["responses:\n  store:\n    ttl: -1\n", /ttl must be between/],
      ["responses:\n  cache: {}\n", /responses.cache is not a known setting/],
    ] as const
  ) {
    await assert.rejects(() => loadConfig({ configText: bad, logSink: () => {} }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("metrics: the store's items, bytes and evictions are in /metrics", async () => {
  await withProxy(() => completion("ok"), async ({ proxy }) => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${proxy.baseUrl}/responses`, {
        method: "POST",
        body: JSON.stringify({ model: "internlm/x", input: `turn ${i}` }),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const text = await (await fetch(`${proxy.origin}/metrics`)).text();
    assert.match(text, /^llm_proxy_response_store_items 2$/m);
    assert.match(text, /^llm_proxy_response_store_bytes [1-9]\d*$/m);
    assert.match(text, /^llm_proxy_response_store_evictions_total\{reason="count"\} 1$/m);
    assert.match(
      text,
      /^llm_proxy_requests_total\{frontend="responses",route="responses",backend="internlm",model="x",status="200"\} 3$/m,
    );
  }, { configText: "responses:\n  store:\n    max_items: 2\n" });
});
