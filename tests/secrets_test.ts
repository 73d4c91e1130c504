// Keys never leak: not into logs (at debug level), error messages, /health, /v1/models or crash
// output, even when the upstream echoes them back; and no request can send them to another host.
import assert from "node:assert/strict";
import {
  completion,
  FakeUpstream,
  openaiError,
  rateLimited,
  type Responder,
  textError,
} from "./fake_upstream.ts";
import { chatBody, postChat, startProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

const KEYS = ["sk-secret-alpha-6d1f0e93ab", "sk-secret-bravo-2c48b7a1f0"];

/** Upstream answers that quote the key they were sent, as OpenAI's "Incorrect API key" does. */
const ECHOES: Array<[string, Responder]> = [
  ["401 echo", (r) => openaiError(401, `Incorrect API key provided: ${r.key}`)],
  ["400 echo", (r) => openaiError(400, `bad request for key ${r.key}`)],
  ["500 echo", (r) => textError(500, `<html><b>key ${r.key} crashed us</b></html>`)],
  ["200 non-JSON echo", (r) => textError(200, `oops ${r.key}`)],
  ["200 error echo", (r) => ({ kind: "json", body: { msg: `quota of ${r.key} exhausted` } })],
];

for (const [name, responder] of ECHOES) {
  Deno.test(`secrets: an upstream ${name} of the key reaches neither client nor log`, async () => {
    const up = await FakeUpstream.start(responder);
    const proxy = await startProxy({
      upstream: up.baseUrl,
      keys: KEYS,
      configText: "backends:\n  internlm:\n    type: internlm\n    retry_backoff: 0.001\n",
    });
    try {
      for (const stream of [false, true]) {
        const res = await postChat(proxy, chatBody({ stream }));
        const text = await res.text();
        assert.ok(res.status >= 400, `${res.status} ${text}`);
        assertSchema("ErrorResponse", JSON.parse(text));
        for (const key of KEYS) assert.ok(!text.includes(key), `answer leaks a key: ${text}`);
        // The slot label stands in for the key, so the message still says which one it was.
        if (!name.startsWith("401")) assert.match(text, /\[key \d\/2\]/);
      }
      assert.ok(up.chatRequests().length >= 2);
      for (const key of KEYS) {
        const leaked = proxy.logs.find((l) => l.includes(key));
        assert.equal(leaked, undefined, `log line leaks a key: ${leaked}`);
      }
      assert.ok(proxy.logs.some((l) => l.includes("[key ")), "redacted echo is logged");
    } finally {
      await proxy.close();
      await up.close();
    }
  });
}

// ---- a full scenario at debug level, in-process (both log formats) and as a subprocess ----

const UPSTREAM_KEYS = ["sk-scenario-one-9f8e7d6c5b", "sk-scenario-two-a1b2c3d4e5"];
const FILE_KEY = "sk-scenario-file-0a9b8c7d6e"; // reaches the proxy through ${VAR} in the file
const CLIENT_KEY = "llmp-client-key-5e4d3c2b1a";
const SECRETS = [...UPSTREAM_KEYS, FILE_KEY, CLIENT_KEY];

const SCENARIO_CONFIG = `server:
  api_keys: ["${CLIENT_KEY}"]
streaming:
  keepalive_interval: 0.1
backends:
  internlm:
    type: internlm
    api_keys: ["\${SCENARIO_FILE_KEY}"]
    timeout: 0.6
    retry_backoff: 0.01
    rate_limit_cooldown: 1
`;

/**
 * The fake upstream's answer is chosen by the user message, so one upstream serves every step.
 * In the 429 and 401 steps the first attempt fails (the 401 echoing its key), the retry succeeds.
 */
function scenarioResponder(): Responder {
  const attempts = new Map<string, number>();
  return (req) => {
    const messages = req.body?.messages as Array<{ content?: string }> | undefined;
    const mode = messages?.[0]?.content ?? "";
    const n = attempts.get(mode) ?? 0;
    attempts.set(mode, n + 1);
    const first = n === 0;
    switch (mode) {
      case "429":
        return first ? rateLimited(1) : completion(`ok via ${req.key}`);
      case "401":
        return first
          ? openaiError(401, `Incorrect API key provided: ${req.key}`)
          : completion("ok");
      case "5xx":
        return textError(500, `<html>internal error for ${req.key}</html>`);
      case "hang":
        return { kind: "hang" };
      case "slow failure":
        return { ...openaiError(500, `late failure for ${req.key}`), delayMs: 300 };
      case "reject all":
        return openaiError(401, `Incorrect API key provided: ${req.key}`);
      default:
        return completion(`Hello, your key was ${req.key}`, {
          reasoning_content: `key ${req.key}`,
        });
    }
  };
}

/** Every byte of every answer: status line, headers, body. */
type Transcript = string[];

async function scenario(origin: string, up: FakeUpstream): Promise<Transcript> {
  const transcript: Transcript = [];
  const auth = { authorization: `Bearer ${CLIENT_KEY}` };
  const record = async (what: string, res: Response) => {
    const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
    transcript.push(`${what}\n${res.status}\n${headers}\n${await res.text()}`);
    return res.status;
  };
  const chat = (content: string, stream: boolean, headers: Record<string, string> = auth) =>
    fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(chatBody({ stream, messages: [{ role: "user", content }] })),
    });
  for (const step of ["success", "429", "401", "5xx", "hang", "slow failure"]) {
    for (const stream of [false, true]) await record(step, await chat(step, stream));
  }
  const paths = ["/health", "/health?verbose=1", "/metrics", "/v1/models", "/v1/nope"];
  for (const path of [...paths, "/v1/models/internlm/intern-s1"]) {
    await record(path, await fetch(`${origin}${path}`, { headers: auth }));
  }
  await record("no client key", await chat("success", false, {}));
  // A client that guesses with one of the proxy's upstream keys is not told what it sent.
  await record(
    "upstream key as client key",
    await chat("success", false, {
      "x-api-key": UPSTREAM_KEYS[0],
    }),
  );
  for (const body of ["{oops", '{"model":1}', "[]", "x".repeat(3000)]) {
    const res = await fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      headers: auth,
      body,
    });
    await record("bad input", res);
  }
  await record("all keys rejected", await chat("reject all", false));
  await record("after rejection", await fetch(`${origin}/health`));
  // The scenario really exercised the upstream with every key.
  const keysSeen = new Set(up.chatRequests().map((r) => r.key));
  assert.deepEqual([...keysSeen].sort(), [...UPSTREAM_KEYS, FILE_KEY].sort());
  const statuses = transcript.map((t) => Number(t.split("\n")[1]));
  for (const status of [200, 400, 401, 404, 502, 504]) {
    assert.ok(statuses.includes(status), `the scenario saw no ${status}`);
  }
  assert.ok(transcript.some((t) => t.includes('data: {"error"')), "an error event was streamed");
  return transcript;
}

