// Configuration: the YAML file (with located errors), precedence of flags > env > file >
// defaults, env overrides of the InternLM backend, and the command line of main.ts run as a real
// subprocess.
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import {
  type Config,
  ConfigError,
  loadConfig,
  type LoadOptions,
  type Overrides,
} from "../src/config/config.ts";
import type { LogLevel } from "../src/operations/log.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, postChat, startProxy } from "./proxy.ts";

const REPO_ROOT = new URL("..", import.meta.url);
const SEED_EXAMPLE = "backends:\n  internlm:\n    type: internlm\n    enabled: true\n\n" +
  "default_backend: internlm\n";

const quiet = () => {};

async function load(options: LoadOptions): Promise<Config> {
  return await loadConfig({ env: {}, logSink: quiet, ...options });
}

async function loadFails(options: LoadOptions): Promise<ConfigError> {
  let caught: unknown;
  try {
    await load(options);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  return caught;
}

/** The most verbose level `config.log` writes. */
function levelOf(config: Config): LogLevel {
  const levels: LogLevel[] = ["debug", "info", "warn", "error"];
  return levels.find((l) => config.log.enabled(l))!;
}

// ---- the file ----

Deno.test("config: the smallest example of docs/configuration.md loads", async () => {
  const doc = await Deno.readTextFile(new URL("docs/configuration.md", REPO_ROOT));
  assert.ok(
    doc.includes("```yaml\n" + SEED_EXAMPLE + "```"),
    "the example is in the doc as tested",
  );
  const config = await load({ configText: SEED_EXAMPLE });
  assert.deepEqual([...config.backends.keys()], ["internlm"]);
  assert.equal(config.router.resolve("internlm2.5-latest").backend.name, "internlm");
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8000);
});

Deno.test("config: config.example.yaml loads and its values are the documented defaults", async () => {
  const path = new URL("config.example.yaml", REPO_ROOT).pathname;
  const fromFile = await load({ overrides: { config: path } });
  const defaults = await load({});
  for (const config of [fromFile, defaults]) {
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.port, 8000);
    assert.equal(levelOf(config), "info");
    assert.equal(config.keepAliveMs, 15_000);
    assert.equal(config.pieceSize, 32);
    assert.deepEqual(config.limits, {
      maxBodyBytes: 10_485_760,
      maxMessages: 2048,
      maxDepth: 64,
    });
    assert.equal(config.forceModel, undefined);
    assert.equal(config.router.resolve("x").backend.name, "internlm");
  }
  // LLM_PROXY_CONFIG names the file too.
  assert.equal((await load({ env: { LLM_PROXY_CONFIG: path } })).port, 8000);
  // The same backends as no file at all: the second one is shown, but off.
  assert.deepEqual([...fromFile.backends.keys()], [...defaults.backends.keys()]);
  const warnings: string[] = [];
  await loadConfig({
    overrides: { config: path },
    env: { INTERNAI_API_KEY: "k" },
    logSink: (line) => warnings.push(line),
  });
  assert.deepEqual(warnings, [], "running with the example warns of nothing");
});

Deno.test("config: bad YAML is a ConfigError at file:line:col", async () => {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(path, "server:\n  port: 8000\n  host: a: b\n");
    const err = await loadFails({ overrides: { config: path } });
    assert.ok(err.message.startsWith(`${path}:3:9: invalid YAML`), err.message);
  } finally {
    await Deno.remove(path);
  }
  // Duplicate keys are YAML errors too (otherwise the last one would silently win).
  assert.match(
    (await loadFails({ configText: "server:\n  port: 1\n  port: 2\n" })).message,
    /^<config>:3:\d+: invalid YAML/,
  );
});

Deno.test("config: a value of the wrong type is reported at its line", async () => {
  const text = "backends:\n  internlm:\n    type: internlm\n    timeout: abc\n";
  const err = await loadFails({ configText: text });
  assert.match(err.message, /^<config>:4:\d+: backends\.internlm\.timeout must be a number/);
  assert.deepEqual(err.path, ["backends", "internlm", "timeout"]);
  // Range checks too.
  assert.match(
    (await loadFails({ configText: "\nserver:\n  port: 70000\n" })).message,
    /^<config>:3:\d+: server\.port must be between 0 and 65535/,
  );
});

Deno.test("config: an unknown key is an error, not silently ignored", async () => {
  const typo = await loadFails({ configText: "server:\n  prot: 8000\n" });
  assert.match(typo.message, /^<config>:2:\d+: server\.prot is not a known setting/);
  assert.match((await loadFails({ configText: "lgo_level: debug\n" })).message, /lgo_level/);
  assert.match(
    (await loadFails({ configText: "backends:\n  internlm:\n    api_kyes: [x]\n" })).message,
    /api_kyes is not a known setting/,
  );
});

