/**
 * Key pacing shared through Redis: two replicas' requests on one key add up to its `rpm`, not to
 * twice it. First the shared budget of two {@link RedisState}s in one process, then two `main.ts`
 * processes under a burst, the upstream counting what arrives.
 */

import assert from "node:assert/strict";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { Logger } from "../src/operations/log.ts";
import { KeyPool } from "../src/backends/keys.ts";
import { RedisState } from "../src/state/redis_state.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, eventually } from "./proxy.ts";
import { RedisServer, redisTest, withRedis } from "./redis_server.ts";
import { spawnProxy } from "./subprocess.ts";

const KEY = "sk-paced-replica-key";

redisTest(
  "shared pacing: a key A just used is B's only after the interval; tokens count too",
  async () => {
    await withRedis(async (url, prefix) => {
      const states = [0, 1].map(() =>
        new RedisState({ url, timeoutMs: 200, prefix, log: new Logger("error", () => {}) })
      );
      try {
        const shares = states.map((s) => {
          s.shareKeys("internlm", new KeyPool([KEY]), [KEY]);
          s.connect();
          return s.sharePacing("internlm", { rpm: 30, tpm: 6000 });
        });
        await eventually(() => states.every((s) => s.status === "shared"), "shared", 10_000);
        const [a, b] = shares;
        assert.equal(await a.take(0, 100), 0, "A takes the key");
        const wait = await b.take(0, 100);
        assert.ok(wait > 1000 && wait <= 2000, `B waits for the rest of 2 s: ${wait} ms`);
        // tpm: A's answer used 5000 tokens more than it was charged; the bucket has 900 left.
        a.charge(0, 5000);
        await eventually(async () => {
          const w = await b.take(0, 2000);
          return w > 2000; // the bucket, not the interval, is what B waits for now
        }, "B waits for tokens");
      } finally {
        await Promise.all(states.map((s) => s.close()));
      }
    });
  },
);

redisTest("shared pacing: with Redis away the replica's own pacer decides", async () => {
  const server = await RedisServer.start();
  const state = new RedisState({
    url: server.url,
    timeoutMs: 50,
    prefix: "away",
    log: new Logger("error", () => {}),
  });
  try {
    state.shareKeys("internlm", new KeyPool([KEY]), [KEY]);
    state.connect();
    const share = state.sharePacing("internlm", { rpm: 30 });
    await eventually(() => state.status === "shared", "shared", 10_000);
    await server.kill();
    await eventually(() => state.status === "degraded", "degraded", 10_000);
    assert.equal(await share.take(0, 0), 0);
    assert.equal(await share.take(0, 0), 0, "no shared budget to refuse it");
  } finally {
    await state.close();
    await server.stop();
  }
}, { own: true });

redisTest(
  "replicas: rpm 600 on one key over two replicas is one call per 100 ms in all",
  async () => {
    await withRedis(async (url, prefix) => {
      const arrivals: number[] = [];
      const up = await FakeUpstream.start(() => {
        arrivals.push(performance.now());
        return completion("paced");
      });
      const config = await Deno.makeTempFile({ suffix: ".yaml" });
      await Deno.writeTextFile(
        config,
        "backends:\n  internlm:\n    type: internlm\n    rpm: 600\n    queue_timeout: 1\n" +
          `state:\n  prefix: ${prefix}\n`,
      );
      const env = {
        INTERNAI_API_BASE_URL: up.baseUrl,
        INTERNAI_API_KEY: KEY,
        LLM_PROXY_REDIS_URL: url,
        LLM_PROXY_CONFIG: config,
      };
      const cwd = new URL("../", import.meta.url).pathname;
      const main = [Deno.execPath(), "run", ...RUNTIME_FLAGS, "main.ts"];
      const procs = await Promise.all([
        spawnProxy(main, { cwd, env }),
        spawnProxy(main, { cwd, env }),
      ]);
      try {
        for (const p of procs) {
          await eventually(
            async () =>
              (await (await fetch(`${p.origin}/health?verbose=1`)).json()).state === "shared",
            "shared",
            10_000,
          );
        }
        const start = performance.now();
        const statuses = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
          const res = await fetch(`${procs[i % 2].origin}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(chatBody()),
          });
          if (res.status === 429) assert.ok(res.headers.get("retry-after"), "429 with retry-after");
          await res.body?.cancel();
          return res.status;
        }));
        assert.deepEqual(statuses.filter((s) => s !== 200 && s !== 429), [], "200 or 429 only");
        const span = arrivals[arrivals.length - 1] - start;
        // One call at once, then one per 100 ms for both replicas together; each replica alone
        // would send as many again.
        const allowed = Math.floor(span / 100) + 1;
        assert.ok(
          arrivals.length <= allowed,
          `${arrivals.length} calls in ${span} ms (≤ ${allowed})`,
        );
        assert.ok(arrivals.length >= 5, `the key was used: ${arrivals.length} calls`);
        assert.equal(statuses.filter((s) => s === 200).length, arrivals.length);
        console.log(
          `rpm 600 over two replicas: ${arrivals.length} calls in ${Math.round(span)} ms`,
        );
      } finally {
        await Promise.all(procs.map((p) => p.stop("SIGTERM")));
        await up.close();
      }
    });
  },
);
