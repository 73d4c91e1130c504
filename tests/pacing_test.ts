// Key pacing (rpm, tpm, the queue and its limit) on an injected clock, and the cool-down scope of
// 429s (one model or every model) and 403s (a content refusal benches nothing).
import assert from "node:assert/strict";
import { ApiError } from "../src/canonical/errors.ts";
import { KeyPool } from "../src/backends/keys.ts";
import { KeyPacer } from "../src/backends/key_pacing.ts";
import { KeyQueue } from "../src/backends/key_queue.ts";
import { isContentRefusal, isPerModelLimit } from "../src/backends/refusals.ts";
import {
  OpenAICompatibleBackend,
  readOpenAICompatibleOptions,
} from "../src/backends/openai_compatible.ts";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { ConfigSection } from "../src/config/config_section.ts";
import { Logger } from "../src/operations/log.ts";
import { completion, FakeUpstream, openaiError, type Reply } from "./fake_upstream.ts";
import { chatBody, eventually, postChat, withProxy } from "./proxy.ts";
import { FakeClock } from "./fake_clock.ts";

const MINUTE = 60_000;

Deno.test("pacer: rpm spreads one key's requests evenly; tpm is a bucket of a minute's tokens", () => {
  const clock = new FakeClock();
  const start = clock.now();
  const rpm = new KeyPacer(1, { rpm: 30 }, clock);
  assert.ok(rpm.ready(0, 0));
  rpm.take(0, 0);
  assert.equal(rpm.readyAt(0, 0), start + 2000);
  assert.ok(!rpm.ready(0, 0));

  const tpm = new KeyPacer(1, { tpm: 6000 }, clock);
  tpm.take(0, 5000);
  assert.ok(tpm.ready(0, 1000));
  assert.ok(!tpm.ready(0, 2000));
  // 1000 tokens missing, at 100 a second: 10 s.
  assert.equal(tpm.readyAt(0, 2000), start + 10_000);
  // The answer used less than charged: the rest comes back.
  tpm.charge(0, -3000);
  assert.ok(tpm.ready(0, 4000));
  // A request larger than the bucket waits for a full bucket, not for ever.
  assert.ok(tpm.readyAt(0, 1_000_000) <= start + MINUTE);
});

/** A simulated upstream that refuses (429) a key's 31st request within a minute. */
class BudgetedUpstream {
  readonly seen: Array<{ request: number; key: number; at: number }> = [];
  refused = 0;

  constructor(private readonly clock: FakeClock, private readonly rpm: number) {}

  call(request: number, key: number): boolean {
    const now = this.clock.now();
    const recent = this.seen.filter((s) => s.key === key && s.at > now - MINUTE).length;
    this.seen.push({ request, key, at: now });
    if (recent >= this.rpm) this.refused++;
    return recent < this.rpm;
  }
}