Deno.test("config: other file problems are ConfigErrors", async () => {
  assert.match(
    (await loadFails({ overrides: { config: "/nonexistent/llm-proxy.yaml" } })).message,
    /cannot read config file \/nonexistent\/llm-proxy\.yaml/,
  );
  assert.match((await loadFails({ configText: "- a\n- b\n" })).message, /must be a YAML mapping/);
  assert.match(
    (await loadFails({ configText: "backends:\n  x:\n    type: nosuch\n" })).message,
    /backends\.x\.type must be one of: internlm/,
  );
  assert.match(
    (await loadFails({ configText: "log_level: loud\n" })).message,
    /log_level must be one of/,
  );
});

// ---- precedence ----

const FILE = `server:
  host: 127.0.0.2
  port: 1111
log_level: warn
default_backend: a
backends:
  a:
    type: internlm
  b:
    type: internlm
  c:
    type: internlm
`;

const ENV = {
  LLM_PROXY_HOST: "127.0.0.3",
  LLM_PROXY_PORT: "2222",
  LLM_PROXY_LOG_LEVEL: "error",
  LLM_PROXY_DEFAULT_BACKEND: "b",
};

function summary(config: Config) {
  return {
    host: config.host,
    port: config.port,
    level: levelOf(config),
    defaultBackend: config.router.resolve("m").backend.name,
  };
}

Deno.test("config precedence: flags > env > file > defaults", async () => {
  assert.deepEqual(summary(await load({ configText: SEED_EXAMPLE })), {
    host: "127.0.0.1",
    port: 8000,
    level: "info",
    defaultBackend: "internlm",
  });
  assert.deepEqual(summary(await load({ configText: FILE })), {
    host: "127.0.0.2",
    port: 1111,
    level: "warn",
    defaultBackend: "a",
  });
  assert.deepEqual(summary(await load({ configText: FILE, env: ENV })), {
    host: "127.0.0.3",
    port: 2222,
    level: "error",
    defaultBackend: "b",
  });
  const overrides: Overrides = {
    host: "127.0.0.4",
    port: 3333,
    logLevel: "debug",
    defaultBackend: "c",
  };
  assert.deepEqual(summary(await load({ configText: FILE, env: ENV, overrides })), {
    host: "127.0.0.4",
    port: 3333,
    level: "debug",
    defaultBackend: "c",
  });
  // Empty env values count as unset.
  const blank = { LLM_PROXY_HOST: "", LLM_PROXY_PORT: "", LLM_PROXY_DEFAULT_BACKEND: "" };
  assert.deepEqual(summary(await load({ configText: FILE, env: blank })).port, 1111);
});

Deno.test("config precedence: bad env values are ConfigErrors", async () => {
  assert.match((await loadFails({ env: { LLM_PROXY_PORT: "abc" } })).message, /LLM_PROXY_PORT/);
  assert.match(
    (await loadFails({ env: { LLM_PROXY_LOG_LEVEL: "loud" } })).message,
    /LLM_PROXY_LOG_LEVEL/,
  );
});

Deno.test({
  name: "config: an error in a flag's value is not blamed on the config file's line",
  fn: async () => {
    const text =
      "default_backend: a\nbackends:\n  a:\n    type: internlm\n  b:\n    type: internlm\n";
    const err = await loadFails({ configText: text, overrides: { defaultBackend: "nope" } });
    assert.match(err.message, /default backend "nope"/);
    assert.doesNotMatch(err.message, /^<config>:1:/);
  },
});

Deno.test("config: INTERNAI_API_BASE_URL overrides the file's api_url", async () => {
  const fromEnv = await FakeUpstream.start();
  const fromFile = await FakeUpstream.start();
  try {
    const proxy = await startProxy({
      upstream: fromEnv.baseUrl, // becomes INTERNAI_API_BASE_URL
      configText: `backends:\n  internlm:\n    type: internlm\n    api_url: ${fromFile.baseUrl}\n`,
    });
    try {
      const res = await postChat(proxy, chatBody());
      await res.body?.cancel();
      assert.equal(res.status, 200);
    } finally {
      await proxy.close();
    }
    assert.equal(fromEnv.chatRequests().length, 1);
    assert.equal(fromFile.requests.length, 0);
  } finally {
    await fromEnv.close();
    await fromFile.close();
  }
});

