// The command line, the settings a sidecar needs, and documentation that must not drift from them.
import assert from "node:assert/strict";
import { ENV_ONLY, FLAGS, helpText, parseCommand, UsageError } from "../src/config/cli.ts";
import { ConfigError, ENV, loadConfig, loadListenAddress } from "../src/config/config.ts";
import { healthUrl } from "../src/operations/healthcheck.ts";

Deno.test("healthcheck is a subcommand taking the server's flags; other words are usage errors", () => {
  assert.deepEqual(parseCommand(["healthcheck", "--port", "9000"]), {
    kind: "healthcheck",
    overrides: { port: 9000 },
    ready: false,
  });
  assert.deepEqual(parseCommand(["--ready", "healthcheck"]), {
    kind: "healthcheck",
    overrides: {},
    ready: true,
  });
  assert.throws(() => parseCommand(["--ready"]), /--ready goes with healthcheck/);
  assert.deepEqual(parseCommand([]), { kind: "serve", overrides: {} });
  assert.throws(() => parseCommand(["serve-please"]), UsageError);
  assert.throws(() => parseCommand(["healthcheck", "now"]), UsageError);
});

Deno.test("command-line mistakes are said in the proxy's words, not the parser's", () => {
  const message = (args: string[]) => {
    try {
      parseCommand(args);
    } catch (err) {
      assert.ok(err instanceof UsageError, String(err));
      return err.message;
    }
    assert.fail(`${args.join(" ")} was accepted`);
  };
  assert.equal(message(["--bogus"]), "unknown option --bogus");
  assert.equal(message(["-x"]), "unknown option -x");
  assert.equal(message(["--bogus=1"]), "unknown option --bogus");
  assert.equal(message(["--port", "-1"]), '--port must be a port number (0-65535), got "-1"');
  assert.equal(message(["--port=70000"]), '--port must be a port number (0-65535), got "70000"');
  assert.equal(message(["--port"]), "--port needs a value (--port PORT)");
  assert.equal(message(["--help=yes"]), "--help takes no value");
  // A value that starts with "-" is the flag's value, judged as such.
  assert.deepEqual(parseCommand(["--force-model", "-odd-", "--port=0"]), {
    kind: "serve",
    overrides: { forceModel: "-odd-", port: 0 },
  });
});

Deno.test("a flag and its environment variable refuse a bad value in the same words", async () => {
  const bad: Record<string, string> = {
    "port": "-1",
    "drain-timeout": "-1",
    "log-level": "loud",
    "log-format": "xml",
  };
  for (const flag of FLAGS) {
    const value = bad[flag.name];
    if (!value || !flag.env) continue;
    let fromFlag = "";
    try {
      parseCommand([`--${flag.name}`, value]);
    } catch (err) {
      fromFlag = (err as Error).message;
    }
    let fromEnv = "";
    try {
      await loadConfig({ env: { [flag.env]: value }, logSink: () => {} });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      fromEnv = err.message;
    }
    assert.match(fromFlag, new RegExp(`^--${flag.name} must be .+, got "${value}"$`));
    assert.equal(fromEnv, fromFlag.replace(`--${flag.name}`, flag.env));
  }
});

Deno.test("--drain-timeout takes seconds, fractions allowed, and rejects anything else", () => {
  assert.deepEqual(parseCommand(["--drain-timeout", "2.5"]), {
    kind: "serve",
    overrides: { drainTimeoutMs: 2500 },
  });
  for (const bad of ["-1", "abc", "", "1e3", "99999"]) {
    assert.throws(() => parseCommand(["--drain-timeout", bad]), UsageError, bad);
  }
});

Deno.test("drain timeout: 30 s by default; config file < env < flag", async () => {
  const file = "server:\n  drain_timeout: 5\n";
  assert.equal((await loadConfig({ logSink: () => {} })).drainTimeoutMs, 30_000);
  assert.equal((await loadConfig({ configText: file, logSink: () => {} })).drainTimeoutMs, 5_000);
  const env = { [ENV.drainTimeout]: "7" };
  assert.equal(
    (await loadConfig({ configText: file, env, logSink: () => {} })).drainTimeoutMs,
    7_000,
  );
  assert.equal(
    (await loadConfig({
      configText: file,
      env,
      overrides: { drainTimeoutMs: 0 },
      logSink: () => {},
    })).drainTimeoutMs,
    0,
  );
  await assert.rejects(
    () => loadConfig({ env: { [ENV.drainTimeout]: "soon" }, logSink: () => {} }),
    ConfigError,
  );
  await assert.rejects(
    () => loadConfig({ configText: "server:\n  drain_timeout: -1\n", logSink: () => {} }),
    /<config>:2:18: server\.drain_timeout must be between 0 and 3600/,
  );
});

Deno.test("the healthcheck resolves host and port like the server, without building backends", async () => {
  const configText = "server:\n  host: 0.0.0.0\n  port: 9100\nbackends: {}\n";
  assert.deepEqual(await loadListenAddress({ configText }), { host: "0.0.0.0", port: 9100 });
  assert.deepEqual(await loadListenAddress({ configText, env: { [ENV.port]: "9200" } }), {
    host: "0.0.0.0",
    port: 9200,
  });
  assert.deepEqual(
    await loadListenAddress({ configText, env: { [ENV.port]: "9200" }, overrides: { port: 9300 } }),
    { host: "0.0.0.0", port: 9300 },
  );
  assert.deepEqual(await loadListenAddress(), { host: "127.0.0.1", port: 8000 });
});

Deno.test("a wildcard listen address is probed through loopback", () => {
  assert.equal(healthUrl({ host: "0.0.0.0", port: 8000 }), "http://127.0.0.1:8000/health");
  assert.equal(healthUrl({ host: "::", port: 8000 }, true), "http://[::1]:8000/health/ready");
  assert.equal(healthUrl({ host: "::", port: 8000 }), "http://[::1]:8000/health");
  assert.equal(healthUrl({ host: "::1", port: 1 }), "http://[::1]:1/health");
  assert.equal(healthUrl({ host: "localhost", port: 80 }), "http://localhost:80/health");
});

Deno.test("--help and docs/configuration.md list every flag and environment variable", async () => {
  const help = helpText("9.9.9");
  const reference = await Deno.readTextFile(new URL("../docs/configuration.md", import.meta.url));
  const names = [
    ...FLAGS.map((f) => `--${f.name}`),
    ...Object.values(ENV),
    ...ENV_ONLY.map((e) => e.name),
  ];
  for (const name of names) {
    assert.ok(help.includes(name), `--help lacks ${name}`);
    assert.ok(reference.includes(name), `docs/configuration.md lacks ${name}`);
  }
  for (const flag of FLAGS) {
    if (flag.env) assert.ok(help.includes(`[env: ${flag.env}]`), flag.name);
    if (flag.default) assert.ok(help.includes(`[default: ${flag.default}]`), flag.name);
  }
});