function assertNoSecret(where: string, texts: string[]): number {
  let bytes = 0;
  for (const text of texts) {
    bytes += text.length;
    for (const secret of SECRETS) {
      const at = text.indexOf(secret);
      assert.equal(at, -1, `${where} contains ${secret}: …${text.slice(at - 80, at + 40)}…`);
    }
  }
  return bytes;
}

for (const format of ["text", "json"] as const) {
  Deno.test(`secrets: full scenario at debug level (${format} logs) leaks no key`, async () => {
    const up = await FakeUpstream.start(scenarioResponder());
    const proxy = await startProxy({
      upstream: up.baseUrl,
      keys: UPSTREAM_KEYS,
      env: { SCENARIO_FILE_KEY: FILE_KEY },
      configText: SCENARIO_CONFIG,
      overrides: { logLevel: "debug", logFormat: format },
    });
    let transcript: Transcript;
    try {
      transcript = await scenario(proxy.origin, up);
    } finally {
      await proxy.close();
      await up.close();
    }
    assert.ok(proxy.logs.some((l) => /debug/i.test(l)), "debug lines were written");
    const answerBytes = assertNoSecret("an answer", transcript);
    const logBytes = assertNoSecret("a log line", proxy.logs);
    console.log(
      `secrets (${format}): ${transcript.length} answers (${answerBytes} bytes), ` +
        `${proxy.logs.length} log lines (${logBytes} bytes), ${SECRETS.length} keys, 0 leaks`,
    );
  });
}

