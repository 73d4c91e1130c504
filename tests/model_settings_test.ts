// Per-model settings: the max_tokens ceiling (clamped, logged), the context window (a clear 400
// before the upstream, or the next target of a chain), tools and images (400 or fall back),
// thinking (a wish: thinking models first, the others answer without it); InternLM's catalogue.
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { ModelSettingsTable, readModelSettings } from "../src/backends/model_settings.ts";
import { ConfigSection } from "../src/config/config_section.ts";
import { FALLBACKS_HEADER, SERVED_BY_HEADER } from "../src/edge/handler.ts";
import { completion } from "./fake_upstream.ts";
import { FRONTEND_CALLS, withRoutes } from "./routes_fixture.ts";

const quiet = () => {};

Deno.test("model settings: configured fields over the built-in ones, first match of each", () => {
  const builtIn = readModelSettings(
    new ConfigSection(["b"], {
      "m-pro*": { context_window: 256, thinking: true },
      "m-*": { context_window: 32, thinking: true, tools: true },
    }),
  );
  const configured = readModelSettings(
    new ConfigSection(["c"], { "m-pro-2": { max_tokens: 10 }, "m-*": { tools: false } }),
  );
  const table = new ModelSettingsTable(configured, builtIn);
  const cases: Array<[string, Record<string, unknown>]> = [
    ["m-pro-2", { contextWindow: 256, thinking: true, maxTokens: 10 }],
    ["m-pro-3", { contextWindow: 256, thinking: true, tools: false }],
    ["m-mini", { contextWindow: 32, thinking: true, tools: false }],
    ["other", {}],
  ];
  for (const [model, expected] of cases) {
    const got = Object.fromEntries(
      Object.entries(table.lookup(model)).filter(([, v]) => v !== undefined),
    );
    assert.deepEqual(got, expected, model);
  }
});

Deno.test("model settings startup errors: unknown keys and wrong types, with their line", async () => {
  const table: Array<[string, RegExp]> = [
    ["tokens: 5", /model_settings\.m\.tokens is not a known setting/],
    ["max_tokens: 0", /max_tokens must be between 1 and/],
    ["context_window: 1.5", /context_window must be an integer/],
    ["tools: yes please", /tools must be true or false/],
  ];
  for (const [line, pattern] of table) {
    const configText =
      `backends:\n  internlm:\n    type: internlm\n    model_settings:\n      m:\n        ${line}\n`;
    let caught: unknown;
    try {
      await loadConfig({ configText, env: {}, logSink: quiet });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigError, String(caught));
    assert.match(caught.message, /^<config>:6:\d+: /);
    assert.match(caught.message, pattern);
  }
});

const LOCAL_SETTINGS = `model_settings:
  capped: { max_tokens: 100 }
  tiny: { context_window: 60 }
  roomy: { context_window: 1000 }
  plain: { tools: false, images: false, thinking: false }
`;

Deno.test("max_tokens ceiling: larger asks are clamped, and the log says so", async () => {
  await withRoutes({ local: LOCAL_SETTINGS }, async (proxy, { local }) => {
    for (
      const extra of [{ max_tokens: 5000 }, { max_completion_tokens: 5000 }, { max_tokens: 50 }]
    ) {
      const asked = await FRONTEND_CALLS[0].ask(proxy, "local/capped", false, extra);
      assert.equal(asked.status, 200);
    }
    const sent = local.chatRequests().map((
      r,
    ) => [r.body?.max_tokens, r.body?.max_completion_tokens]);
    assert.deepEqual(sent, [[100, undefined], [undefined, 100], [50, undefined]]);
    assert.ok(
      proxy.logs.some((l) =>
        /max_tokens 5000 clamped to 100 for local\/capped: the model's max_tokens ceiling/.test(l)
      ),
      proxy.logs.join("\n"),
    );
    assert.ok(proxy.logs.some((l) => /max_completion_tokens 5000 clamped to 100/.test(l)));
  });
});

Deno.test("context window: max_tokens is clamped to what the window leaves after the prompt", async () => {
  await withRoutes({ local: LOCAL_SETTINGS }, async (proxy, { local }) => {
    const asked = await FRONTEND_CALLS[0].ask(proxy, "local/roomy", false, { max_tokens: 5000 });
    assert.equal(asked.status, 200);
    const sent = local.chatRequests()[0].body?.max_tokens as number;
    // "Hello!" with its framing is a handful of tokens: nearly the whole window is left.
    assert.ok(sent > 950 && sent < 1000, String(sent));
    assert.ok(proxy.logs.some((l) => /what its context window of 1000 leaves/.test(l)));
  });
});

const LONG = "word ".repeat(200);

/** One tool definition, in each dialect's shape. */
const TOOL_SHAPES: Record<string, unknown[]> = {
  openai_chat: [{ type: "function", function: { name: "t", parameters: { type: "object" } } }],
  anthropic: [{ name: "t", input_schema: { type: "object", properties: {} } }],
  responses: [{ type: "function", name: "t", parameters: { type: "object" } }],
  gemini: [{ functionDeclarations: [{ name: "t", parameters: { type: "object" } }] }],
};

const PNG = "data:image/png;base64,iVBORw0KGgo=";
/** A text and an image, in each dialect's shape. */
const IMAGE_PARTS: Record<string, unknown[]> = {
  openai_chat: [{ type: "text", text: "what?" }, { type: "image_url", image_url: { url: PNG } }],
  anthropic: [{ type: "text", text: "what?" }, {
    type: "image",
    source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" },
  }],
  responses: [{ type: "input_text", text: "what?" }, { type: "input_image", image_url: PNG }],
  gemini: [{ text: "what?" }, { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }],
};

