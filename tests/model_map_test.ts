// The `models:` map: patterns, order, the chain's first target, force-model over everything,
// what responses and /v1/models report, through every front end; and config mistakes.
import assert from "node:assert/strict";
import { type Config, ConfigError, loadConfig, type Overrides } from "../src/config/config.ts";
import { modelPattern } from "../src/pipeline/model_pattern.ts";
import { SERVED_BY_HEADER } from "../src/edge/handler.ts";
import { assertSchema } from "./schema.ts";
import { EXAMPLE_MAP, FRONTEND_CALLS, withRoutes } from "./routes_fixture.ts";

const quiet = () => {};

Deno.test("model pattern: * and ? as globs, case ignored, everything else literal", () => {
  const table: Array<[string, string, boolean]> = [
    ["claude-*", "claude-sonnet-4-5-20250929", true],
    ["claude-*", "claude-", true],
    ["claude-*", "anthropic/claude-x", false],
    ["claude-*haiku*", "claude-3-5-haiku-20241022", true],
    ["claude-*haiku*", "claude-haiku-4-5", true],
    ["claude-*haiku*", "claude-sonnet-4-5", false],
    ["*", "anything/at all", true],
    ["*", "", true],
    ["gpt-?o", "gpt-4o", true],
    ["gpt-?o", "gpt-40o", false],
    ["gpt-5.5", "gpt-5.5", true],
    ["gpt-5.5", "gpt-5x5", false], // "." is literal
    ["gpt-5.5", "GPT-5.5", true],
    ["gemini-*-pro", "Gemini-2.5-Pro", true],
    ["a+b(c)", "a+b(c)", true],
    ["a+b(c)", "aab(c)", false],
    ["*/llama-*", "meta-llama/llama-3-8b", true],
  ];
  for (const [pattern, id, expected] of table) {
    assert.equal(modelPattern(pattern).matches(id), expected, `${pattern} vs ${id}`);
  }
  assert.equal(modelPattern("gpt-4o").exact, true);
  assert.equal(modelPattern("gpt-*").exact, false);
});

/** A config with backends internlm (default) and local, and `map` as its models section. */
async function configWith(map: string, overrides: Overrides = {}) {
  return await loadConfig({
    configText: `backends:
  internlm: {type: internlm, api_keys: [k]}
  local: {type: openai, api_url: "http://127.0.0.1:1/v1", api_keys: [k]}
default_backend: internlm
${map}`,
    overrides,
    env: {},
    logSink: quiet,
  });
}

/** What a plan comes to: the alias that matched and `backend/model` of each target. */
function planOf(config: Config, id: string) {
  const plan = config.router.plan(id);
  return [plan.alias, plan.targets.map((t) => `${t.backend.name}/${t.model}`)];
}

Deno.test("model map: the issue's example, first match wins, ids of every agent CLI", async () => {
  const config = await configWith(EXAMPLE_MAP);
  const s1 = ["internlm/intern-s1"];
  const mini = ["internlm/intern-s1-mini"];
  const chain = ["internlm/intern-s1", "local/qwen3-32b"];
  const latest = ["internlm/intern-latest"];
  const table: Array<[string, string, string[]]> = [
    // Claude Code: main loop and background (haiku) models, dated and undated.
    ["claude-sonnet-4-5-20250929", "claude-*", s1],
    ["claude-sonnet-4-6", "claude-*", s1],
    ["claude-opus-4-1-20250805", "claude-*", s1],
    ["claude-opus-5-5", "claude-*", s1],
    ["claude-haiku-4-5-20251001", "claude-*haiku*", mini],
    ["claude-3-5-haiku-20241022", "claude-*haiku*", mini],
    ["claude-3-7-sonnet-latest", "claude-*", s1],
    // Codex.
    ["gpt-5.5", "gpt-*", chain],
    ["gpt-5-codex", "gpt-*", chain],
    ["gpt-6-sol", "gpt-*", chain],
    ["GPT-4o", "gpt-*", chain],
    // Gemini CLI (and anything else): the catch-all.
    ["gemini-2.5-pro", "*", latest],
    ["gemini-3-flash-preview", "*", latest],
    ["codex-auto-review", "*", latest],
    ["meta-llama/Llama-3-8B", "*", latest],
  ];
  for (const [id, alias, targets] of table) {
    assert.deepEqual(planOf(config, id), [alias, targets], id);
  }
});

