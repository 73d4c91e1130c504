// Fallbacks along a models: chain: taken on each reason a backend cannot serve, never on a
// request the upstream refused, never once the client has a byte of the stream; and reported in
// the headers, the log line and the metrics.
import assert from "node:assert/strict";
import { FALLBACKS_HEADER, SERVED_BY_HEADER } from "../src/edge/handler.ts";
import { fallbackReason } from "../src/pipeline/fallback.ts";
import { ApiError, CLIENT_CLOSED } from "../src/canonical/errors.ts";
import {
  completion,
  openaiError,
  rateLimited,
  type Reply,
  type Responder,
  textError,
} from "./fake_upstream.ts";
import { sseEvents } from "./fake_stream.ts";
import { parseSse, postChat, type TestProxy } from "./proxy.ts";
import { FRONTEND_CALLS, withRoutes } from "./routes_fixture.ts";

const CHAIN = `models:
  "gpt-*": [internlm/intern-s1, local/qwen3-32b]
`;
/** Quick to give up: one retry, short backoff and timeout. */
const QUICK = "max_retries: 1\nretry_backoff: 0.01\ntimeout: 0.5\n";
const FROM_LOCAL = () => completion("from local");

Deno.test("fallbackReason: each way of failing, and what is not a reason", () => {
  const table: Array<[ApiError, string | undefined]> = [
    [new ApiError(503, "x", { code: "no_api_key" }), "no_key"],
    [new ApiError(429, "x", { code: "rate_limit_exceeded" }), "rate_limited"],
    [new ApiError(502, "x", { code: "upstream_keys_rejected" }), "keys_rejected"],
    [new ApiError(502, "x", { code: "upstream_error" }), "server_error"],
    [new ApiError(502, "x", { code: "upstream_unreachable" }), "network_error"],
    [new ApiError(504, "x", { code: "upstream_timeout" }), "timeout"],
    [new ApiError(502, "x", { code: "bad_upstream_response" }), "bad_response"],
    [new ApiError(404, "x", { code: "model_not_found" }), "model_not_found"],
    [new ApiError(404, "x"), "model_not_found"],
    [new ApiError(500, "x"), "server_error"],
    [new ApiError(400, "x"), undefined],
    [new ApiError(413, "x"), undefined],
    [new ApiError(422, "x"), undefined],
    [new ApiError(403, "x"), undefined],
    [new ApiError(503, "x", { code: "server_shutting_down" }), undefined],
    [new ApiError(CLIENT_CLOSED, "x", { code: "client_closed" }), undefined],
  ];
  for (const [err, reason] of table) {
    assert.equal(fallbackReason(err), reason, `${err.status} ${err.code}`);
  }
  assert.equal(fallbackReason(new Error("boom")), undefined);
});

/** How the first target fails, the settings it needs, and the reason the fallback gives. */
const FAILURES: Array<{ reason: string; internlm?: string; reply?: () => Reply }> = [
  { reason: "no_key", internlm: "api_keys: []\n" },
  { reason: "rate_limited", reply: () => rateLimited(30) },
  { reason: "keys_rejected", reply: () => openaiError(401, "invalid key") },
  { reason: "server_error", reply: () => openaiError(500, "boom") },
  { reason: "network_error", reply: () => ({ kind: "drop" }) },
  { reason: "timeout", reply: () => ({ kind: "hang" }) },
  { reason: "bad_response", reply: () => textError(200, "not json") },
  {
    reason: "model_not_found",
    reply: () => openaiError(404, "no such model", { code: "model_not_found" }),
  },
];