for (const frontend of FRONTEND_CALLS) {
  Deno.test(`context window via ${frontend.name}: a prompt over it is a 400 before the upstream`, async () => {
    await withRoutes({ local: LOCAL_SETTINGS }, async (proxy, { local }) => {
      const messages = [{ role: "user", content: LONG }];
      for (const stream of [false, true]) {
        const asked = await frontend.ask(proxy, "local/tiny", stream, { messages });
        assert.equal(asked.status, 400);
        assert.match(asked.error!, /^prompt is too long: \d+ tokens, 60 maximum for local\/tiny/);
      }
      assert.equal(local.chatRequests().length, 0);
    });
  });

  Deno.test(`capabilities via ${frontend.name}: tools or images a model lacks are a clear 400`, async () => {
    await withRoutes({ local: LOCAL_SETTINGS }, async (proxy, { local }) => {
      const tools = TOOL_SHAPES[frontend.name];
      const asked = await frontend.ask(proxy, "local/plain", false, { tools });
      assert.equal(asked.status, 400);
      assert.equal(asked.error, "local/plain does not support tools (the request has 1)");
      const messages = [{ role: "user", content: IMAGE_PARTS[frontend.name] }];
      const withImage = await frontend.ask(proxy, "local/plain", false, { messages });
      assert.equal(withImage.status, 400);
      assert.equal(withImage.error, "local/plain does not read images");
      assert.equal(local.chatRequests().length, 0);
    });
  });
}

Deno.test("chain: a model that cannot take the request passes it on, saying why", async () => {
  const extra = `models:
  long: [local/tiny, internlm/intern-s1]
  tools: [local/plain, internlm/intern-s1]
`;
  await withRoutes({ local: LOCAL_SETTINGS, extra }, async (proxy, { internlm, local }) => {
    const messages = [{ role: "user", content: LONG }];
    const long = await FRONTEND_CALLS[0].ask(proxy, "long", false, { messages });
    assert.equal(long.status, 200);
    assert.equal(long.headers.get(SERVED_BY_HEADER), "internlm/intern-s1");
    assert.equal(
      long.headers.get(FALLBACKS_HEADER),
      "local/tiny -> internlm/intern-s1 (context_window)",
    );
    const tools = [{ type: "function", function: { name: "t", parameters: { type: "object" } } }];
    const withTools = await FRONTEND_CALLS[0].ask(proxy, "tools", false, { tools });
    assert.equal(
      withTools.headers.get(FALLBACKS_HEADER),
      "local/plain -> internlm/intern-s1 (unsupported_tools)",
    );
    assert.equal(local.chatRequests().length, 0);
    assert.equal(internlm.chatRequests().length, 2);
    const metrics = await (await fetch(`${proxy.origin}/metrics`)).text();
    assert.match(
      metrics,
      /llm_proxy_fallbacks_total\{from="local\/plain",to="internlm\/intern-s1",reason="unsupported_tools"\} 1/,
    );
  });
});

Deno.test("thinking: a chain tries its thinking models first; a model without it answers without", async () => {
  const extra = `models:
  chain: [local/plain, internlm/intern-s1]
  only: local/plain
`;
  await withRoutes({ local: LOCAL_SETTINGS, extra }, async (proxy, { internlm, local }) => {
    const think = { reasoning_effort: "high" };
    const thinking = await FRONTEND_CALLS[0].ask(proxy, "chain", false, think);
    assert.equal(thinking.headers.get(SERVED_BY_HEADER), "internlm/intern-s1");
    assert.equal(internlm.chatRequests()[0].body?.thinking_mode, true);
    // No thinking asked: the chain's own order.
    const plain = await FRONTEND_CALLS[0].ask(proxy, "chain", false);
    assert.equal(plain.headers.get(SERVED_BY_HEADER), "local/plain");
    // The only target cannot think: it answers, and is not sent what it cannot take.
    const only = await FRONTEND_CALLS[0].ask(proxy, "only", false, {
      ...think,
      thinking_mode: true,
    });
    assert.equal(only.status, 200);
    const sent = local.chatRequests().map((r) => [r.body?.reasoning_effort, r.body?.thinking_mode]);
    assert.deepEqual(sent, [[undefined, undefined], [undefined, undefined]]);
  });
});

Deno.test("InternLM catalogue: a prompt over intern-s1's 32K window is refused, intern-s1-pro's 256K takes it", async () => {
  await withRoutes(
    { responders: { internlm: () => completion("ok") } },
    async (proxy, { internlm }) => {
      // About 60K tokens of varied text.
      const text = Array.from({ length: 30_000 }, (_, i) => `w${i}`).join(" ");
      const messages = [{ role: "user", content: text }];
      const small = await FRONTEND_CALLS[0].ask(proxy, "internlm/intern-s1", false, { messages });
      assert.equal(small.status, 400);
      assert.match(
        small.error!,
        /^prompt is too long: \d+ tokens, 32768 maximum for internlm\/intern-s1/,
      );
      const big = await FRONTEND_CALLS[0].ask(proxy, "internlm/intern-s1-pro", false, { messages });
      assert.equal(big.status, 200, big.error);
      assert.deepEqual(internlm.chatRequests().map((r) => r.body?.model), ["intern-s1-pro"]);
    },
  );
});
