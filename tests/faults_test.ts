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
  eventually,
  parseSse,
  postChat,
  type StartOptions,
  startProxy,
  type TestProxy,
  withProxy as withUpstreamAndProxy,
} from "./proxy.ts";
import { assertSchema } from "./schema.ts";
import { sseEvents } from "./fake_stream.ts";

const KEYS = ["sk-fault-a-11", "sk-fault-b-22", "sk-fault-c-33"];

function withProxy(
  responder: Responder,
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
  options: StartOptions = {},
) {
  return withUpstreamAndProxy(responder, ({ up, proxy }) => fn(proxy, up), {
    keys: KEYS,
    ...options,
  });
}

const sse = (parts: Extract<Reply, { kind: "sse" }>["parts"], fail = false): Reply => ({
  kind: "sse",
  parts,
  fail,
});

const backend = (settings: string) => `backends:\n  internlm:\n    type: internlm\n${settings}`;

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
    await eventually(() => up.chatRequests().length === 1, "upstream called", 2000);
    client.abort();
    await call;
    const ms = await up.waitForAbort(0, 2000);
    assert.ok(ms < 100, `upstream saw the abort after ${ms} ms`);
    await eventually(() => requestLine(proxy, 499) !== undefined, "499 logged", 2000);
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
    await eventually(() => up.chatRequests().length === 1, "first attempt", 2000);
    await eventually(() => proxy.logs.some((l) => l.includes("upstream 500")), "5xx seen", 2000);
    client.abort();
    await call;
    // The backoff is at least 5 s; the request must end long before that.
    await eventually(() => requestLine(proxy, 499) !== undefined, "499 logged", 2000);
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
      "logged",
      2000,
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

Deno.test("retries: with one key, a 5xx is retried on the same key after the backoff", async () => {
  const arrivals: number[] = [];
  let n = 0;
  const responder = () => {
    arrivals.push(performance.now());
    return n++ === 0 ? openaiError(500, "transient") : completion("second time lucky");
  };
  await withProxy(responder, async (proxy, up) => {
    const res = await postChat(proxy, chatBody());
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.choices[0].message.content, "second time lucky");
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["only", "only"]);
    // retry_backoff 0.2 s, jittered ×0.5–1.5: the retry waited at least 100 ms.
    assert.ok(arrivals[1] - arrivals[0] >= 95, `gap ${Math.round(arrivals[1] - arrivals[0])}`);
    assert.match(requestLine(proxy, 200) ?? "", /key=1\/1 attempts=2/);
  }, { keys: ["only"], configText: backend("    retry_backoff: 0.2\n") });
});

Deno.test("retries: with one key, max_retries bounds the attempts on it; with two, they alternate", async () => {
  await withProxy(() => openaiError(503, "down"), async (proxy, up) => {
    assert.equal((await postChat(proxy, chatBody())).status, 502);
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["only", "only", "only"]);
  }, { keys: ["only"], configText: backend("    max_retries: 2\n    retry_backoff: 0.01\n") });
  await withProxy(() => openaiError(503, "down"), async (proxy, up) => {
    assert.equal((await postChat(proxy, chatBody())).status, 502);
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["k1", "k2", "k1", "k2"]);
  }, { keys: ["k1", "k2"], configText: backend("    max_retries: 3\n    retry_backoff: 0.01\n") });
});

