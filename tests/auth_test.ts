// Client authentication to the proxy: server.api_keys / LLM_PROXY_API_KEYS gate every route but
// /health, accept "Authorization: Bearer K" and "x-api-key: K", answer 401 in OpenAI's shape,
// never forward the client's key upstream, and a non-loopback bind without keys is warned about.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { ClientAuth } from "../src/edge/auth.ts";
import { type Config, ConfigError, isLoopback, loadConfig } from "../src/config/config.ts";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { run } from "./subprocess.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, type TestProxy, withProxy as withUpstreamAndProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

const CLIENT_A = "proxy-client-key-A-5c0ffee9d1";
const CLIENT_B = "proxy-client-key-B-77ab3e01f4";
const UPSTREAM_KEY = "sk-upstream-only-3a9e11c7b2";

function withAuthProxy(
  fn: (proxy: TestProxy, up: FakeUpstream) => Promise<void>,
  env: Record<string, string> = { LLM_PROXY_API_KEYS: ` ${CLIENT_A}, ,${CLIENT_B} ` },
  configText?: string,
) {
  return withUpstreamAndProxy(
    () => completion("authorised answer"),
    ({ up, proxy }) => fn(proxy, up),
    { keys: [UPSTREAM_KEY], env, configText },
  );
}

/** Every route the proxy has, plus ones it does not (yet): all are behind the gate. */
const ROUTES: Array<[string, string]> = [
  ["POST", "/v1/chat/completions"],
  ["POST", "/chat/completions"],
  ["GET", "/v1/models"],
  ["GET", "/models"],
  ["GET", "/v1/models/internlm/internlm2.5-latest"],
  ["HEAD", "/v1/models"],
  ["GET", "/metrics"],
  ["GET", "/v1/nope"],
  ["DELETE", "/v1/chat/completions"],
  ["GET", "/health/../v1/models"],
  ["GET", "/healthz"],
  ["GET", "/health/x"],
];

/** Credentials that must all be refused. */
const BAD_CREDENTIALS: Array<Record<string, string>> = [
  {},
  { authorization: "" },
  { authorization: "Bearer" },
  { authorization: "Bearer " },
  { authorization: "Bearer wrong-key" },
  { authorization: `Basic ${btoa(`user:${CLIENT_A}`)}` },
  { authorization: CLIENT_A }, // no scheme
  { authorization: `Bearer ${CLIENT_A.slice(0, -1)}` }, // a prefix
  { authorization: `Bearer ${CLIENT_A}x` }, // an extension
  { authorization: `Bearer ${CLIENT_A.toUpperCase()}` },
  { authorization: `Bearer ${CLIENT_A},${CLIENT_B}` },
  { authorization: `Bearer ${"x".repeat(10_000)}` },
  { "x-api-key": "wrong" },
  { "x-api-key": `${CLIENT_B} extra` },
  { "api-key": CLIENT_A }, // Azure's header is not one of ours
  { cookie: `key=${CLIENT_A}` },
];

function send(proxy: TestProxy, method: string, path: string, headers: Record<string, string>) {
  const hasBody = method === "POST";
  return fetch(`${proxy.origin}${path}`, {
    method,
    headers: hasBody ? { "content-type": "application/json", ...headers } : headers,
    body: hasBody ? JSON.stringify(chatBody()) : undefined,
  });
}