Deno.test("config: ${VAR} in api_keys reads the environment", async () => {
  const up = await FakeUpstream.start(() => completion("ok"));
  try {
    const proxy = await startProxy({
      upstream: up.baseUrl,
      keys: [],
      env: { MY_INTERNLM_KEY: "key-from-env-var" },
      configText: `backends:
  internlm:
    type: internlm
    api_keys: ["\${MY_INTERNLM_KEY}", "\${NOT_SET_ANYWHERE}", "literal-key"]
`,
    });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await postChat(proxy, chatBody());
        await res.body?.cancel();
        assert.equal(res.status, 200);
      }
    } finally {
      await proxy.close();
    }
    // The unset variable expands to "" and is dropped; it is warned about, by name only.
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["key-from-env-var", "literal-key"]);
    assert.ok(proxy.logs.some((l) => l.includes("WARN") && l.includes("${NOT_SET_ANYWHERE}")));
    assert.ok(!proxy.logs.some((l) => l.includes("key-from-env-var")));
  } finally {
    await up.close();
  }
});

// ---- the command line, as a subprocess ----

/** The parent's environment minus anything that would configure the proxy. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("LLM_PROXY_") && !name.startsWith("INTERNAI_")
    ),
  );
  return { ...env, NO_COLOR: "1", ...extra };
}

function mainCommand(args: string[], env: Record<string, string> = {}, piped = true) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "main.ts", ...args],
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: piped ? "piped" : "null",
    stderr: "piped",
  });
}

async function runMain(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await mainCommand(args, env).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("cli: an unknown flag exits 2 and names it", async () => {
  const r = await runMain(["--bogus"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--bogus/);
  assert.match(r.stderr, /--help/);
});

Deno.test("cli: bad flag values exit 2", async () => {
  for (const args of [["--port", "abc"], ["--port", "70000"], ["--log-level", "loud"]]) {
    const r = await runMain(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(args[0]));
  }
});

Deno.test("cli: --help exits 0 and lists every flag and environment variable", async () => {
  const r = await runMain(["--help"]);
  assert.equal(r.code, 0);
  const names = [
    "--host",
    "--port",
    "--config",
    "--default-backend",
    "--force-model",
    "--log-level",
    "--help",
    "--version",
    "LLM_PROXY_HOST",
    "LLM_PROXY_PORT",
    "LLM_PROXY_CONFIG",
    "LLM_PROXY_DEFAULT_BACKEND",
    "LLM_PROXY_FORCE_MODEL",
    "LLM_PROXY_LOG_LEVEL",
    "INTERNAI_API_KEY",
    "INTERNAI_API_BASE_URL",
  ];
  for (const name of names) assert.ok(r.stdout.includes(name), `--help lacks ${name}`);
});

Deno.test("cli: --version prints the version from deno.json", async () => {
  const r = await runMain(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `llm-proxy ${denoJson.version}`);
});

Deno.test("cli: startup configuration errors exit 2", async () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [["--config", "/nonexistent.yaml"], {}, /nonexistent\.yaml/],
    [["--default-backend", "nope"], {}, /default backend "nope"/],
    [[], { LLM_PROXY_PORT: "abc" }, /LLM_PROXY_PORT/],
  ];
  for (const [args, env, message] of cases) {
    const r = await runMain(args, env);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

/** A port that was free a moment ago (the OS hands out ephemeral ports in sequence). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("cli: main.ts serves a chat completion from a fake upstream", async () => {
  const up = await FakeUpstream.start(() => completion("Hello from the subprocess test"));
  const port = freePort();
  const child = mainCommand(
    ["--host", "127.0.0.1", "--port", String(port)],
    { INTERNAI_API_BASE_URL: up.baseUrl, INTERNAI_API_KEY: "sk-subprocess-5e1d" },
    false,
  ).spawn();
  // Read stderr (the log) as it comes, so the pipe never fills.
  const stderr = new Response(child.stderr).text();
  const origin = `http://127.0.0.1:${port}`;
  try {
    // Wait (generously) for the server to answer /health.
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      try {
        const res = await fetch(`${origin}/health`);
        await res.body?.cancel();
        healthy = res.status === 200;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(healthy, "the proxy never answered /health");

    const res = await fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatBody()),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.choices[0].message.content, "Hello from the subprocess test");
    assert.equal(body.model, "internlm/internlm2.5-latest");
    assert.deepEqual(up.chatRequests().map((r) => r.key), ["sk-subprocess-5e1d"]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await up.close();
  }
  const log = await stderr;
  assert.match(log, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`));
  assert.match(log, /POST \/v1\/chat\/completions 200 .*key=1\/1/);
  assert.ok(!log.includes("sk-subprocess-5e1d"), "the key reached the log");
});
