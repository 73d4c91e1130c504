// Bad client input and bad upstream answers: every failure reaches the client in OpenAI's error
// shape with a fitting status, and the upstream's own message survives.
import assert from "node:assert/strict";
import {
  completion,
  FakeUpstream,
  lmdeployError,
  openaiError,
  type Reply,
  textError,
} from "./fake_upstream.ts";
import {
  chatBody,
  postChat,
  type StartOptions,
  startProxy,
  type TestProxy,
  withProxy as withUpstreamAndProxy,
} from "./proxy.ts";
import { assertSchema } from "./schema.ts";

function withProxy(
  responder: () => Reply,
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
  options: StartOptions = {},
) {
  return withUpstreamAndProxy(responder, ({ up, proxy }) => fn(proxy, up), options);
}

async function expectError(res: Response, status: number, message?: RegExp) {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assertSchema("ErrorResponse", body);
  if (message) assert.match(body.error.message, message);
  return body.error as { message: string; type: string; param: string | null; code: string };
}

Deno.test("bad client input gets 400 in OpenAI's shape and never reaches the upstream", async () => {
  await withProxy(() => completion("unused"), async (proxy, up) => {
    const cases: Array<[unknown, RegExp, string | null]> = [
      ["{not json", /not valid JSON/, null],
      ["", /not valid JSON/, null],
      ["[1,2]", /JSON object/, null],
      [{ messages: [{ role: "user", content: "x" }] }, /model is required/, "model"],
      [{ model: 42, messages: [] }, /model must be/, "model"],
      [{ model: "internlm/x" }, /messages must be a non-empty array/, "messages"],
      [{ model: "internlm/x", messages: "hi" }, /messages/, "messages"],
      [{ model: "internlm/x", messages: [] }, /messages/, "messages"],
      [{ model: "internlm/x", messages: [42] }, /messages\[0\] must be an object/, "messages[0]"],
      [{ model: "internlm/x", messages: [{ content: "x" }] }, /role/, "messages[0].role"],
      [chatBody({ messages: [{ role: "user", content: 5 }] }), /content/, "messages[0].content"],
      [chatBody({ stream: "yes" }), /stream must be a boolean/, "stream"],
      [chatBody({ n: 0 }), /n must be/, "n"],
      [chatBody({ temperature: "hot" }), /temperature/, "temperature"],
      [chatBody({ tools: {} }), /tools/, "tools"],
      [
        chatBody({ stream_options: { include_usage: "y" } }),
        /include_usage/,
        "stream_options.include_usage",
      ],
      [chatBody({ model: "internlm/" }), /no model/, "model"],
      [chatBody({ deep: JSON.parse("[".repeat(100) + "]".repeat(100)) }), /nested deeper/, null],
    ];
    for (const [body, message, param] of cases) {
      const err = await expectError(await postChat(proxy, body), 400, message);
      assert.equal(err.param, param, `param for ${JSON.stringify(body).slice(0, 60)}`);
      assert.equal(err.type, "invalid_request_error");
    }
    assert.equal(up.chatRequests().length, 0);
  });
});

Deno.test("invalid UTF-8 in the body is a 400", async () => {
  await withProxy(() => completion("unused"), async (proxy) => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const res = await fetch(`${proxy.baseUrl}/chat/completions`, { method: "POST", body: bytes });
    await expectError(res, 400, /UTF-8/);
  });
});

Deno.test("an oversized body gets 413, whether declared or streamed", async () => {
  await withProxy(() => completion("unused"), async (proxy, up) => {
    const big = JSON.stringify(chatBody({ pad: "x".repeat(5000) }));
    await expectError(await postChat(proxy, big), 413, /larger than the limit of 4096 bytes/);
    // A chunked body has no content-length: the cap applies while reading.
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const res = await fetch(`${proxy.baseUrl}/chat/completions`, {
      method: "POST",
      body: chunked,
    });
    await expectError(res, 413);
    assert.equal(up.chatRequests().length, 0);
  }, { configText: "limits:\n  max_body_bytes: 4096\n" });
});

Deno.test("too many messages is a 400 naming the limit", async () => {
  await withProxy(() => completion("unused"), async (proxy) => {
    const messages = Array.from({ length: 11 }, () => ({ role: "user", content: "x" }));
    await expectError(await postChat(proxy, chatBody({ messages })), 400, /limit of 10/);
  }, { configText: "limits:\n  max_messages: 10\n" });
});

Deno.test("unknown routes are 404 and wrong methods 405, in OpenAI's shape", async () => {
  await withProxy(() => completion("unused"), async (proxy) => {
    await expectError(await fetch(`${proxy.origin}/v1/nope`), 404);
    const res = await fetch(`${proxy.baseUrl}/chat/completions`);
    await expectError(res, 405);
    assert.equal(res.headers.get("allow"), "POST");
    await expectError(await fetch(`${proxy.origin}/health`, { method: "DELETE" }), 405);
  });
});

for (
  const [name, reply, status, message] of [
    [
      "OpenAI nested",
      openaiError(400, "temperature out of range"),
      400,
      "temperature out of range",
    ],
    ["LMDeploy flat", lmdeployError(400, "The model `x` does not exist."), 400, "does not exist"],
    ["plain text", textError(404, "model not found", "text/plain"), 404, "model not found"],
    [
      "422 validation",
      { kind: "json", status: 422, body: { detail: "bad field" } },
      400,
      "bad field",
    ],
  ] as const
) {
  Deno.test(`upstream 4xx (${name}) keeps its message and status`, async () => {
    await withProxy(() => reply as Reply, async (proxy, up) => {
      await expectError(await postChat(proxy, chatBody()), status, new RegExp(message));
      assert.equal(up.chatRequests().length, 1, "4xx is not retried");
    }, { keys: ["k1", "k2"] });
  });
}

