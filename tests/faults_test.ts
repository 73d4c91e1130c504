// Faults, with figures: a committed stream that times out, bad upstream answers in bulk, client
// hang-ups at every moment, retry bounds (attempts, deadline, backoff), no retry once stream data
// reached the client, and key cool-downs that expire. Complements errors_test.ts and
// stream_test.ts (single-case versions of some of these) without repeating them. Deno's test
// sanitizers stay on: a timer or socket left behind by the proxy fails the test that left it.
import assert from "node:assert/strict";
import {
  completion,
  FakeUpstream,
  openaiError,
  rateLimited,
  type Reply,
  type Responder,
  textError,
} from "./fake_upstream.ts";
import {
  chatBody,
  parseSse,
  postChat,
  type StartOptions,
  startProxy,
  type TestProxy,
} from "./proxy.ts";
import { assertSchema } from "./schema.ts";

const KEYS = ["sk-fault-a-11", "sk-fault-b-22", "sk-fault-c-33"];

async function withProxy(
  responder: Responder,
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
  options: StartOptions = {},
) {
  const up = await FakeUpstream.start(responder);
  const proxy = await startProxy({ upstream: up.baseUrl, keys: KEYS, ...options });
  try {
    await fn(proxy, up);
  } finally {
    await proxy.close();
    await up.close();
  }
}

const backend = (settings: string) => `backends:\n  internlm:\n    type: internlm\n${settings}`;

