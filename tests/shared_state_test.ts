/**
 * Key verdicts shared through Redis between replicas, here two {@link RedisState}s in one process
 * on a real `redis-server`: what one learns the other applies, Redis holds digests and never a
 * key, a verdict reached alone during an outage reaches the others once Redis is back, and the
 * config, `/health?verbose=1` and `/metrics` say where the state lives.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { KeyPool } from "../src/backends/keys.ts";
import { loadConfig } from "../src/config/config.ts";
import { Logger } from "../src/operations/log.ts";
import { keyId } from "../src/state/key_id.ts";
import { RedisState } from "../src/state/redis_state.ts";
import { eventually, postChat, startProxy } from "./proxy.ts";
import { RedisServer, redisTest, withRedis } from "./redis_server.ts";
import { FakeUpstream, rateLimited } from "./fake_upstream.ts";

const KEYS = ["sk-replica-secret-one", "sk-replica-secret-two"];

function replica(url: string, prefix: string, lines: string[] = []) {
  const state = new RedisState({
    url,
    timeoutMs: 50,
    prefix,
    log: new Logger("debug", (line) => lines.push(line)),
  });
  const pool = new KeyPool(KEYS);
  state.shareKeys("internlm", pool, KEYS);
  state.connect();
  return { state, pool, lines };
}

redisTest("shared state: a cool-down reached on A is applied on B, with its expiry", async () => {
  await withRedis(async (url, prefix) => {
    const a = replica(url, prefix);
    const b = replica(url, prefix);
    try {
      await eventually(() => a.state.status === "shared" && b.state.status === "shared", "shared");
      const until = Date.now() + 30_000;
      a.pool.coolDown(1, until, "rate-limited (429)");
      await eventually(() => b.pool.state(1) === "cooling", "B sees key 2 cooling");
      assert.equal(b.pool.until(1), until);
      assert.deepEqual(b.pool.slotStates()[1], {
        slot: 2,
        state: "cooling",
        until,
        reason: "rate-limited (429)",
      });
      assert.equal(b.pool.state(0), "usable");
      // A 429 for one model cools the key for that model only, on every replica.
      a.pool.coolDown(0, until, "rate-limited for intern-s1 (429)", "intern-s1");
      await eventually(
        () => !b.pool.usable(0, new Set(), "intern-s1"),
        "B: key 1 off for intern-s1",
      );
      assert.ok(b.pool.usable(0, new Set(), "intern-s1-mini"), "other models keep it");
      // A bench travels the same way, and a shorter verdict never cuts a longer one short.
      b.pool.bench(0, Date.now() + 600_000, "rejected by InternLM (401)");
      await eventually(() => a.pool.state(0) === "benched", "A sees key 1 benched");
      a.pool.coolDown(1, until - 20_000);
      assert.equal(a.pool.until(1), until);
    } finally {
      await a.state.close();
      await b.state.close();
    }
  });
});

redisTest(
  "shared state: Redis holds key digests with the verdict's expiry, never a key",
  async () => {
    await withRedis(async (url, prefix) => {
      const a = replica(url, prefix);
      const redis = new Redis(url);
      try {
        await eventually(() => a.state.status === "shared", "shared");
        a.pool.coolDown(0, Date.now() + 20_000, "rate-limited (429)");
        a.pool.bench(1, Date.now() + 600_000, "rejected by InternLM (401)");
        const names = `${prefix}:verdict:internlm:`;
        await eventually(async () => (await redis.keys(`${prefix}:*`)).length === 2, "2 entries");
        const keys = (await redis.keys(`${prefix}:*`)).sort();
        assert.deepEqual(keys, [names + keyId(KEYS[0]), names + keyId(KEYS[1])].sort());
        const ttl = await redis.pttl(names + keyId(KEYS[0]));
        assert.ok(ttl > 0 && ttl <= 20_000, `PTTL ${ttl}`);
        const values = await redis.mget(keys);
        for (const text of [...keys, ...values.map(String)]) {
          for (const key of KEYS) assert.ok(!text.includes(key), `a key in Redis: ${text}`);
        }
        assert.match(String(values[0]), /"state":"(cooling|benched)"/);
      } finally {
        redis.disconnect();
        await a.state.close();
      }
    });
  },
);

redisTest(
  "shared state: during an outage each replica is alone; then they share again",
  async () => {
    const server = await RedisServer.start();
    const prefix = "outage";
    const a = replica(server.url, prefix);
    const b = replica(server.url, prefix);
    try {
      await eventually(() => a.state.status === "shared" && b.state.status === "shared", "shared");
      await server.kill();
      await eventually(() => a.state.status === "degraded", "A degraded", 10_000);
      // Learnt alone: applied at once locally, and nowhere else for now.
      const until = Date.now() + 60_000;
      a.pool.coolDown(0, until, "rate-limited (429)");
      a.pool.coolDown(1, until, "rate-limited for intern-s1 (429)", "intern-s1");
      assert.equal(a.pool.state(0), "cooling");
      await server.restart();
      await eventually(
        () => a.state.status === "shared" && b.state.status === "shared",
        "shared",
        10_000,
      );
      await eventually(() => b.pool.state(0) === "cooling", "B learns A's verdict from the outage");
      assert.equal(b.pool.until(0), until);
      await eventually(() => !b.pool.usable(1, new Set(), "intern-s1"), "and the per-model one");
      // A replica that comes later finds both in Redis: A wrote them there once it was back.
      const c = replica(server.url, prefix);
      try {
        await eventually(() => c.state.status === "shared", "C shared", 10_000);
        assert.equal(c.pool.state(0), "cooling");
        assert.ok(!c.pool.usable(1, new Set(), "intern-s1"), "C pulled the per-model verdict");
      } finally {
        await c.state.close();
      }
      // One warning per replica for the whole outage, however many calls failed.
      for (const r of [a, b]) {
        assert.equal(
          r.lines.filter((l) => l.includes("unavailable")).length,
          1,
          r.lines.join("\n"),
        );
        assert.equal(r.lines.filter((l) => l.includes("sharing resumed")).length, 1);
      }
    } finally {
      await a.state.close();
      await b.state.close();
      await server.stop();
    }
  },
  { own: true },
);

redisTest(
  "shared state: config and env choose Redis; /health?verbose=1 and /metrics show it",
  async () => {
    const server = await RedisServer.start();
    const up = await FakeUpstream.start(() => rateLimited(30));
    const proxy = await startProxy({
      upstream: up.baseUrl,
      configText: `state:\n  redis_url: ${server.url}\n  timeout: 0.2\n  prefix: health\n`,
    });
    try {
      const verbose = async () => await (await fetch(`${proxy.origin}/health?verbose=1`)).json();
      await eventually(async () => (await verbose()).state === "shared", "state shared", 10_000);
      const plain = await (await fetch(`${proxy.origin}/health`)).json();
      assert.equal(plain.state, undefined, "plain /health stays counts only");
      const metrics = async () => await (await fetch(`${proxy.origin}/metrics`)).text();
      assert.match(await metrics(), /^llm_proxy_state_degraded 0$/m);
      await server.kill();
      await eventually(async () => (await verbose()).state === "degraded", "degraded", 10_000);
      assert.match(await metrics(), /^llm_proxy_state_degraded 1$/m);
      // Requests are still answered, from local state: here the upstream's own 429, cooled locally.
      const res = await postChat(proxy, {
        model: "internlm/internlm2.5-latest",
        messages: [{ role: "user", content: "hi" }],
      });
      assert.equal(res.status, 429);
      await res.body?.cancel();
      assert.equal((await verbose()).backends.internlm.slots[0].state, "cooling");
      await server.restart();
      await eventually(async () => (await verbose()).state === "shared", "shared again", 10_000);
      assert.equal(
        proxy.logs.filter((l) => l.includes("unavailable")).length,
        1,
        proxy.logs.join("\n"),
      );
    } finally {
      await proxy.close();
      await up.close();
      await server.stop();
    }
  },
  { own: true },
);

Deno.test("state config: memory by default; a bad URL, timeout or prefix is a startup error", async () => {
  const logSink = () => {};
  assert.equal((await loadConfig({ env: {}, logSink })).state.status, "local");
  const bad = (configText: string, env: Record<string, string> = {}) =>
    assert.rejects(() => loadConfig({ env, configText, logSink }), /state|LLM_PROXY_REDIS_URL/);
  await bad("state:\n  redis_url: http://127.0.0.1:6379\n");
  await bad("", { LLM_PROXY_REDIS_URL: "not a url" });
  await bad("state:\n  timeout: fast\n");
  await bad("state:\n  prefix: 'has space'\n");
  await bad("state:\n  unknown: 1\n");
  const config = await loadConfig({
    env: { LLM_PROXY_REDIS_URL: "redis://127.0.0.1:1" },
    configText: "state:\n  redis_url: http://ignored\n",
    logSink,
  });
  // The env URL wins; nothing is dialled until the handler starts it.
  assert.equal(config.state.status, "degraded");
});