Deno.test("upstream 5xx is retried on the next key, then 502 with the upstream's message", async () => {
  await withProxy(
    () => textError(503, "<html><body><h1>503 Service Unavailable</h1></body></html>"),
    async (proxy, up) => {
      const err = await expectError(
        await postChat(proxy, chatBody()),
        502,
        /503 Service Unavailable/,
      );
      assert.doesNotMatch(err.message, /<h1>/);
      assert.equal(up.chatRequests().length, 2, "max_retries: 1 → two attempts");
      assert.deepEqual(up.chatRequests().map((r) => r.key), ["k1", "k2"]);
    },
    {
      keys: ["k1", "k2", "k3"],
      configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 1\n" +
        "    retry_backoff: 0.01\n",
    },
  );
});

Deno.test("a 5xx followed by success on the next key is invisible to the client", async () => {
  let n = 0;
  await withProxy(
    () => n++ === 0 ? openaiError(500, "boom") : completion("recovered"),
    async (proxy) => {
      const res = await postChat(proxy, chatBody());
      assert.equal(res.status, 200);
      assert.equal((await res.json()).choices[0].message.content, "recovered");
      assert.ok(proxy.logs.some((l) => /key 1\/2: upstream 500/.test(l)));
    },
    {
      keys: ["k1", "k2"],
      configText: "backends:\n  internlm:\n    type: internlm\n    retry_backoff: 0.01\n",
    },
  );
});

for (
  const [name, reply, message] of [
    ["invalid JSON", { kind: "text", body: "{oops", contentType: "application/json" }, /not JSON/],
    [
      "no choices",
      { kind: "json", body: { id: "x", object: "chat.completion" } },
      /without choices/,
    ],
    [
      "an HTML page",
      { kind: "text", body: "<html>hi</html>", contentType: "text/html" },
      /not JSON/,
    ],
    [
      "a dropped connection",
      { kind: "drop" },
      /^no answer from InternLM: connection broken while reading the answer$/,
    ],
    [
      "an error with status 200",
      { kind: "json", body: { msg: "quota exhausted" } },
      /quota exhausted/,
    ],
  ] as const
) {
  Deno.test(`upstream answering ${name} gives 502 and the proxy stays healthy`, async () => {
    await withProxy(() => reply as Reply, async (proxy) => {
      await expectError(await postChat(proxy, chatBody()), 502, message);
      const health = await fetch(`${proxy.origin}/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    }, { configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n" });
  });
}

Deno.test("an upstream answer above max_response_bytes is refused with 502", async () => {
  await withProxy(() => completion("x".repeat(5000)), async (proxy) => {
    await expectError(await postChat(proxy, chatBody()), 502, /larger than the limit/);
  }, { configText: "backends:\n  internlm:\n    type: internlm\n    max_response_bytes: 2048\n" });
});

Deno.test("a hanging upstream gives 504 at the configured timeout and is aborted", async () => {
  await withProxy(() => ({ kind: "hang" }), async (proxy, up) => {
    const err = await expectError(await postChat(proxy, chatBody()), 504, /did not answer/);
    assert.equal(err.code, "upstream_timeout");
    await up.waitForAbort(0, 1000);
  }, { configText: "backends:\n  internlm:\n    type: internlm\n    timeout: 0.3\n" });
});

Deno.test("an unprefixed unknown model goes to the default backend, whose 404 passes through", async () => {
  await withProxy(() => openaiError(404, "model gpt-9 not found"), async (proxy, up) => {
    await expectError(await postChat(proxy, chatBody({ model: "gpt-9" })), 404, /gpt-9/);
    assert.equal(up.chatRequests()[0].body?.model, "gpt-9");
  });
});

/** A loopback port with nothing listening on it (bound, then closed). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

/** An upstream that accepts connections and closes each one at once, before answering. */
function resettingUpstream(): { baseUrl: string; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  return {
    baseUrl: `http://127.0.0.1:${listener.addr.port}/api/v1`,
    close: async () => {
      listener.close();
      await serving;
    },
  };
}

Deno.test("an unreachable upstream: the 502 says why (refused, reset, TLS) from the error's cause", async () => {
  const reset = resettingUpstream();
  const plain = await FakeUpstream.start();
  // [what, upstream, the reason the client and the log line give]
  const cases: [string, string, RegExp][] = [
    ["refused", `http://127.0.0.1:${closedPort()}/api/v1`, /connection refused/],
    ["reset", reset.baseUrl, /connection reset/],
    // HTTPS to a server that speaks plain HTTP: the TLS handshake fails.
    ["TLS", plain.baseUrl.replace("http:", "https:"), /TLS failed: [^ ].*/],
  ];
  try {
    for (const [name, upstream, reason] of cases) {
      const proxy = await startProxy({
        upstream,
        configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n",
      });
      try {
        const res = await postChat(proxy, chatBody());
        const err = await expectError(res, 502);
        assert.match(err.message, new RegExp(`^no answer from InternLM: ${reason.source}$`), name);
        assert.equal(err.code, "upstream_unreachable", name);
        const warning = proxy.logs.find((l) => l.includes("network error: "));
        assert.match(warning ?? "", reason, name);
      } finally {
        await proxy.close();
      }
    }
  } finally {
    await reset.close();
    await plain.close();
  }
});