Deno.test("queue: a burst of 100 on 3 keys at rpm 30: no upstream 429, even spread, in order, 429 at the limit", async () => {
  const clock = new FakeClock();
  const pool = new KeyPool(["k1", "k2", "k3"], () => clock.now());
  const pacer = new KeyPacer(3, { rpm: 30 }, clock);
  const queue = new KeyQueue(pool, pacer, clock);
  const upstream = new BudgetedUpstream(clock, 30);
  const start = clock.now();
  const signal = new AbortController().signal;
  const outcomes: Array<"ok" | ApiError> = [];
  const burst = Array.from({ length: 100 }, async (_, request) => {
    try {
      const lease = await queue.lease(
        { tried: new Set(), model: "m", tokens: 0 },
        signal,
        59_000,
        "InternLM",
      );
      assert.ok(lease, "a key is usable");
      assert.ok(upstream.call(request, lease.index), `request ${request} refused upstream`);
      outcomes[request] = "ok";
    } catch (err) {
      assert.ok(err instanceof ApiError, String(err));
      outcomes[request] = err;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  await clock.advance(2 * MINUTE);
  await Promise.all(burst);

  assert.equal(upstream.refused, 0, "no call was sent that the upstream would refuse");
  // Two seconds per key: 3 at once, then 3 every 2 s, for as long as the 59 s queue time allows.
  const served = outcomes.map((o, i) => [i, o] as const).filter(([, o]) => o === "ok");
  assert.equal(served.length, 90);
  for (const { request, at } of upstream.seen) {
    assert.equal(at - start, 2000 * Math.floor(request / 3), `request ${request} served in order`);
  }
  for (let key = 0; key < 3; key++) {
    const times = upstream.seen.filter((s) => s.key === key).map((s) => s.at);
    assert.equal(times.length, 30, `key ${key + 1} took its share`);
    assert.ok(times.slice(1).every((t, i) => t - times[i] === 2000), "evenly spaced");
  }
  // The last 10 waited their queue time out: 429, with when to come back.
  for (let request = 90; request < 100; request++) {
    const err = outcomes[request] as ApiError;
    assert.ok(err instanceof ApiError, `request ${request}: ${err}`);
    assert.equal(err.status, 429);
    assert.equal(err.code, "rate_limit_exceeded");
    assert.ok(Number(err.headers["retry-after"]) >= 1);
    assert.match(err.message, /every InternLM API key is at its budget of 30 requests a minute/);
  }
  assert.equal(queue.length, 0);
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("queue: a waiting request that hangs up leaves the queue; the next takes its turn", async () => {
  const clock = new FakeClock();
  const pool = new KeyPool(["k1"], () => clock.now());
  const queue = new KeyQueue(pool, new KeyPacer(1, { rpm: 60 }, clock), clock);
  const want = { tried: new Set<number>(), model: "m", tokens: 0 };
  const never = new AbortController().signal;
  assert.ok(await queue.lease(want, never, 10_000, "X"));
  const leaving = new AbortController();
  const first = queue.lease(want, leaving.signal, 10_000, "X");
  const second = queue.lease(want, never, 10_000, "X");
  leaving.abort(new ApiError(499, "gone"));
  await assert.rejects(first, /gone/);
  await clock.advance(1000);
  assert.ok(await second);
  assert.equal(clock.pending, 0);
});

/** An OpenAI-compatible backend on `url` with `keys`, paced by `clock`. */
function pacedBackend(
  url: string,
  keys: string[],
  extra: Record<string, unknown>,
  clock: FakeClock,
) {
  const log = new Logger("error", () => {});
  const section = new ConfigSection(["backends", "b"], {
    type: "openai",
    api_url: url,
    api_keys: keys,
    ...extra,
  });
  const options = readOpenAICompatibleOptions(
    { name: "b", section, env: {}, log },
    { vendor: "B", keyEnv: "B_API_KEY", catalogue: [], streamMode: "native" },
  );
  return new OpenAICompatibleBackend({ ...options, clock }, log);
}

Deno.test("pacing end to end: 100 requests through a backend with rpm 30 on 3 keys never meet a 429", async () => {
  const clock = new FakeClock();
  const start = clock.now();
  const perKey = new Map<string, number[]>();
  let refused = 0;
  const up = await FakeUpstream.start((req): Reply => {
    const now = clock.now();
    const times = perKey.get(req.key!) ?? [];
    perKey.set(req.key!, [...times, now]);
    if (times.filter((t) => t > now - MINUTE).length >= 30) {
      refused++;
      return openaiError(429, "Rate limit exceeded");
    }
    return completion("ok");
  });
  try {
    const backend = pacedBackend(up.baseUrl, ["k-1", "k-2", "k-3"], {
      rpm: 30,
      queue_timeout: 59,
    }, clock);
    const signal = new AbortController().signal;
    const log = new Logger("error", () => {});
    const results = Array.from(
      { length: 100 },
      (_, i) =>
        backend.complete({ model: "m", messages: [{ role: "user", content: `request ${i}` }] }, {
          signal,
          log,
          stats: { attempts: 0, upstreamMs: 0 },
        }).then(() => 200, (err: ApiError) => err.status),
    );
    for (let step = 0; step <= 30; step++) {
      const expected = Math.min(90, 3 * (step + 1));
      await eventually(() => up.chatRequests().length === expected, `${expected} upstream calls`);
      await clock.advance(2000);
    }
    const statuses = await Promise.all(results);
    assert.equal(refused, 0);
    assert.deepEqual(statuses.slice(0, 90), new Array(90).fill(200));
    assert.deepEqual(statuses.slice(90), new Array(10).fill(429));
    assert.deepEqual([...perKey.values()].map((t) => t.length), [30, 30, 30]);
    // Served in the order they came: request i reached the upstream in round i / 3.
    up.chatRequests().forEach((r, n) => {
      const i = Number(
        String((r.body?.messages as { content: string }[])[0].content).split(" ")[1],
      );
      assert.equal(
        Math.floor(i / 3),
        Math.floor(n / 3),
        `request ${i} in round ${Math.floor(n / 3)}`,
      );
    });
    assert.ok(clock.now() - start >= 58_000);
  } finally {
    await up.close();
  }
});

Deno.test("pacing config: rpm, tpm and queue_timeout are read; bad values stop the start", async () => {
  const quiet = () => {};
  const base = "backends:\n  internlm:\n    type: internlm\n";
  await loadConfig({
    configText: `${base}    rpm: 30\n    tpm: 100000\n    queue_timeout: 10\n`,
    env: {},
    logSink: quiet,
  });
  await loadConfig({ configText: `${base}    rpm: 0\n`, env: {}, logSink: quiet });
  for (const bad of ["rpm: -1", "tpm: lots", "queue_timeout: 7200"]) {
    await assert.rejects(
      () => loadConfig({ configText: `${base}    ${bad}\n`, env: {}, logSink: quiet }),
      ConfigError,
      bad,
    );
  }
});

Deno.test("cool-down scope: the 429 and 403 bodies that say who is limited or refused", () => {
  const perModel: Array<[string, boolean]> = [
    ['{"error":{"message":"Rate limit reached for intern-s1 in organization"}}', true],
    ['{"msg":"model rate limit exceeded"}', true],
    ['{"error":{"message":"per-model quota exceeded"}}', true],
    ['{"error":{"message":"Too many requests, slow down"}}', false],
    ['{"msg":"请求过于频繁"}', false],
  ];
  for (const [body, expected] of perModel) {
    assert.equal(isPerModelLimit(body, "intern-s1"), expected, body);
  }
  const refusals: Array<[string, boolean]> = [
    ["Your request was flagged by our content policy", true],
    ["输入内容包含敏感信息", true],
    ["request violates the safety guidelines", true],
    ["invalid api key", false],
    ["Forbidden", false],
    ["this key has no access to the model", false],
  ];
  for (const [message, expected] of refusals) {
    assert.equal(isContentRefusal({ message }), expected, message);
  }
});

Deno.test("cool-down scope: a 429 that names the model cools the key for that model only", async () => {
  let limited: string | undefined = "Rate limit reached for intern-s1, retry later";
  await withProxy(
    (req) =>
      limited && req.body?.model === "intern-s1"
        ? openaiError(429, limited, { headers: { "retry-after": "60" } })
        : completion("ok"),
    async ({ proxy, up }) => {
      const ask = async (model: string) => {
        const res = await postChat(proxy, chatBody({ model }));
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await ask("internlm/intern-s1"), 429);
      // The same key still serves another model, and is not counted cooling.
      assert.equal(await ask("internlm/intern-s1-mini"), 200);
      const verbose = await (await fetch(`${proxy.origin}/health?verbose=1`)).json();
      const slot = verbose.backends.internlm.slots[0];
      assert.equal(slot.state, "usable");
      assert.equal(slot.cooling_models[0].model, "intern-s1");
      // The cooled model is not even tried again while it cools.
      const before = up.chatRequests().length;
      assert.equal(await ask("internlm/intern-s1"), 429);
      assert.equal(up.chatRequests().length, before);

      // A 429 that names no model cools the key for everything.
      limited = undefined;
      up.setResponder(() =>
        openaiError(429, "Too many requests", { headers: { "retry-after": "60" } })
      );
      assert.equal(await ask("internlm/internlm3-latest"), 429);
      up.setResponder(() => completion("ok"));
      assert.equal(await ask("internlm/intern-s1-mini"), 429);
    },
    { keys: ["scope-key-1"] },
  );
});

Deno.test("cool-down scope: a 403 content refusal is the request's 400, and benches no key", async () => {
  await withProxy(
    () => openaiError(403, "The request was rejected: content policy (sensitive content)"),
    async ({ proxy, up }) => {
      const res = await postChat(proxy, chatBody());
      const body = await res.json();
      assert.equal(res.status, 400);
      assert.equal(body.error.code, "content_policy_violation");
      assert.match(body.error.message, /refused the request: .*content policy/);
      // One attempt: the other key would be refused the same request.
      assert.equal(up.chatRequests().length, 1);
      const health = await (await fetch(`${proxy.origin}/health`)).json();
      assert.deepEqual(health.backends.internlm.keys, {
        total: 2,
        usable: 2,
        cooling: 0,
        benched: 0,
      });
      // Any other 403 still benches the key and moves on.
      up.setResponder((req) =>
        req.key === "refusal-key-1" ? openaiError(403, "Forbidden") : completion("ok")
      );
      for (let i = 0; i < 2; i++) {
        const ok = await postChat(proxy, chatBody());
        await ok.body?.cancel();
        assert.equal(ok.status, 200);
      }
      const after = await (await fetch(`${proxy.origin}/health`)).json();
      assert.equal(after.backends.internlm.keys.benched, 1);
    },
    { keys: ["refusal-key-1", "refusal-key-2"] },
  );
});