Deno.test("model map: ids naming a backend go to it directly, whatever the map says", async () => {
  const config = await configWith(EXAMPLE_MAP);
  assert.deepEqual(planOf(config, "internlm/internlm3-latest"), [
    undefined,
    ["internlm/internlm3-latest"],
  ]);
  assert.deepEqual(planOf(config, "local:qwen3-32b"), [undefined, ["local/qwen3-32b"]]);
});

Deno.test("model map: order decides; without a catch-all, the rest routes as before", async () => {
  const config = await configWith(`models:
  "claude-*": internlm/intern-s1
  "claude-*haiku*": internlm/intern-s1-mini
  gpt-5.5: local/big
  "gpt-*": local/small
`);
  const table: Array<[string, string | undefined, string[]]> = [
    // The broader pattern comes first, so the haiku entry never matches.
    ["claude-haiku-4-5", "claude-*", ["internlm/intern-s1"]],
    ["gpt-5.5", "gpt-5.5", ["local/big"]],
    ["gpt-5.5-mini", "gpt-*", ["local/small"]],
    // No entry: the default backend, unchanged, as without a map.
    ["gemini-2.5-pro", undefined, ["internlm/gemini-2.5-pro"]],
    ["internlm2.5-latest", undefined, ["internlm/internlm2.5-latest"]],
  ];
  for (const [id, alias, targets] of table) {
    assert.deepEqual(planOf(config, id), [alias, targets], id);
  }
});

Deno.test("model map: an unused exact entry is warned about at startup", async () => {
  const lines: string[] = [];
  await loadConfig({
    configText: `models:\n  "gpt-*": internlm/a\n  gpt-5: internlm/b\n`,
    env: {},
    logSink: (l) => lines.push(l),
  });
  assert.ok(
    lines.some((l) => /models\."gpt-5" is never used: "gpt-\*" comes first/.test(l)),
    lines.join("\n"),
  );
});

