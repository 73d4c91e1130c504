/**
 * The pinned Redis client (ioredis, see deno.json) under Deno, against a real `redis-server`:
 * connecting, pipelining, the per-call deadline of {@link RedisLink} on a Redis that stopped
 * answering, and reconnecting after Redis was killed and restarted.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Logger } from "../src/operations/log.ts";
import { backoffMs, redisAddress, RedisLink } from "../src/state/redis_link.ts";
import { eventually } from "./proxy.ts";
import { RedisServer, redisTest, withRedis } from "./redis_server.ts";

function link(url: string, lines: string[], timeoutMs = 50): RedisLink {
  const l = new RedisLink({
    url,
    timeoutMs,
    log: new Logger("debug", (line) => lines.push(line)),
    channel: "test-channel",
    onMessage: () => {},
  });
  l.connect();
  return l;
}

redisTest(
  "ioredis under Deno: connects, and a pipeline answers every command in order",
  async () => {
    await withRedis(async (url, prefix) => {
      const redis = new Redis(url);
      try {
        const key = `${prefix}:pipeline`;
        const results = await redis.pipeline()
          .set(key, "1", "PX", 60_000)
          .incr(key)
          .get(key)
          .pttl(key)
          .del(key)
          .exec();
        assert.ok(results);
        assert.deepEqual(results.map(([err]) => err), [null, null, null, null, null]);
        assert.deepEqual(results.slice(0, 3).map(([, v]) => v), ["OK", 2, "2"]);
        const ttl = results[3][1] as number;
        assert.ok(ttl > 0 && ttl <= 60_000, `PTTL ${ttl}`);
      } finally {
        redis.disconnect();
      }
    });
  },
);

redisTest(
  "RedisLink: a Redis that stops answering is given up per call, not waited for",
  async () => {
    const server = await RedisServer.start();
    const lines: string[] = [];
    const l = link(server.url, lines);
    try {
      await eventually(() => l.shared, "link shared", 10_000);
      assert.deepEqual(await l.call((r) => r.set("k", "v")), "OK");
      server.pause();
      // Each call resolves (to "no answer") instead of hanging; the first turns the link degraded.
      assert.deepEqual(await l.call((r) => r.get("k")), undefined);
      assert.deepEqual(l.shared, false);
      for (let i = 0; i < 20; i++) assert.deepEqual(await l.call((r) => r.get("k")), undefined);
      const warnings = lines.filter((line) => line.includes("unavailable"));
      assert.deepEqual(warnings.length, 1, lines.join("\n"));
      assert.ok(warnings[0].includes("no answer within 50 ms"), warnings[0]);
      server.resume();
      await eventually(() => l.shared, "link shared again after SIGCONT", 10_000);
      assert.deepEqual(await l.call((r) => r.get("k")), "v");
      assert.ok(lines.some((line) => line.includes("is back; sharing resumed")), lines.join("\n"));
    } finally {
      await l.close();
      await server.stop();
    }
  },
  { own: true },
);

redisTest("RedisLink: reconnects by itself after Redis is killed and restarted", async () => {
  const server = await RedisServer.start();
  const lines: string[] = [];
  const l = link(server.url, lines);
  try {
    await eventually(() => l.shared, "link shared", 10_000);
    await server.kill();
    await eventually(() => !l.shared, "link degraded after the kill", 10_000);
    // While Redis is away, calls fail at once (no queue behind the reconnect).
    assert.deepEqual(await l.call((r) => r.ping()), undefined);
    await server.restart();
    await eventually(() => l.shared, "link shared again after the restart", 10_000);
    assert.deepEqual(await l.call((r) => r.ping()), "PONG");
    assert.deepEqual(l.outages, 1);
    assert.deepEqual(
      lines.filter((line) => line.includes("unavailable")).length,
      1,
      lines.join("\n"),
    );
  } finally {
    await l.close();
    await server.stop();
  }
}, { own: true });

redisTest("RedisLink: a Redis that is not there at start is dialled until it is", async () => {
  const server = await RedisServer.start();
  await server.kill();
  const lines: string[] = [];
  const l = link(server.url, lines);
  try {
    await eventually(() => lines.some((line) => line.includes("unavailable")), "warned", 10_000);
    assert.deepEqual(l.shared, false);
    await server.restart();
    await eventually(() => l.shared, "link shared once Redis is up", 10_000);
  } finally {
    await l.close();
    await server.stop();
  }
}, { own: true });

Deno.test("backoffMs doubles from 100 ms to at most 2 s, with jitter", () => {
  for (let i = 0; i < 50; i++) {
    const first = backoffMs(1);
    assert.ok(first >= 75 && first <= 125, `${first}`);
    const late = backoffMs(30);
    assert.ok(late >= 1500 && late <= 2500, `${late}`);
  }
});

Deno.test("redisAddress shows host and port, never a password", () => {
  assert.deepEqual(redisAddress("redis://:s3cret@cache.internal:6380/2"), "cache.internal:6380");
  assert.deepEqual(redisAddress("rediss://user:pw@cache"), "cache:6379");
});
