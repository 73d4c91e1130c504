// SIGTERM/SIGINT drain, the parent's exit, a busy port and `llm-proxy healthcheck`, on `main.ts`
// run as a real process: the container runtime's (and a wrapper's, like npx) view of the proxy.
import assert from "node:assert/strict";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, eventually, parseSse } from "./proxy.ts";
import { childEnv, run, spawnProxy } from "./subprocess.ts";
import { DUPLICATE_SIGNAL_MS, watchShutdownRequests } from "../src/operations/shutdown_requests.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = [Deno.execPath(), "run", ...RUNTIME_FLAGS, "main.ts"];

function post(origin: string, body: unknown): Promise<Response> {
  return fetch(`${origin}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** True once nothing accepts TCP connections on `port`. */
async function refused(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return true;
    // A listener closing while the connection was being accepted: not yet refused, ask again.
    if (err instanceof Deno.errors.ConnectionReset) return false;
    throw err;
  }
}

/** `main.ts` with a 20 s drain, in front of an upstream that answers `text` after `delayMs`. */
async function slowAnswer(text: string, delayMs: number) {
  const up = await FakeUpstream.start(() => completion(text, { delayMs }));
  const proxy = await spawnProxy(MAIN, {
    cwd: ROOT,
    env: {
      INTERNAI_API_BASE_URL: up.baseUrl,
      INTERNAI_API_KEY: "k",
      LLM_PROXY_DRAIN_TIMEOUT: "20",
    },
  });
  return { up, proxy };
}

Deno.test("SIGTERM: a stream in flight completes intact, new connections are refused, exit 0", async () => {
  const text = "A slow answer that must arrive whole, ".repeat(8);
  const { up, proxy } = await slowAnswer(text, 2_500);
  try {
    const pending = post(proxy.origin, chatBody({ stream: true }));
    await eventually(() => up.chatRequests().length === 1, "the upstream call", 10_000);
    proxy.kill("SIGTERM");
    await eventually(() => refused(proxy.port), "the listener to close", 10_000);
    assert.equal(up.chatRequests()[0].aborted, false);

    const res = await pending;
    assert.equal(res.status, 200);
    const { data } = parseSse(await res.text());
    assert.equal(data.at(-1), "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), text);
    assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");

    const status = await proxy.exited;
    assert.equal(status.code, 0);
    assert.ok(proxy.stderr.some((l) => l.includes("SIGTERM: draining")), proxy.stderr.join("\n"));
    assert.ok(proxy.stderr.some((l) => l.includes("drained; exiting")), proxy.stderr.join("\n"));
  } finally {
    await proxy.stop("SIGKILL");
    await up.close();
  }
});

Deno.test("at the drain deadline, requests still waiting end with a 503 or an error event; exit 0", async () => {
  const up = await FakeUpstream.start(() => ({ kind: "hang" }));
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-drain-" });
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(config, "streaming:\n  keepalive_interval: 0.2\n");
  const proxy = await spawnProxy(MAIN, {
    cwd: ROOT,
    env: {
      INTERNAI_API_BASE_URL: up.baseUrl,
      INTERNAI_API_KEY: "k",
      LLM_PROXY_CONFIG: config,
      LLM_PROXY_DRAIN_TIMEOUT: "0.5",
    },
  });
  try {
    const plain = post(proxy.origin, chatBody());
    // With a keep-alive interval this short, the stream commits to 200 before the deadline.
    const streamed = await post(proxy.origin, chatBody({ stream: true }));
    assert.equal(streamed.status, 200);
    await eventually(() => up.chatRequests().length === 2, "both upstream calls", 10_000);
    proxy.kill("SIGINT");

    const res = await plain;
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error.code, "server_shutting_down");
    const { data, comments } = parseSse(await streamed.text());
    assert.ok(comments.includes(": keep-alive"));
    assert.equal(data.length, 1);
    assert.equal(JSON.parse(data[0]).error.code, "server_shutting_down");

    await up.waitForAbort(0, 5_000);
    await up.waitForAbort(1, 5_000);
    assert.equal((await proxy.exited).code, 0);
    assert.ok(proxy.stderr.some((l) => l.includes("drain deadline reached")));
  } finally {
    await proxy.stop("SIGKILL");
    await up.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("healthcheck: exit 0 silently when /health answers, 1 with one line when it cannot", async () => {
  const up = await FakeUpstream.start();
  const proxy = await spawnProxy(MAIN, { cwd: ROOT, env: { INTERNAI_API_BASE_URL: up.baseUrl } });
  try {
    // Configured like the server: by flag, or by the same environment variable.
    const byFlag = await run([...MAIN, "healthcheck", "--port", String(proxy.port)], {}, ROOT);
    assert.deepEqual(byFlag, { code: 0, stdout: "", stderr: "" });
    const byEnv = await run([...MAIN, "healthcheck"], { LLM_PROXY_PORT: String(proxy.port) }, ROOT);
    assert.deepEqual(byEnv, { code: 0, stdout: "", stderr: "" });
    // Alive, but not ready: this proxy has no InternLM key, so no backend can serve.
    const ready = await run(
      [...MAIN, "healthcheck", "--ready", "--port", String(proxy.port)],
      {},
      ROOT,
    );
    assert.equal(ready.code, 1);
    assert.match(ready.stderr, /^unhealthy: http:\/\/127\.0\.0\.1:\d+\/health\/ready: HTTP 503\n$/);
  } finally {
    assert.equal((await proxy.stop("SIGTERM")).code, 0);
    await up.close();
  }
  const down = await run([...MAIN, "healthcheck", "--port", String(proxy.port)], {}, ROOT);
  assert.equal(down.code, 1);
  assert.equal(down.stdout, "");
  assert.match(down.stderr, /^unhealthy: http:\/\/127\.0\.0\.1:\d+\/health: .+\n$/);
});

Deno.test("two SIGINTs in quick succession (a wrapper forwarding the terminal's) drain once", async () => {
  const text = "An answer that the second signal must not cut short. ".repeat(4);
  const { up, proxy } = await slowAnswer(text, 1_500);
  try {
    const pending = post(proxy.origin, chatBody());
    await eventually(() => up.chatRequests().length === 1, "the upstream call", 10_000);
    proxy.kill("SIGINT");
    proxy.kill("SIGINT");
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, text);
    assert.equal((await proxy.exited).code, 0);
    const log = proxy.stderr.join("\n");
    assert.equal(proxy.stderr.filter((l) => l.includes("SIGINT: draining")).length, 1, log);
    assert.ok(!log.includes("drain deadline reached"), log);
  } finally {
    await proxy.stop("SIGKILL");
    await up.close();
  }
});

Deno.test({
  name: "a wrapper that dies without passing a signal on: the proxy drains and exits with it",
  // A shell in between, killed with SIGKILL: as npx's shell dies, leaving the proxy to itself.
  ignore: Deno.build.os === "windows",
  async fn() {
    const up = await FakeUpstream.start();
    const wrapper = new Deno.Command("sh", {
      args: [
        "-c",
        // The shell stays the proxy's parent (no exec) and tells its pid, for the cleanup.
        '"$0" run "$@" & echo "proxy pid $!" >&2; wait',
        Deno.execPath(),
        ...RUNTIME_FLAGS,
        "main.ts",
      ],
      cwd: ROOT,
      clearEnv: true,
      env: childEnv({
        INTERNAI_API_BASE_URL: up.baseUrl,
        INTERNAI_API_KEY: "k",
        LLM_PROXY_HOST: "127.0.0.1",
        LLM_PROXY_PORT: "0",
      }),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const reading = (async () => {
      for await (const text of wrapper.stderr.pipeThrough(new TextDecoderStream())) {
        lines.push(...text.split("\n").filter(Boolean));
      }
    })();
    let port = 0;
    try {
      await eventually(
        () => {
          const m = lines.map((l) => /listening on http:\/\/[^ ]+:(\d+)/.exec(l)).find(Boolean);
          port = Number(m?.[1] ?? 0);
          return port > 0;
        },
        "the proxy to listen",
        30_000,
      );
      wrapper.kill("SIGKILL");
      await wrapper.status;
      await eventually(() => refused(port), "the proxy to exit", 10_000);
      // The proxy held the pipe open; it closes when the proxy is gone.
      await reading;
      const log = lines.join("\n");
      assert.match(log, /parent process \d+ exited: draining/);
      assert.match(log, /drained; exiting/);
    } finally {
      const pid = Number(lines.map((l) => /^proxy pid (\d+)$/.exec(l)?.[1]).find(Boolean));
      if (pid && port && !(await refused(port))) Deno.kill(pid, "SIGKILL");
      await up.close();
    }
  },
});

Deno.test("a port already in use: one line saying so, exit 2", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const out = await run(
      [...MAIN, "--port", String(busy.addr.port)],
      { INTERNAI_API_KEY: "k" },
      ROOT,
    );
    assert.equal(out.code, 2, out.stderr);
    assert.equal(
      out.stderr,
      `error: cannot listen on 127.0.0.1:${busy.addr.port}: the address is already in use; ` +
        "choose another port with --port or LLM_PROXY_PORT\n",
    );
  } finally {
    busy.close();
  }
});

Deno.test("shutdown requests: duplicates within a second are one; later signals and the parent's exit count", async () => {
  let clock = 0;
  let parent = 4242;
  const listeners = new Map<Deno.Signal, () => void>();
  const heard: string[] = [];
  const stop = watchShutdownRequests((reason) => heard.push(reason), {
    signals: ["SIGTERM", "SIGINT"],
    now: () => clock,
    ppid: () => parent,
    pollMs: 5,
    addSignalListener: (signal, handler) => listeners.set(signal, handler),
    removeSignalListener: (signal) => listeners.delete(signal),
  });
  try {
    listeners.get("SIGINT")!();
    clock += 1;
    listeners.get("SIGINT")!(); // forwarded by a wrapper: the same Ctrl-C
    clock += DUPLICATE_SIGNAL_MS - 1;
    listeners.get("SIGTERM")!(); // still within a second of the last one
    assert.deepEqual(heard, ["SIGINT"]);
    clock += DUPLICATE_SIGNAL_MS + 1;
    listeners.get("SIGTERM")!(); // a second request, on purpose
    assert.deepEqual(heard, ["SIGINT", "SIGTERM"]);
    parent = 1; // handed to init: the parent died
    await eventually(() => heard.length === 3, "the parent's exit", 1_000);
    assert.equal(heard[2], "parent process 4242 exited");
  } finally {
    stop();
  }
  assert.equal(listeners.size, 0);
});