async function loadFails(configText: string): Promise<ConfigError> {
  try {
    await loadConfig({ configText, env: {}, logSink: quiet });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("model map startup errors: each names the entry and its line", async () => {
  const two = `backends:
  a: {type: internlm}
  b: {type: internlm}
`;
  const table: Array<[string, RegExp]> = [
    [
      `${two}models:\n  "x-*": m\n`,
      /^<config>:5:\d+: models\."x-\*": target "m": model "m" has no backend prefix/,
    ],
    [`${two}models:\n  "x-*": c/m\n`, /models\."x-\*": target "c\/m": model "c\/m" has no backend/],
    [`models:\n  "x": []\n`, /models\."x" must be a backend model .* or a non-empty list/],
    [`models:\n  "x": [internlm/a, 3]\n`, /models\."x" must be a backend model/],
    [`models:\n  "x": {a: 1}\n`, /models\."x" must be a backend model/],
    [`models:\n  "internlm/old": internlm/new\n`, /go to that backend directly/],
    [`models:\n  "123": internlm/a\n`, /digits only/],
    [`models: [a, b]\n`, /models must be a mapping/],
    [`report_model: alias\n`, /report_model must be one of: requested, served/],
  ];
  for (const [text, pattern] of table) {
    const err = await loadFails(text);
    assert.match(err.message, pattern, text);
    assert.match(err.message, /^<config>:\d+:\d+: /, text);
  }
});

for (const frontend of FRONTEND_CALLS) {
  Deno.test(`model map via ${frontend.name}: aliases reach their backend model, reported as asked`, async () => {
    await withRoutes({ extra: EXAMPLE_MAP }, async (proxy, { internlm, local }) => {
      for (const stream of [false, true]) {
        const cases: Array<[string, string]> = [
          ["claude-sonnet-4-5-20250929", "internlm/intern-s1"],
          ["claude-haiku-4-5-20251001", "internlm/intern-s1-mini"],
          ["gpt-5.5", "internlm/intern-s1"],
          ["gemini-2.5-pro", "internlm/intern-latest"],
          ["local/qwen3-32b", "local/qwen3-32b"],
        ];
        for (const [model, servedBy] of cases) {
          const asked = await frontend.ask(proxy, model, stream);
          assert.equal(asked.status, 200, `${model}: ${asked.error}`);
          // An alias is reported as the client asked for it; a backend's own id as itself.
          assert.equal(asked.model, model);
          assert.equal(asked.headers.get(SERVED_BY_HEADER), servedBy, model);
        }
      }
      assert.deepEqual(internlm.chatRequests().map((r) => r.body?.model), [
        ...["intern-s1", "intern-s1-mini", "intern-s1", "intern-latest"],
        ...["intern-s1", "intern-s1-mini", "intern-s1", "intern-latest"],
      ]);
      assert.deepEqual(local.chatRequests().map((r) => [r.body?.model, r.body?.stream]), [
        ["qwen3-32b", false],
        ["qwen3-32b", true],
      ]);
      // The log line says which backend model answered which alias.
      const line = proxy.logs.find((l) => l.includes("requested=gpt-5.5"));
      assert.ok(line, proxy.logs.join("\n"));
      assert.match(line, /backend=internlm model=intern-s1 requested=gpt-5\.5 alias=gpt-\*/);
    });
  });

  Deno.test(`model map via ${frontend.name}: report_model: served names the backend model`, async () => {
    await withRoutes({ extra: `${EXAMPLE_MAP}report_model: served\n` }, async (proxy) => {
      for (const stream of [false, true]) {
        const asked = await frontend.ask(proxy, "claude-opus-4-1", stream);
        assert.equal(asked.model, "internlm/intern-s1");
      }
    });
  });

  Deno.test(`model map via ${frontend.name}: --force-model wins over the map`, async () => {
    const overrides = { forceModel: "local/forced" };
    await withRoutes({ extra: EXAMPLE_MAP, overrides }, async (proxy, { internlm, local }) => {
      for (const model of ["claude-sonnet-4-5", "gpt-5.5", "internlm/intern-s1"]) {
        const asked = await frontend.ask(proxy, model, false);
        assert.equal(asked.model, "local/forced");
      }
      assert.equal(internlm.chatRequests().length, 0);
      assert.deepEqual(local.chatRequests().map((r) => r.body?.model), [
        "forced",
        "forced",
        "forced",
      ]);
    });
  });
}

Deno.test("model map: /v1/models lists every alias first, saying what it maps to", async () => {
  await withRoutes({ extra: EXAMPLE_MAP }, async (proxy) => {
    const body = await (await fetch(`${proxy.baseUrl}/models`)).json();
    assertSchema("ListModelsResponse", body);
    const aliases = body.data.slice(0, 4).map((m: Record<string, unknown>) => [
      m.id,
      m.maps_to,
      m.pattern,
    ]);
    assert.deepEqual(aliases, [
      ["claude-*haiku*", ["internlm/intern-s1-mini"], true],
      ["claude-*", ["internlm/intern-s1"], true],
      ["gpt-*", ["internlm/intern-s1", "local/qwen3-32b"], true],
      ["*", ["internlm/intern-latest"], true],
    ]);
    assert.ok(body.data.slice(4).every((m: { id: string }) => /^(internlm|local)\//.test(m.id)));
    // One model: an id a pattern takes is described as that alias.
    const one = await fetch(`${proxy.baseUrl}/models/gpt-5.5`);
    const model = await one.json();
    assert.equal(one.status, 200);
    assertSchema("Model", model);
    assert.deepEqual([model.id, model.maps_to], ["gpt-5.5", [
      "internlm/intern-s1",
      "local/qwen3-32b",
    ]]);
  });
});