Deno.test("secrets: main.ts as a subprocess, raw stdout and stderr, leaks no key", async () => {
  const up = await FakeUpstream.start(scenarioResponder());
  const configPath = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(configPath, SCENARIO_CONFIG);
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([n]) =>
      !n.startsWith("LLM_PROXY_") && !n.startsWith("INTERNAI_")
    ),
  );
  const args = ["run", "--allow-net", "--allow-env", "--allow-read", "main.ts"];
  const run = (extra: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [...args, ...extra],
      cwd: new URL("..", import.meta.url),
      env: {
        ...env,
        NO_COLOR: "1",
        INTERNAI_API_BASE_URL: up.baseUrl,
        INTERNAI_API_KEY: UPSTREAM_KEYS[0],
        INTERNAI_API_KEY_1: UPSTREAM_KEYS[1],
        SCENARIO_FILE_KEY: FILE_KEY,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  const decoder = new TextDecoder();
  let stdout = "";
  let stderr = "";
  let transcript: Transcript = [];
  try {
    const child = run(["--config", configPath, "--port", "0", "--log-level", "debug"]).spawn();
    const out = new Response(child.stdout).text().then((t) => stdout = t);
    const errReader = child.stderr.getReader();
    let origin: string | undefined;
    while (!origin) {
      const { done, value } = await errReader.read();
      if (done) break;
      stderr += decoder.decode(value, { stream: true });
      origin = /listening on (http:\/\/[\d.]+:\d+)/.exec(stderr)?.[1];
    }
    assert.ok(origin, `the proxy did not start:\n${stderr}`);
    const rest = (async () => {
      for (;;) {
        const { done, value } = await errReader.read();
        if (done) return;
        stderr += decoder.decode(value, { stream: true });
      }
    })();
    try {
      transcript = await scenario(origin, up);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await rest;
      await out;
    }
    // A startup failure prints the config problem, never the file's values.
    await Deno.writeTextFile(configPath, SCENARIO_CONFIG + `    bogus: "${FILE_KEY}"\n`);
    const failed = await run(["--config", configPath]).output();
    assert.equal(failed.code, 2);
    stdout += decoder.decode(failed.stdout);
    stderr += decoder.decode(failed.stderr);
    assert.match(stderr, /bogus/);
  } finally {
    await Deno.remove(configPath);
    await up.close();
  }
  assert.match(stderr, /DEBUG|"debug"/, "debug lines were written");
  const answerBytes = assertNoSecret("an answer", transcript);
  const outputBytes = assertNoSecret("the process output", [stdout, stderr]);
  console.log(
    `secrets (subprocess): ${transcript.length} answers (${answerBytes} bytes), ` +
      `${outputBytes} bytes of stdout+stderr, ${SECRETS.length} keys, 0 leaks`,
  );
});

// ---- the upstream URL is fixed by configuration ----

Deno.test("secrets: no model, field, header or request target can point the proxy elsewhere", async () => {
  const up = await FakeUpstream.start((req) => completion(`model=${req.body?.model}`));
  const evil = await FakeUpstream.start(() => completion("stolen"));
  const proxy = await startProxy({ upstream: up.baseUrl, keys: UPSTREAM_KEYS });
  const evilHost = new URL(evil.baseUrl).host;
  const models = [
    evil.baseUrl,
    `internlm/${evil.baseUrl}`,
    `//${evilHost}/x`,
    `internlm///${evilHost}/api/v1`,
    `internlm/../../${evilHost}`,
    "internlm/../..",
    `internlm:@${evilHost}`,
    `internlm/@${evilHost}/api/v1`,
    `internlm/%2F%2F${evilHost}`,
    `internlm/?url=${evil.baseUrl}`,
    `internlm/#${evilHost}`,
    `internlm/\\\\${evilHost}`,
    `internlm/\r\nHost: ${evilHost}`,
  ];
  const fields = ["api_base", "base_url", "baseURL", "api_url", "url", "endpoint", "host", "proxy"];
  const headerSets: Array<Record<string, string>> = [
    { "x-forwarded-host": evilHost },
    { "x-forwarded-host": evilHost, "x-forwarded-proto": "http", "x-forwarded-port": "1" },
    { forwarded: `host=${evilHost};proto=http` },
    { "x-original-url": evil.baseUrl, "x-rewrite-url": evil.baseUrl },
    { "x-api-base": evil.baseUrl, "openai-base-url": evil.baseUrl, "x-upstream": evil.baseUrl },
    { host: evilHost },
  ];
  let sent = 0;
  try {
    for (const model of models) {
      const res = await postChat(proxy, chatBody({ model }));
      sent++;
      const text = await res.text();
      if (res.status === 200) assert.ok(JSON.parse(text).choices, text);
      else assert.ok(res.status >= 400 && res.status < 500, `${model}: ${res.status} ${text}`);
    }
    for (const field of fields) {
      const res = await postChat(proxy, chatBody({ [field]: evil.baseUrl }));
      sent++;
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    for (const headers of headerSets) {
      const res = await postChat(proxy, chatBody(), headers);
      sent++;
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    // An absolute-form request target naming the other host, straight over TCP.
    const { port } = new URL(proxy.origin);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    const body = JSON.stringify(chatBody());
    const raw = `POST http://${evilHost}/v1/chat/completions HTTP/1.1\r\nHost: ${evilHost}\r\n` +
      `content-type: application/json\r\ncontent-length: ${body.length}\r\n` +
      `connection: close\r\n\r\n${body}`;
    await conn.write(new TextEncoder().encode(raw));
    const answer = await new Response(conn.readable).text();
    sent++;
    assert.match(answer, /^HTTP\/1\.1 200/);
  } finally {
    await proxy.close();
    await up.close();
    await evil.close();
  }
  assert.equal(evil.requests.length, 0, "the other host received a request");
  const paths = new Set(up.chatRequests().map((r) => r.path));
  assert.deepEqual([...paths], ["/api/v1/chat/completions"]);
  console.log(
    `upstream pinned: ${sent} hostile requests (${models.length} models, ${fields.length} fields, ` +
      `${headerSets.length} header sets, 1 absolute-form target), ` +
      `${up.chatRequests().length} reached the configured upstream, 0 the other host`,
  );
});