for (const frontend of FRONTEND_CALLS) {
  for (const { reason, internlm, reply } of FAILURES) {
    Deno.test(`fallback via ${frontend.name}: ${reason} → the next target answers`, async () => {
      const responders = { internlm: reply, local: FROM_LOCAL };
      const options = { extra: CHAIN, internlm: `${QUICK}${internlm ?? ""}`, responders };
      await withRoutes(options, async (proxy, ups) => {
        for (const stream of [false, true]) {
          const asked = await frontend.ask(proxy, "gpt-5.5", stream);
          assert.equal(asked.status, 200, asked.error);
          assert.equal(asked.content, "from local");
          assert.equal(asked.model, "gpt-5.5");
          assert.equal(asked.headers.get(SERVED_BY_HEADER), "local/qwen3-32b");
          assert.equal(
            asked.headers.get(FALLBACKS_HEADER),
            `internlm/intern-s1 -> local/qwen3-32b (${reason})`,
          );
        }
        assert.deepEqual(ups.local.chatRequests().map((r) => r.body?.model), [
          "qwen3-32b",
          "qwen3-32b",
        ]);
        const metrics = await (await fetch(`${proxy.origin}/metrics`)).text();
        const line = `llm_proxy_fallbacks_total{from="internlm/intern-s1",to="local/qwen3-32b",` +
          `reason="${reason}"} 2`;
        assert.ok(metrics.split("\n").includes(line), `${line} in\n${metrics}`);
        const logged = proxy.logs.filter((l) => / INFO POST \S+ 200 /.test(l));
        assert.equal(logged.length, 2);
        for (const l of logged) {
          assert.match(l, /backend=local model=qwen3-32b/);
          assert.ok(l.includes(`fallbacks=internlm/intern-s1->local/qwen3-32b(${reason})`), l);
        }
      });
    });
  }

  Deno.test(`fallback via ${frontend.name}: a request the upstream refused is not passed on`, async () => {
    for (const status of [400, 413, 422]) {
      const responders = { internlm: () => openaiError(status, "the request is wrong") };
      await withRoutes({ extra: CHAIN, responders }, async (proxy, ups) => {
        const asked = await frontend.ask(proxy, "gpt-5.5", false);
        assert.equal(asked.status, status === 422 ? 400 : status);
        assert.equal(asked.error, "the request is wrong");
        assert.equal(ups.local.chatRequests().length, 0);
        assert.equal(asked.headers.get(FALLBACKS_HEADER), null);
      });
    }
  });

  Deno.test(`fallback via ${frontend.name}: every target failing answers the last one's error`, async () => {
    const responders = {
      internlm: () => openaiError(500, "internlm down"),
      local: () => openaiError(404, "local lacks it"),
    };
    await withRoutes(
      { extra: CHAIN, internlm: QUICK, local: QUICK, responders },
      async (proxy) => {
        const asked = await frontend.ask(proxy, "gpt-5.5", false);
        assert.equal(asked.status, 404);
        assert.equal(asked.error, "local lacks it");
        assert.equal(
          asked.headers.get(FALLBACKS_HEADER),
          "internlm/intern-s1 -> local/qwen3-32b (server_error)",
        );
        assert.equal(asked.headers.get(SERVED_BY_HEADER), null);
      },
    );
  });
}

/** Asks for a stream of `gpt-5.5` (the chain). */
function streamGpt(proxy: TestProxy): Promise<Response> {
  return postChat(proxy, {
    model: "gpt-5.5",
    stream: true,
    messages: [{ role: "user", content: "Hi" }],
  });
}

/** A responder that holds the reply until the test hands it over. */
function heldReply(): {
  responder: Responder;
  release: (reply: Reply) => void;
  asked: Promise<void>;
} {
  let release!: (reply: Reply) => void;
  let asked!: () => void;
  const reply = new Promise<Reply>((resolve) => release = resolve);
  const wasAsked = new Promise<void>((resolve) => asked = resolve);
  return {
    responder: () => {
      asked();
      return reply;
    },
    release,
    asked: wasAsked,
  };
}

Deno.test("fallback in a stream: after the stream started but before any byte, it still falls back", async () => {
  const held = heldReply();
  // The stream starts at 1.5 s; its first keep-alive would go out 1.5 s after that.
  const options = {
    extra: `${CHAIN}streaming:\n  keepalive_interval: 1.5\n`,
    responders: { internlm: held.responder, local: FROM_LOCAL },
  };
  await withRoutes(options, async (proxy, ups) => {
    const res = await streamGpt(proxy);
    // Headers are out: the stream has started, and has no answer yet to say who serves it.
    assert.equal(res.status, 200);
    assert.equal(res.headers.get(SERVED_BY_HEADER), null);
    held.release(openaiError(500, "late failure"));
    const { data, comments } = parseSse(await res.text());
    assert.deepEqual(comments, []);
    const chunks = data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
    assert.ok(chunks.every((c) => !c.error), data.join("\n"));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "from local");
    assert.equal(ups.local.chatRequests().length, 1);
    assert.ok(proxy.logs.some((l) => /fallback internlm\/intern-s1 -> local\/qwen3-32b/.test(l)));
  });
});

Deno.test("fallback in a stream: once a keep-alive byte went out, nothing falls back", async () => {
  const held = heldReply();
  const options = {
    extra: `${CHAIN}streaming:\n  keepalive_interval: 0.05\n`,
    responders: { internlm: held.responder, local: FROM_LOCAL },
  };
  await withRoutes(options, async (proxy, ups) => {
    const res = await streamGpt(proxy);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /^: keep-alive/);
    held.release(openaiError(500, "late failure"));
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      rest += new TextDecoder().decode(r.value);
    }
    const errors = parseSse(rest).data.filter((d) => d.includes('"error"'));
    assert.equal(errors.length, 1, rest);
    assert.match(JSON.parse(errors[0]).error.message, /late failure/);
    assert.equal(ups.local.chatRequests().length, 0);
    assert.ok(proxy.logs.some((l) => /not falling back .*the client has bytes/.test(l)));
  });
});

Deno.test("fallback in a stream: a live stream that breaks after its first bytes is not passed on", async () => {
  const options = {
    extra: `models:\n  "gpt-*": [local/first, internlm/second]\n`,
    responders: {
      local: (): Reply => ({
        kind: "sse",
        parts: sseEvents({ content: ["half ", "an answer"], model: "first" }).slice(0, 3),
        fail: true,
      }),
    },
  };
  await withRoutes(options, async (proxy, ups) => {
    const res = await streamGpt(proxy);
    const { data } = parseSse(await res.text());
    assert.ok(data.some((d) => d.includes('"error"')), data.join("\n"));
    assert.equal(ups.internlm.chatRequests().length, 0);
  });
});