Deno.test("retries: a 5xx retry never goes back to a key that was rate-limited or rejected", async () => {
  const responder: Responder = (req) =>
    req.key === "k1" ? rateLimited(0) : req.key === "k2" ? openaiError(401, "no") : openaiError(
      500,
      "down",
    );
  await withProxy(responder, async (proxy, up) => {
    assert.equal((await postChat(proxy, chatBody())).status, 502);
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["k1", "k2", "k3", "k3", "k3"]);
  }, {
    keys: ["k1", "k2", "k3"],
    configText: backend("    max_retries: 2\n    retry_backoff: 0.01\n"),
  });
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
 * Streams a request for `model` and returns how many upstream calls had been made when the first
 * `data:` byte arrived and when the stream ended. Once data reaches the client, a retry could
 * only duplicate or contradict it, so the two must be equal, whichever streaming path is used.
 */
async function upstreamCallsAroundData(proxy: TestProxy, up: FakeUpstream, model: string) {
  const res = await postChat(proxy, chatBody({ model, stream: true }));
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
  const data = parseSse(text).data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
  return {
    atFirstData,
    atEnd: up.chatRequests().length,
    content: data.map((d) => d.choices?.[0]?.delta?.content ?? "").join(""),
    errorEvents: data.filter((d) => d.error).length,
  };
}

/** Fails its first call with `first`, then answers with `then`. */
const firstFails = (first: Reply, then: Reply) => (): Responder => {
  let n = 0;
  return () => n++ === 0 ? first : then;
};

const RETRY_FAST = "    retry_backoff: 0.01\n";
const ANSWER = "one answer";
const NATIVE_ANSWER = sse(sseEvents({ content: ["one ", "answer"] }));

interface StreamScenario {
  name: string;
  responder: () => Responder;
  /** `native`: a `type: openai` backend relaying the upstream's own event stream. */
  native?: boolean;
  settings?: string;
  /** What the client ends up with: the whole answer, or a cut-off part and an error event. */
  expect: { content: string; errorEvents: number };
}

const STREAM_SCENARIOS: StreamScenario[] = [
  {
    name: "synthesized: success",
    responder: () => () => completion(ANSWER),
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "synthesized: 5xx, then success",
    responder: firstFails(openaiError(500, "first fails"), completion(ANSWER)),
    settings: RETRY_FAST,
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "synthesized: drop, then success",
    responder: firstFails({ kind: "drop" }, completion(ANSWER)),
    settings: RETRY_FAST,
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "synthesized: slow 5xx after keep-alives, then success",
    responder: firstFails(
      { ...openaiError(500, "late"), delayMs: 300 } as Reply,
      completion(ANSWER),
    ),
    settings: RETRY_FAST,
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "native: success",
    native: true,
    responder: () => () => NATIVE_ANSWER,
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "native: 5xx, then success",
    native: true,
    responder: firstFails(openaiError(500, "first fails"), NATIVE_ANSWER),
    settings: RETRY_FAST,
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "native: cut before the first byte, then success",
    native: true,
    responder: firstFails(sse([], true), NATIVE_ANSWER),
    settings: RETRY_FAST,
    expect: { content: ANSWER, errorEvents: 0 },
  },
  {
    name: "native: cut after the first bytes (other keys idle)",
    native: true,
    responder: firstFails(
      sse(sseEvents({ content: ["one ", "ans"], done: false }), true),
      NATIVE_ANSWER,
    ),
    settings: RETRY_FAST,
    expect: { content: "one ans", errorEvents: 1 },
  },
];

async function runStreamScenario(scenario: StreamScenario) {
  const up = await FakeUpstream.start(scenario.responder());
  up.streams = scenario.native === true;
  const settings = `streaming:\n  keepalive_interval: 0.1\n`;
  const configText = scenario.native
    ? `${settings}backends:\n  local:\n    type: openai\n    api_url: ${up.baseUrl}\n` +
      `    api_keys: [n1, n2, n3]\n${scenario.settings ?? ""}`
    : settings + backend(scenario.settings ?? "");
  const proxy = await startProxy({ upstream: up.baseUrl, keys: KEYS, configText });
  try {
    const model = scenario.native ? "local/served-model" : "internlm/internlm2.5-latest";
    return await upstreamCallsAroundData(proxy, up, model);
  } finally {
    await proxy.close();
    await up.close();
  }
}

Deno.test("retries: never after stream data reached the client (synthesized and native)", async () => {
  let after = 0;
  for (const scenario of STREAM_SCENARIOS) {
    const { atFirstData, atEnd, content, errorEvents } = await runStreamScenario(scenario);
    assert.equal(atEnd, atFirstData, `${scenario.name}: upstream called after data was sent`);
    after += atEnd - (atFirstData ?? 0);
    assert.deepEqual({ content, errorEvents }, scenario.expect, scenario.name);
  }
  const native = STREAM_SCENARIOS.filter((s) => s.native).length;
  console.log(
    `retries: ${STREAM_SCENARIOS.length} stream scenarios (${STREAM_SCENARIOS.length - native} ` +
      `synthesized, ${native} native), ${after} upstream calls after the first data byte`,
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