Deno.test("auth: every route but /health needs a client key; 401 in OpenAI's shape", async () => {
  await withAuthProxy(async (proxy, up) => {
    let refused = 0;
    let sent = 0;
    for (const [method, path] of ROUTES) {
      for (const headers of BAD_CREDENTIALS) {
        const res = await send(proxy, method, path, headers);
        sent++;
        const what = `${method} ${path} ${JSON.stringify(headers).slice(0, 80)}`;
        assert.equal(res.status, 401, what);
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="llm-proxy"');
        if (method === "HEAD") {
          await res.body?.cancel();
        } else {
          const text = await res.text();
          const body = JSON.parse(text);
          assertSchema("ErrorResponse", body);
          assert.equal(body.error.type, "authentication_error");
          assert.match(body.error.code, /^(missing|invalid)_api_key$/);
          // A wrong guess is never echoed back (nor the real key, of course).
          for (const secret of [CLIENT_A, CLIENT_B, "wrong-key", UPSTREAM_KEY]) {
            assert.ok(!text.includes(secret), `${what}: answer contains ${secret}`);
          }
        }
        refused++;
      }
    }
    assert.equal(up.requests.length, 0, "nothing unauthenticated reached the upstream");
    for (const secret of [CLIENT_A, CLIENT_B, UPSTREAM_KEY]) {
      assert.ok(!proxy.logs.some((l) => l.includes(secret)), `a log line contains ${secret}`);
    }

    // /health stays open for load balancers, with or without a (wrong) key.
    for (const headers of [{}, { authorization: "Bearer wrong" }] as HeadersInit[]) {
      const res = await fetch(`${proxy.origin}/health`, { headers });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    console.log(`auth: ${sent} requests without a valid key, ${refused} 401, /health open`);
  });
});

Deno.test("auth: a configured key works as Bearer or x-api-key, on every route", async () => {
  await withAuthProxy(async (proxy) => {
    let accepted = 0;
    const good: Array<Record<string, string>> = [
      { authorization: `Bearer ${CLIENT_A}` },
      { authorization: `bearer   ${CLIENT_B}` },
      { "x-api-key": CLIENT_A },
      { "x-api-key": CLIENT_B, authorization: "Bearer wrong" }, // either header may carry it
    ];
    for (const [method, path] of ROUTES) {
      for (const headers of good) {
        const res = await send(proxy, method, path, headers);
        assert.notEqual(res.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
        await res.body?.cancel();
        accepted++;
      }
    }
    // The official SDK sends its apiKey as a Bearer token.
    const client = new OpenAI({ baseURL: proxy.baseUrl, apiKey: CLIENT_B, maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: "internlm/internlm2.5-latest",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(answer.choices[0].message.content, "authorised answer");
    const wrong = new OpenAI({ baseURL: proxy.baseUrl, apiKey: "nope", maxRetries: 0 });
    await assert.rejects(() => wrong.models.list(), OpenAI.AuthenticationError);
    console.log(`auth: ${accepted} requests with a valid key, 0 401`);
  });
});

Deno.test("auth: the client's key is never forwarded upstream, in any header or the body", async () => {
  await withAuthProxy(async (proxy, up) => {
    const credentials: Array<Record<string, string>> = [
      { authorization: `Bearer ${CLIENT_A}` },
      { "x-api-key": CLIENT_B },
    ];
    for (const headers of credentials) {
      for (const stream of [false, true]) {
        const res = await fetch(`${proxy.baseUrl}/chat/completions`, {
          method: "POST",
          headers: { ...headers, "x-forwarded-for": "10.0.0.1", "x-client-note": CLIENT_A },
          body: JSON.stringify(chatBody({ stream })),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
    }
    const models = await fetch(`${proxy.baseUrl}/models`, { headers: { "x-api-key": CLIENT_A } });
    assert.equal(models.status, 200);
    await models.body?.cancel();

    let headersSeen = 0;
    for (const rec of up.requests) {
      assert.equal(rec.key, UPSTREAM_KEY, "the upstream gets the proxy's own key");
      for (const [name, value] of rec.headers) {
        headersSeen++;
        for (const secret of [CLIENT_A, CLIENT_B]) {
          assert.ok(!value.includes(secret), `upstream header ${name} carries the client key`);
        }
      }
      for (const secret of [CLIENT_A, CLIENT_B]) {
        assert.ok(!JSON.stringify(rec.body).includes(secret), "upstream body has the client key");
      }
      assert.equal(rec.headers.get("x-api-key"), null);
      assert.equal(rec.headers.get("x-forwarded-for"), null);
    }
    assert.equal(up.chatRequests().length, 4);
    console.log(
      `auth: ${up.requests.length} upstream requests, ${headersSeen} headers, 0 carry a client key`,
    );
  });
});

Deno.test("auth: server.api_keys in the config file (with ${VAR}); the env list replaces it", async () => {
  const configText = `server:\n  api_keys: ["\${TEAM_KEY}", "${CLIENT_B}"]\n`;
  await withAuthProxy(
    async (proxy) => {
      for (const [key, status] of [[CLIENT_A, 200], [CLIENT_B, 200], ["other", 401]] as const) {
        const res = await send(proxy, "GET", "/v1/models", { authorization: `Bearer ${key}` });
        assert.equal(res.status, status, key);
        await res.body?.cancel();
      }
    },
    { TEAM_KEY: CLIENT_A },
    configText,
  );

  const quiet = () => {};
  const keysOf = async (env: Record<string, string>) =>
    (await loadConfig({ env, configText, logSink: quiet })).clientKeys;
  assert.deepEqual(await keysOf({ TEAM_KEY: "t" }), ["t", CLIENT_B]);
  assert.deepEqual(await keysOf({ TEAM_KEY: "t", LLM_PROXY_API_KEYS: "e1,e2,e1" }), ["e1", "e2"]);
  assert.deepEqual((await loadConfig({ env: {}, logSink: quiet })).clientKeys, []);
});

Deno.test("auth: a client key list that is given but ends up empty stops the start, not opens the proxy", async () => {
  const fails = async (env: Record<string, string>, configText?: string) => {
    try {
      await loadConfig({ env, configText, logSink: () => {} });
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    assert.fail(`started open with ${JSON.stringify({ env, configText })}`);
  };
  assert.match(
    await fails({}, 'server:\n  api_keys: ["${UNSET_CLIENT_KEY}"]\n'),
    /^<config>:2:\d+: server\.api_keys lists no usable key/,
  );
  assert.match(
    await fails({}, 'server:\n  api_keys: [""]\n'),
    /server\.api_keys lists no usable key/,
  );
  assert.match(await fails({}, "server:\n  api_keys: ['  ', '${A}${B}']\n"), /no usable key/);
  for (const value of ["", " ", ",", " , "]) {
    assert.match(
      await fails({ LLM_PROXY_API_KEYS: value }),
      /^LLM_PROXY_API_KEYS is set but holds no key/,
    );
  }
  // Nothing given at all, or an explicitly empty list, is the documented open default.
  assert.deepEqual((await loadConfig({ env: {}, logSink: () => {} })).clientKeys, []);
  assert.deepEqual(
    (await loadConfig({ env: {}, configText: "server:\n  api_keys: []\n", logSink: () => {} }))
      .clientKeys,
    [],
  );
});

Deno.test("auth: main.ts exits 2 with one line when the client key list is empty", async () => {
  const out = await run(
    [Deno.execPath(), "run", ...RUNTIME_FLAGS, "main.ts"],
    { LLM_PROXY_API_KEYS: "", INTERNAI_API_KEY: "k", LLM_PROXY_PORT: "0" },
    new URL("../", import.meta.url).pathname,
  );
  assert.equal(out.code, 2, out.stderr);
  assert.match(out.stderr, /^error: LLM_PROXY_API_KEYS is set but holds no key[^\n]*\n$/);
});

Deno.test("auth: without client keys the proxy stays open (the default)", async () => {
  await withAuthProxy(async (proxy) => {
    const res = await send(proxy, "POST", "/v1/chat/completions", {});
    assert.equal(res.status, 200);
    await res.body?.cancel();
  }, {});
});

Deno.test("ClientAuth: compared in constant time, any configured key, no key = open", () => {
  const auth = new ClientAuth(["a", "b".repeat(5000)]);
  const req = (headers: Record<string, string>) => new Request("http://x/", { headers });
  auth.check(req({ authorization: "Bearer a" }));
  auth.check(req({ "x-api-key": "b".repeat(5000) }));
  // Lengths that differ wildly from every configured key are refused, not crashed on.
  for (const guess of ["", "ab", "b".repeat(4999), "b".repeat(5001), "\u00ff\u00fe"]) {
    assert.throws(() => auth.check(req({ "x-api-key": guess })), /API key/);
  }
  assert.equal(auth.enabled, true);
  const open = new ClientAuth([]);
  assert.equal(open.enabled, false);
  open.check(req({}));
});

// ---- the non-loopback warning ----

async function warningsFor(host: string, env: Record<string, string> = {}): Promise<string[]> {
  const lines: string[] = [];
  const config: Config = await loadConfig({
    env,
    overrides: { host },
    logSink: (l) => lines.push(l),
  });
  assert.equal(config.host, host);
  return lines.filter((l) => l.includes("SECURITY WARNING"));
}

Deno.test("auth: a non-loopback bind without client keys logs a loud warning", async () => {
  for (const host of ["0.0.0.0", "::", "[::]", "192.168.1.10", "example.internal"]) {
    const warnings = await warningsFor(host);
    assert.equal(warnings.length, 1, host);
    assert.match(warnings[0], /WARN/);
    assert.match(warnings[0], /LLM_PROXY_API_KEYS/);
    assert.equal(isLoopback(host), false, host);
  }
  for (const host of ["127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]"]) {
    assert.deepEqual(await warningsFor(host), [], host);
    assert.equal(isLoopback(host), true, host);
  }
  assert.deepEqual(await warningsFor("0.0.0.0", { LLM_PROXY_API_KEYS: CLIENT_A }), []);
});

Deno.test("auth: main.ts on 0.0.0.0 without keys prints the warning before it listens", async () => {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([n]) =>
      !n.startsWith("LLM_PROXY_") && !n.startsWith("INTERNAI_")
    ),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "main.ts", "--host", "0.0.0.0"],
    cwd: new URL("..", import.meta.url),
    // Port 0: the OS picks a free one. No upstream traffic happens: nothing calls the proxy.
    env: {
      ...env,
      NO_COLOR: "1",
      LLM_PROXY_PORT: "0",
      INTERNAI_API_BASE_URL: "http://127.0.0.1:9",
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("listening on")) break;
  }
  child.kill("SIGTERM");
  await child.status;
  const warning = text.indexOf("SECURITY WARNING");
  assert.ok(warning >= 0, text);
  assert.ok(warning < text.indexOf("listening on"), "the warning comes first");
});
