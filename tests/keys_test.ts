// The InternLM key pool: round-robin rotation, failover on 429/401/403, what the client gets when
// no key is left, and that logs only ever name keys by slot. End to end through a real proxy and
// a fake upstream, plus unit tests of src/backends/keys.ts with an injected clock.
import assert from "node:assert/strict";
import { KeyPool, keysFromEnv } from "../src/backends/keys.ts";
import {
  completion,
  FakeUpstream,
  openaiError,
  rateLimited,
  type Reply,
  type Responder,
} from "./fake_upstream.ts";
import { chatBody, postChat, startProxy, type TestProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

// Distinctive values, so a leak into the logs cannot be a coincidence.
const KEYS = ["sk-alpha-7f3a91c2e4", "sk-bravo-0b6d58e1aa", "sk-charlie-93cc2f7b10"];
const [A, B, C] = KEYS;

interface Ctx {
  up: FakeUpstream;
  proxy: TestProxy;
}

/**
 * Runs `fn` against a proxy with `keys` in front of a fake upstream answering with `responder`,
 * closes both, and then checks no key value reached the proxy's log.
 */
async function withKeys(
  keys: string[],
  responder: Responder,
  fn: (ctx: Ctx) => Promise<void>,
): Promise<string[]> {
  const up = await FakeUpstream.start(responder);
  let proxy: TestProxy | undefined;
  try {
    proxy = await startProxy({ upstream: up.baseUrl, keys });
    await fn({ up, proxy });
  } finally {
    await proxy?.close();
    await up.close();
  }
  assertNoKeyInLogs(proxy.logs, keys);
  return proxy.logs;
}

function assertNoKeyInLogs(logs: string[], keys: string[]): void {
  for (const key of keys) {
    const leaked = logs.find((line) => line.includes(key));
    assert.equal(leaked, undefined, `log line contains a key value: ${leaked}`);
  }
}

/** A fake upstream that answers per key, defaulting to a completion. */
function byKey(replies: Record<string, () => Reply>): Responder {
  return (req) => replies[req.key ?? ""]?.() ?? completion("ok");
}

async function chatOk(proxy: TestProxy): Promise<unknown> {
  const res = await postChat(proxy, chatBody());
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

async function health(proxy: TestProxy) {
  const res = await fetch(`${proxy.origin}/health`);
  const body = await res.json();
  return body.backends.internlm as {
    status: string;
    keys: { total: number; usable: number; cooling: number; benched: number };
  };
}

/** Posts a chat request expecting an error; checks OpenAI's error shape and returns it. */
async function chatError(proxy: TestProxy, status: number) {
  const res = await postChat(proxy, chatBody());
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assertSchema("ErrorResponse", body);
  return { res, error: body.error as { message: string; type: string; code: string | null } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("keys: 30 sequential requests rotate strictly round-robin over 3 keys", async () => {
  await withKeys(KEYS, () => completion("ok"), async ({ up, proxy }) => {
    for (let i = 0; i < 30; i++) await chatOk(proxy);
    const seen = up.chatRequests().map((r) => r.key);
    assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => KEYS[i % 3]));
    for (const key of KEYS) assert.equal(seen.filter((k) => k === key).length, 10);
  });
});

Deno.test("keys: a 429 with Retry-After fails over to the next key and cools the first", async () => {
  await withKeys(KEYS, byKey({ [A]: () => rateLimited(30) }), async ({ up, proxy }) => {
    await chatOk(proxy);
    // The same request, retried: A answered 429, B answered it.
    assert.deepEqual(up.chatRequests().map((r) => r.key), [A, B]);
    assert.deepEqual(up.chatRequests()[1].body, up.chatRequests()[0].body);

    for (let i = 0; i < 6; i++) await chatOk(proxy);
    // A rests for 30 s, so the rotation continues over B and C only.
    assert.deepEqual(up.chatRequests().slice(2).map((r) => r.key), [C, B, C, B, C, B]);

    const h = await health(proxy);
    assert.deepEqual(h.keys, { total: 3, usable: 2, cooling: 1, benched: 0 });
    assert.equal(h.status, "degraded");
  });
});

Deno.test("keys: 401 and 403 fail over to the next key and bench the rejected ones", async () => {
  const responder = byKey({
    [A]: () => openaiError(401, "invalid api key"),
    [B]: () => openaiError(403, "forbidden"),
  });
  await withKeys(KEYS, responder, async ({ up, proxy }) => {
    await chatOk(proxy);
    assert.deepEqual(up.chatRequests().map((r) => r.key), [A, B, C]);
    await chatOk(proxy);
    await chatOk(proxy);
    // Benched keys are not tried again.
    assert.deepEqual(up.chatRequests().slice(3).map((r) => r.key), [C, C]);
    const h = await health(proxy);
    assert.deepEqual(h.keys, { total: 3, usable: 1, cooling: 0, benched: 2 });
    assert.equal(h.status, "degraded");
  });
});

Deno.test("keys: every key rate-limited → 429 with Retry-After of the soonest key", async () => {
  const responder = byKey({ [A]: () => rateLimited(7), [B]: () => rateLimited(20) });
  await withKeys([A, B], responder, async ({ up, proxy }) => {
    const { res, error } = await chatError(proxy, 429);
    assert.equal(error.type, "rate_limit_error");
    assert.match(error.message, /rate-limited/);
    // 7 s minus however long the request took, rounded up.
    assert.ok(
      ["6", "7"].includes(res.headers.get("retry-after") ?? ""),
      res.headers.get("retry-after") ?? "none",
    );
    assert.deepEqual(up.chatRequests().map((r) => r.key), [A, B]);

    // While both cool, the next request is answered without calling the upstream at all.
    const again = await chatError(proxy, 429);
    assert.ok(["6", "7"].includes(again.res.headers.get("retry-after") ?? ""));
    assert.equal(up.chatRequests().length, 2);
    assert.deepEqual((await health(proxy)).keys, { total: 2, usable: 0, cooling: 2, benched: 0 });
  });
});

Deno.test({
  name: "keys: every key rate-limited with Retry-After: 0 → still 429, not 'keys rejected'",
  fn: async () => {
    await withKeys([A, B], () => rateLimited(0), async ({ proxy }) => {
      const { error } = await chatError(proxy, 429);
      assert.doesNotMatch(error.message, /rejected/);
    });
  },
});

Deno.test("keys: every key rejected (401) → 502 saying InternLM rejected the proxy's keys", async () => {
  await withKeys(KEYS, () => openaiError(401, "invalid api key"), async ({ up, proxy }) => {
    const { error } = await chatError(proxy, 502);
    assert.match(error.message, /InternLM API keys were rejected by InternLM \(401\/403, 3 of 3\)/);
    assert.match(error.message, /INTERNAI_API_KEY/);
    assert.equal(up.chatRequests().length, 3);
    assert.deepEqual((await health(proxy)).keys, { total: 3, usable: 0, cooling: 0, benched: 3 });
  });
});

Deno.test("keys: one rate-limited and the others rejected → 429 giving each state by count", async () => {
  const responder = byKey({
    [A]: () => rateLimited(30),
    [B]: () => openaiError(401, "invalid api key"),
    [C]: () => openaiError(403, "forbidden"),
  });
  await withKeys(KEYS, responder, async ({ proxy }) => {
    const { res, error } = await chatError(proxy, 429);
    assert.match(
      error.message,
      /^no InternLM API key can take the request: 1 of 3 rate-limited, 2 rejected by InternLM \(401\/403; check INTERNAI_API_KEY\); retry in (29|30)s$/,
    );
    assert.ok(["29", "30"].includes(res.headers.get("retry-after") ?? ""));
    for (const key of KEYS) assert.ok(!error.message.includes(key));
  });
});

Deno.test("keys: no key configured → proxy starts, warns, answers 503 and calls nobody", async () => {
  const logs = await withKeys([], () => completion("ok"), async ({ up, proxy }) => {
    const { error } = await chatError(proxy, 503);
    assert.match(error.message, /INTERNAI_API_KEY/);
    const h = await health(proxy);
    assert.equal(h.status, "unavailable");
    assert.equal(h.keys.total, 0);
    assert.equal(up.requests.length, 0);
  });
  assert.ok(
    logs.some((line) => line.includes("WARN") && line.includes("INTERNAI_API_KEY")),
    logs.join("\n"),
  );
});

Deno.test("keys: another 4xx (400) is not retried and reaches the client as is", async () => {
  const responder = () => openaiError(400, "temperature is out of range", { code: "bad_param" });
  await withKeys(KEYS, responder, async ({ up, proxy }) => {
    const { error } = await chatError(proxy, 400);
    assert.equal(error.message, "temperature is out of range");
    assert.equal(error.code, "bad_param");
    assert.equal(up.chatRequests().length, 1);
    // A client mistake says nothing about the key: it stays usable.
    assert.deepEqual((await health(proxy)).keys, { total: 3, usable: 3, cooling: 0, benched: 0 });
  });
});

Deno.test("keys: a key cooled by 429 with Retry-After: 1 is used again after it recovers", async () => {
  let aCalls = 0;
  const responder: Responder = (req) =>
    req.key === A && aCalls++ === 0 ? rateLimited(1) : completion("ok");
  await withKeys([A, B], responder, async ({ up, proxy }) => {
    await chatOk(proxy); // A → 429, B answers
    await chatOk(proxy); // A still cooling: B again
    assert.deepEqual(up.chatRequests().map((r) => r.key), [A, B, B]);
    await sleep(1200);
    await chatOk(proxy);
    assert.equal(up.chatRequests()[3].key, A);
    assert.deepEqual((await health(proxy)).keys, { total: 2, usable: 2, cooling: 0, benched: 0 });
  });
});

Deno.test("keys: logs name keys by slot (key=N/M), never by value", async () => {
  const responder = byKey({
    [A]: () => rateLimited(30),
    [B]: () => openaiError(401, "invalid api key"),
  });
  // withKeys itself asserts that no key value was logged.
  const logs = await withKeys(KEYS, responder, async ({ proxy }) => {
    await chatOk(proxy);
    await chatOk(proxy);
  });
  const text = logs.join("\n");
  // The request line names the slot that answered; the warnings name the ones that failed.
  assert.match(text, /POST \/v1\/chat\/completions 200 .*key=3\/3 attempts=3/);
  assert.match(text, /key 1\/3: rate-limited \(429\)/);
  assert.match(text, /key 2\/3: rejected \(401\)/);
});

Deno.test({
  name: "keys: an upstream 401 message that echoes the key does not leak it into the logs",
  fn: async () => {
    const responder: Responder = (req) =>
      openaiError(401, `Incorrect API key provided: ${req.key}`);
    await withKeys([A], responder, async ({ proxy }) => {
      await chatError(proxy, 502);
    });
  },
});

// ---- unit: keysFromEnv ----

Deno.test("keysFromEnv: base variable first, then numbered ones in numeric order", () => {
  // Insertion order is deliberately scrambled, and "_10" sorts before "_3" as text.
  const env = {
    INTERNAI_API_KEY_10: "k10",
    INTERNAI_API_KEY_3: "k3",
    OTHER_API_KEY_1: "not-mine",
    INTERNAI_API_KEY: "k0",
    INTERNAI_API_KEY_1: "k1",
    INTERNAI_API_KEY_2: "", // blank: ignored
    INTERNAI_API_KEY_4: "k1", // duplicate of _1: ignored
    INTERNAI_API_KEY_5: "   ", // whitespace only: ignored
    INTERNAI_API_KEY_6: " k6 ", // trimmed
    INTERNAI_API_KEY_X: "not-numbered",
    INTERNAI_API_KEY_1_OLD: "not-numbered-either",
  };
  assert.deepEqual(keysFromEnv("INTERNAI_API_KEY", env), ["k0", "k1", "k3", "k6", "k10"]);
});

Deno.test("keysFromEnv: numbered keys alone, and nothing at all", () => {
  assert.deepEqual(
    keysFromEnv("INTERNAI_API_KEY", { INTERNAI_API_KEY_2: "b", INTERNAI_API_KEY_1: "a" }),
    [
      "a",
      "b",
    ],
  );
  assert.deepEqual(keysFromEnv("INTERNAI_API_KEY", {}), []);
  assert.deepEqual(keysFromEnv("INTERNAI_API_KEY", { INTERNAI_API_KEY: "" }), []);
});

// ---- unit: KeyPool ----

function poolWithClock(keys: string[]) {
  const clock = { now: 1_000_000 };
  return { pool: new KeyPool(keys, () => clock.now), clock };
}

const none = new Set<number>();

Deno.test("KeyPool: acquire rotates round-robin and labels leases by slot", () => {
  const { pool } = poolWithClock(["a", "b", "c"]);
  const leases = Array.from({ length: 4 }, () => pool.acquire(none)!);
  assert.deepEqual(leases.map((l) => l.index), [0, 1, 2, 0]);
  assert.deepEqual(leases.map((l) => l.key), ["a", "b", "c", "a"]);
  assert.equal(leases[1].label, "key 2/3");
  // Skips slots already tried by this request; undefined once all are.
  assert.equal(pool.acquire(new Set([1]))!.index, 2);
  assert.equal(pool.acquire(new Set([0, 1, 2])), undefined);
  assert.equal(new KeyPool([]).acquire(none), undefined);
});

Deno.test("KeyPool: coolDown and bench take keys out until their time, per the clock", () => {
  const { pool, clock } = poolWithClock(["a", "b", "c"]);
  const t0 = clock.now;
  pool.coolDown(1, t0 + 5_000);
  pool.bench(2, t0 + 600_000);
  assert.deepEqual(pool.counts(), { total: 3, usable: 1, cooling: 1, benched: 1 });
  assert.equal(pool.state(1), "cooling");
  assert.equal(pool.state(2), "benched");
  assert.equal(pool.until(1), t0 + 5_000);
  assert.equal(pool.until(0), 0);
  // Only slot 0 is left.
  assert.deepEqual([0, 1, 2].map(() => pool.acquire(none)!.index), [0, 0, 0]);

  clock.now = t0 + 4_999;
  assert.equal(pool.state(1), "cooling");
  clock.now = t0 + 5_000;
  assert.equal(pool.state(1), "usable");
  assert.equal(pool.acquire(new Set([0]))!.index, 1);
  assert.equal(pool.state(2), "benched");

  clock.now = t0 + 600_000;
  assert.deepEqual(pool.counts(), { total: 3, usable: 3, cooling: 0, benched: 0 });
});

Deno.test("KeyPool: a shorter cool-down does not cut a longer one short", () => {
  const { pool, clock } = poolWithClock(["a", "b"]);
  pool.coolDown(0, clock.now + 60_000);
  pool.coolDown(0, clock.now + 1_000);
  assert.equal(pool.until(0), clock.now + 60_000);
  pool.coolDown(0, clock.now + 90_000); // a longer one extends it
  assert.equal(pool.until(0), clock.now + 90_000);
});

Deno.test("KeyPool: soonestCoolingRecovery is the earliest cooling key, ignoring benched ones", () => {
  const { pool, clock } = poolWithClock(["a", "b", "c", "d"]);
  const t0 = clock.now;
  assert.equal(pool.soonestCoolingRecovery(), undefined);
  pool.bench(0, t0 + 1_000); // benched, even sooner: not a cool-down
  pool.coolDown(1, t0 + 20_000);
  pool.coolDown(2, t0 + 7_000);
  assert.equal(pool.soonestCoolingRecovery(), t0 + 7_000);
  clock.now = t0 + 7_000; // slot 2 recovered
  assert.equal(pool.soonestCoolingRecovery(), t0 + 20_000);
  clock.now = t0 + 20_000;
  assert.equal(pool.soonestCoolingRecovery(), undefined);
});

Deno.test("KeyPool: redact masks every key by slot, but not keys too short to be told from text", () => {
  const pool = new KeyPool(["sk-long-secret-1", "abc", "sk-long-secret-2"]);
  assert.equal(
    pool.redact('{"error":"bad key sk-long-secret-2, not sk-long-secret-1"}'),
    '{"error":"bad key [key 3/3], not [key 1/3]"}',
  );
  // "abc" is under 8 characters: masking it would rewrite ordinary words and JSON.
  assert.equal(pool.redact('{"content":"abc"}'), '{"content":"abc"}');
});
