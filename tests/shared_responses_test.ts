/**
 * Stored Responses conversations in Redis, on a real `redis-server`: what one replica stores the
 * other reads, the store's count, bytes and TTL bounds hold for both together, a delete reaches
 * every copy, and an outage leaves each replica its own recent records. Then two `main.ts`
 * processes: a Responses chain started on A continues on B.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { loadConfig } from "../src/config/config.ts";
import { Logger } from "../src/operations/log.ts";
import { MemoryResponseStore } from "../src/state/memory_response_store.ts";
import { RedisState } from "../src/state/redis_state.ts";
import type { ResponseStore, StoredResponse } from "../src/state/response_store.ts";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { eventually } from "./proxy.ts";
import { RedisServer, redisTest, withRedis } from "./redis_server.ts";
import { spawnProxy } from "./subprocess.ts";

const record = (id: string, pad = 0): StoredResponse => ({
  response: { id, status: "completed", output: [], pad: "x".repeat(pad) },
  history: [{ type: "message", role: "user", content: "earlier" }],
  input: [{ type: "message", role: "user", content: `about ${id}` }],
});

const LIMITS = { maxItems: 100, maxBytes: 1 << 20, ttlMs: 60_000 };

async function replicas(
  url: string,
  prefix: string,
  limits = LIMITS,
): Promise<{ stores: ResponseStore[]; close(): Promise<void> }> {
  const states = [0, 1].map(() =>
    new RedisState({ url, timeoutMs: 200, prefix, log: new Logger("error", () => {}) })
  );
  for (const s of states) s.connect();
  await eventually(() => states.every((s) => s.status === "shared"), "shared", 10_000);
  return {
    stores: states.map((s) => s.responseStore(limits)),
    close: async () => void await Promise.all(states.map((s) => s.close())),
  };
}

async function kept(store: ResponseStore, ids: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const id of ids) if (await store.get(id)) found.push(id);
  return found;
}

redisTest("shared responses: stored on A, read on B; deleted on B, gone on A too", async () => {
  await withRedis(async (url, prefix) => {
    const { stores: [a, b], close } = await replicas(url, prefix);
    try {
      await a.put(record("resp_1"));
      assert.deepEqual(await b.get("resp_1"), record("resp_1"));
      assert.equal(await b.get("resp_unknown"), undefined);
      assert.equal(await b.delete("resp_1"), true);
      // A wrote it, so A had its own copy too: the delete's announcement takes it away.
      await eventually(async () => await a.get("resp_1") === undefined, "gone on A");
      assert.equal(await a.delete("resp_1"), false);
      assert.equal(a.stats?.().items, 0);
    } finally {
      await close();
    }
  });
});

redisTest("shared responses: count, bytes and TTL bound both replicas together", async () => {
  await withRedis(async (url, prefix) => {
    const size = JSON.stringify(record("resp_a", 1000)).length;
    const limits = { maxItems: 3, maxBytes: size * 10, ttlMs: 60_000 };
    const { stores: [a, b], close } = await replicas(url, prefix, limits);
    const redis = new Redis(url);
    try {
      await a.put(record("resp_a"));
      await b.put(record("resp_b"));
      await a.put(record("resp_c"));
      await b.get("resp_a"); // a is now more recent than b
      await b.put(record("resp_d")); // one over max_items: the least recently used (b) goes
      const ids = ["resp_a", "resp_b", "resp_c", "resp_d"];
      assert.deepEqual(await kept(b, ids), ["resp_a", "resp_c", "resp_d"]);
      assert.equal(b.stats?.().items, 3);
      assert.equal(b.stats?.().evictions.count, 1);
      // Redis holds the records, and a count of bytes that matches them.
      const bytes = Number(await redis.get(`${prefix}:responses:bytes`));
      const sizes = await redis.hvals(`${prefix}:responses:sizes`);
      assert.equal(bytes, sizes.map(Number).reduce((x, y) => x + y, 0));
      // Past max_bytes, the oldest go until it fits.
      await a.put(record("resp_big", size * 9));
      assert.deepEqual(await kept(a, ["resp_big"]), ["resp_big"]);
      assert.ok(Number(await redis.get(`${prefix}:responses:bytes`)) <= size * 10);
    } finally {
      redis.disconnect();
      await close();
    }
  });
});

redisTest("shared responses: a record unused for the TTL is gone from Redis", async () => {
  await withRedis(async (url, prefix) => {
    const { stores: [a, b], close } = await replicas(url, prefix, { ...LIMITS, ttlMs: 300 });
    const redis = new Redis(url);
    try {
      await b.put(record("resp_short"));
      assert.ok(await a.get("resp_short"));
      const ttl = await redis.pttl(`${prefix}:response:resp_short`);
      assert.ok(ttl > 0 && ttl <= 300, `PTTL ${ttl}`);
      await eventually(
        async () => await redis.exists(`${prefix}:response:resp_short`) === 0,
        "expired in Redis",
      );
      assert.equal(await a.get("resp_short"), undefined, "A never had a copy of its own");
    } finally {
      redis.disconnect();
      await close();
    }
  });
});

redisTest("shared responses: while Redis is away, each replica keeps what it stored", async () => {
  const server = await RedisServer.start();
  const { stores: [a, b], close } = await replicas(server.url, "outage");
  try {
    await a.put(record("resp_before"));
    await server.kill();
    await a.put(record("resp_during")); // no error: kept in A's memory
    assert.ok(await a.get("resp_during"));
    assert.ok(await a.get("resp_before"), "A's own copy");
    assert.equal(await b.get("resp_before"), undefined, "B has no copy of A's record");
    await server.restart();
    // What A stored alone reaches Redis, and so B, once Redis is back.
    await eventually(async () => await b.get("resp_during") !== undefined, "B reads it", 10_000);
    assert.deepEqual(await b.get("resp_during"), record("resp_during"));
  } finally {
    await close();
    await server.stop();
  }
}, { own: true });

Deno.test("responses.store: redis by default with a Redis URL, memory without; redis needs one", async () => {
  const logSink = () => {};
  assert.ok((await loadConfig({ env: {}, logSink })).responseStore instanceof MemoryResponseStore);
  const shared = await loadConfig({ env: { LLM_PROXY_REDIS_URL: "redis://127.0.0.1:1" }, logSink });
  assert.ok(!(shared.responseStore instanceof MemoryResponseStore));
  const memory = await loadConfig({
    env: { LLM_PROXY_REDIS_URL: "redis://127.0.0.1:1" },
    configText: "responses:\n  store:\n    type: memory\n",
    logSink,
  });
  assert.ok(memory.responseStore instanceof MemoryResponseStore);
  await assert.rejects(
    () => loadConfig({ env: {}, configText: "responses:\n  store:\n    type: redis\n", logSink }),
    /type redis needs state.redis_url/,
  );
});

redisTest(
  "replicas: a Responses chain started on A continues on B; deleted on B, gone on A",
  async () => {
    await withRedis(async (url, prefix) => {
      const up = await FakeUpstream.start(() => completion("noted"));
      const env = {
        INTERNAI_API_BASE_URL: up.baseUrl,
        INTERNAI_API_KEY: "sk-responses-replicas",
        LLM_PROXY_REDIS_URL: url,
        LLM_PROXY_CONFIG: await configFile(prefix),
      };
      const cwd = new URL("../", import.meta.url).pathname;
      const main = [Deno.execPath(), "run", ...RUNTIME_FLAGS, "main.ts"];
      const [a, b] = await Promise.all([
        spawnProxy(main, { cwd, env }),
        spawnProxy(main, { cwd, env }),
      ]);
      const post = async (origin: string, body: unknown) => {
        const res = await fetch(`${origin}/v1/responses`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 200);
        return await res.json();
      };
      try {
        for (const p of [a, b]) {
          await eventually(
            async () =>
              (await (await fetch(`${p.origin}/health?verbose=1`)).json()).state === "shared",
            "shared",
            10_000,
          );
        }
        const model = "internlm/internlm2.5-latest";
        const first = await post(a.origin, { model, input: "My name is Ada." });
        const second = await post(b.origin, {
          model,
          input: "What is my name?",
          previous_response_id: first.id,
        });
        assert.equal(second.previous_response_id, first.id);
        const sent = up.chatRequests()[1].body?.messages as { role: string; content: string }[];
        assert.deepEqual(
          sent.map((m) => [m.role, m.content]),
          [["user", "My name is Ada."], ["assistant", "noted"], ["user", "What is my name?"]],
        );
        // The third turn goes back to A, chained on what B stored.
        const third = await post(a.origin, {
          model,
          input: "Thanks.",
          previous_response_id: second.id,
        });
        assert.equal((up.chatRequests()[2].body?.messages as unknown[]).length, 5);
        assert.equal((await fetch(`${b.origin}/v1/responses/${first.id}`)).status, 200);
        const deleted = await fetch(`${b.origin}/v1/responses/${third.id}`, { method: "DELETE" });
        assert.equal(deleted.status, 200);
        await deleted.body?.cancel();
        await eventually(
          async () => {
            const res = await fetch(`${a.origin}/v1/responses/${third.id}`);
            await res.body?.cancel();
            return res.status === 404;
          },
          "deleted on B, gone on A",
        );
      } finally {
        await Promise.all([a.stop("SIGTERM"), b.stop("SIGTERM")]);
        await up.close();
      }
    });
  },
);

/** A config file giving the replicas their own key prefix on the shared Redis. */
async function configFile(prefix: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, `state:\n  prefix: ${prefix}\n`);
  return file;
}