/** Resolves once `predicate` holds, checking every 10 ms; rejects after `ms`. */
async function eventually(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const until = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const requestLine = (proxy: TestProxy, status: number) =>
  proxy.logs.find((l) => l.includes(`POST /v1/chat/completions ${status}`));

// ---- timeouts ----

Deno.test("faults: a committed stream that times out gets an error event, then closes", async () => {
  await withProxy(() => ({ kind: "hang" }), async (proxy, up) => {
    const res = await postChat(proxy, chatBody({ stream: true }));
    assert.equal(res.status, 200, "committed before the timeout");
    const { data, comments } = parseSse(await res.text());
    assert.ok(comments.length >= 1, "keep-alives came first");
    assert.equal(data.length, 1, `one error event, no [DONE]: ${data}`);
    const event = JSON.parse(data[0]);
    assertSchema("ErrorResponse", event);
    assert.equal(event.error.code, "upstream_timeout");
    await up.waitForAbort(0, 1000);
    console.log(
      `timeout: committed stream → ${comments.length} keep-alives, 1 error event ` +
        `(${event.error.code}), 0 [DONE], ${up.chatRequests().length} upstream call aborted`,
    );
  }, {
    configText: "streaming:\n  keepalive_interval: 0.1\n" +
      backend("    timeout: 0.5\n    max_retries: 0\n"),
  });
});

// ---- bad upstream answers ----

const BAD_ANSWERS: Array<[string, Reply, RegExp]> = [
  ["drop", { kind: "drop" }, /no answer from InternLM/],
  ["invalid JSON", textError(200, '{"choices": [', "application/json"), /not JSON: \{"choices/],
  ["no choices", { kind: "json", body: { id: "x", object: "chat.completion" } }, /without choices/],
  ["HTML page", textError(200, "<html><h1>Bad Gateway</h1></html>"), /not JSON: <html>/],
  ["HTML 502", textError(502, "<html><h1>nginx: Bad Gateway</h1></html>"), /502\): nginx/],
  ["empty 200", textError(200, ""), /not JSON: \(empty\)/],
];

/** One good answer after each round of every bad kind, so they interleave. */
const ROUND = BAD_ANSWERS.length + 1;

Deno.test("faults: 120 bad upstream answers → 120 502s saying what came back; healthy after", async () => {
  let n = 0;
  const responder = () => {
    const i = n++ % ROUND;
    return i === BAD_ANSWERS.length ? completion("fine") : BAD_ANSWERS[i][1];
  };
  await withProxy(responder, async (proxy, up) => {
    const counts = { bad: 0, status502: 0, ok: 0 };
    for (let i = 0; i < 20 * ROUND; i++) {
      const res = await postChat(proxy, chatBody({ stream: i % 2 === 1 }));
      if (i % ROUND === BAD_ANSWERS.length) {
        assert.equal(res.status, 200);
        await res.body?.cancel();
        counts.ok++;
        continue;
      }
      counts.bad++;
      const [name, , message] = BAD_ANSWERS[i % ROUND];
      const body = await res.json();
      assert.equal(res.status, 502, `${name}: ${JSON.stringify(body)}`);
      assertSchema("ErrorResponse", body);
      assert.match(body.error.message, message, name);
      counts.status502++;
    }
    const health = await fetch(`${proxy.origin}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    up.setResponder(() => completion("fine"));
    const ok = await postChat(proxy, chatBody());
    assert.equal(ok.status, 200, "still serving");
    await ok.body?.cancel();
    assert.equal(counts.bad, 120);
    assert.equal(counts.status502, 120);
    console.log(
      `bad upstream: ${counts.bad} bad answers (${BAD_ANSWERS.length} kinds), ` +
        `${counts.status502} 502, ${counts.ok} ok in between, /health 200 after`,
    );
  }, { configText: backend("    max_retries: 0\n") });
});

// ---- client hang-ups ----

Deno.test("faults: hang-up before the stream commits aborts the upstream within 100 ms", async () => {
  await withProxy(() => ({ kind: "hang" }), async (proxy, up) => {
    const client = new AbortController();
    const call = fetch(`${proxy.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chatBody({ stream: true })),
      signal: client.signal,
    }).catch((e) => e);
    await eventually(() => up.chatRequests().length === 1, 2000, "upstream called");
    client.abort();
    await call;
    const ms = await up.waitForAbort(0, 2000);
    assert.ok(ms < 100, `upstream saw the abort after ${ms} ms`);
    await eventually(() => requestLine(proxy, 499) !== undefined, 2000, "499 logged");
    assert.equal(up.chatRequests().length, 1);
    console.log("hang-up before commit: 1 upstream call, aborted within 100 ms, logged 499");
  }, { configText: "streaming:\n  keepalive_interval: 30\n" });
});

Deno.test("faults: hang-up while content streams stops the stream; nothing keeps running", async () => {
  const content = "word ".repeat(2000);
  await withProxy(() => completion(content), async (proxy, up) => {
    const res = await postChat(proxy, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let bytes = 0;
    while (bytes < 2000) bytes += (await reader.read()).value?.byteLength ?? 0;
    await reader.cancel();
    // The stream is pulled lazily: it was nowhere near its end when the client left.
    assert.ok(bytes < content.length, `${bytes} bytes read`);
    assert.equal(up.chatRequests().length, 1);
    console.log(
      `hang-up mid-content: ${bytes} of >${content.length} bytes sent, 1 upstream call, ` +
        "stream cancelled (sanitizers: no timer left)",
    );
  }, { configText: "streaming:\n  chunk_size: 8\n" });
});

Deno.test("faults: hang-up during retry backoff ends the request; no second upstream call", async () => {
  await withProxy(() => openaiError(500, "flaky"), async (proxy, up) => {
    const client = new AbortController();
    const call = fetch(`${proxy.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify(chatBody()),
      signal: client.signal,
    }).catch((e) => e);
    await eventually(() => up.chatRequests().length === 1, 2000, "first attempt");
    await eventually(() => proxy.logs.some((l) => l.includes("upstream 500")), 2000, "5xx seen");
    client.abort();
    await call;
    // The backoff is at least 5 s; the request must end long before that.
    await eventually(() => requestLine(proxy, 499) !== undefined, 2000, "499 logged");
    assert.equal(up.chatRequests().length, 1, "no retry for a client that left");
    console.log("hang-up during backoff: 1 upstream call, 0 retries, request ended (499)");
  }, { configText: backend("    retry_backoff: 10\n") });
});

Deno.test("faults: hang-up while the request body uploads never reaches the upstream", async () => {
  await withProxy(() => completion("unused"), async (proxy, up) => {
    const client = new AbortController();
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent) return new Promise(() => {}); // the rest never comes
        sent = true;
        c.enqueue(new TextEncoder().encode('{"model":"internlm/x","messages":[{"role":"us'));
      },
    });
    const call = fetch(`${proxy.baseUrl}/chat/completions`, {
      method: "POST",
      body,
      signal: client.signal,
    }).catch((e) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.abort();
    await call;
    await eventually(
      () => proxy.logs.some((l) => l.includes("POST /v1/chat/completions")),
      2000,
      "logged",
    );
    assert.equal(up.chatRequests().length, 0);
    console.log("hang-up mid-upload: 0 upstream calls, request ended");
  });
});

// ---- retries ----

Deno.test("retries: bounded by max_retries, with a backoff between 5xx attempts", async () => {
  const arrivals: number[] = [];
  const responder = () => {
    arrivals.push(performance.now());
    return openaiError(503, "overloaded");
  };
  const keys = ["r1", "r2", "r3", "r4", "r5", "r6"];
  await withProxy(responder, async (proxy, up) => {
    const res = await postChat(proxy, chatBody());
    assert.equal(res.status, 502);
    assertSchema("ErrorResponse", await res.json());
    assert.equal(up.chatRequests().length, 3, "1 attempt + max_retries 2, though 6 keys exist");
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["r1", "r2", "r3"]);
    // retry_backoff 0.2 s, doubling, jittered ×0.5–1.5: at least 100 ms, then at least 200 ms.
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]);
    assert.ok(gaps[0] >= 95 && gaps[1] >= 195, `gaps ${gaps.map(Math.round)}`);
    console.log(`retries: 6 keys all 5xx, max_retries 2 → 3 attempts, backoff before each retry`);
  }, { keys, configText: backend("    max_retries: 2\n    retry_backoff: 0.2\n") });
});

Deno.test("retries: a total deadline stops them (504), whatever max_retries says", async () => {
  const keys = Array.from({ length: 10 }, (_, i) => `d${i}`);
  await withProxy(
    () => ({ ...openaiError(500, "slow failure"), delayMs: 150 }),
    async (proxy, up) => {
      const res = await postChat(proxy, chatBody());
      const body = await res.json();
      assert.equal(res.status, 504, JSON.stringify(body));
      assert.equal(body.error.code, "upstream_timeout");
      const attempts = up.chatRequests().length;
      // 0.6 s at ≥150 ms per attempt (plus backoff) leaves room for at most 4.
      assert.ok(attempts >= 1 && attempts <= 4, `${attempts} attempts`);
      console.log(
        `retries: deadline 0.6 s, max_retries 10, 10 keys → ${attempts} attempts then 504`,
      );
    },
    {
      keys,
      configText: backend("    timeout: 0.6\n    max_retries: 10\n    retry_backoff: 0.05\n"),
    },
  );
});

/**
 * Streams `body` and returns how many upstream calls had been made when the first `data:` byte
 * arrived and when the stream ended. Once data reaches the client, a retry could only duplicate
 * or contradict it, so the two must be equal — whichever streaming path the backend uses.
 */
async function upstreamCallsAroundData(proxy: TestProxy, up: FakeUpstream) {
  const res = await postChat(proxy, chatBody({ stream: true }));
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let atFirstData: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
    if (atFirstData === undefined && text.includes("data: ")) {
      atFirstData = up.chatRequests().length;
    }
  }
  return { atFirstData, atEnd: up.chatRequests().length, text };
}

Deno.test("retries: never after stream data reached the client", async () => {
  const scenarios: Array<[string, () => Responder, string]> = [
    ["plain success", () => () => completion("one answer"), ""],
    ["5xx then success", () => {
      let n = 0;
      return () => n++ === 0 ? openaiError(500, "first fails") : completion("one answer");
    }, backend("    retry_backoff: 0.01\n")],
    ["drop then success", () => {
      let n = 0;
      return () => n++ === 0 ? { kind: "drop" } : completion("one answer");
    }, backend("    retry_backoff: 0.01\n")],
    ["slow 5xx after keep-alive, then success", () => {
      let n = 0;
      return () =>
        n++ === 0 ? { ...openaiError(500, "late"), delayMs: 300 } : completion("one answer");
    }, "streaming:\n  keepalive_interval: 0.1\n" + backend("    retry_backoff: 0.01\n")],
  ];
  let after = 0;
  for (const [name, makeResponder, configText] of scenarios) {
    await withProxy(makeResponder(), async (proxy, up) => {
      const { atFirstData, atEnd, text } = await upstreamCallsAroundData(proxy, up);
      assert.equal(atEnd, atFirstData, `${name}: upstream called after data was sent`);
      after += atEnd - (atFirstData ?? 0);
      const content = parseSse(text).data.filter((d) => d !== "[DONE]")
        .map((d) => JSON.parse(d).choices?.[0]?.delta?.content ?? "").join("");
      assert.equal(content, "one answer", `${name}: the answer arrives once, whole`);
    }, { configText });
  }
  console.log(
    `retries: ${scenarios.length} stream scenarios (synthesized path), ` +
      `${after} upstream calls after the first data byte`,
  );
});

// ---- key cool-downs ----

Deno.test("cool-down: 1 of 3 keys rate-limited → 300/300 succeed, the key rests, then returns", async () => {
  const [limited] = KEYS;
  const retryAfter = 2;
  let cooledAt: number | undefined;
  const triedWhileCooling: number[] = [];
  let usedAfter = 0;
  const responder: Responder = (req) => {
    if (req.key !== limited) return completion("ok");
    const now = performance.now();
    if (cooledAt === undefined) {
      cooledAt = now;
      return rateLimited(retryAfter);
    }
    if (now < cooledAt + retryAfter * 1000) triedWhileCooling.push(now);
    else usedAfter++;
    return completion("ok");
  };
  await withProxy(responder, async (proxy) => {
    let ok = 0;
    const started = performance.now();
    const one = async () => {
      const res = await postChat(proxy, chatBody());
      if (res.status === 200) ok++;
      await res.body?.cancel();
    };
    // The first request meets the 429 alone (concurrent ones could have taken the key before
    // its 429 came back); the other 299 go 10 at a time.
    await one();
    let left = 299;
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (left-- > 0) await one();
    }));
    const phase = performance.now() - started;
    assert.equal(ok, 300, `${ok}/300 succeeded`);
    assert.deepEqual(triedWhileCooling, [], "the cooling key was tried");
    // After Retry-After has passed, the key is back in the rotation.
    await new Promise((r) => setTimeout(r, Math.max(0, retryAfter * 1000 - phase + 100)));
    for (let i = 0; i < 6; i++) {
      const res = await postChat(proxy, chatBody());
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.ok(usedAfter >= 1, "the key came back after its Retry-After");
    console.log(
      `cool-down: 300 requests, ${ok} ok (${ok / 3} %), key 1/3 tried 0 times while cooling, ` +
        `${usedAfter} times after its Retry-After`,
    );
  });
});
