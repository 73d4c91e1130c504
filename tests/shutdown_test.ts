// SIGTERM/SIGINT drain and `llm-proxy healthcheck`, on `main.ts` run as a real process: the
// container runtime's view of the proxy.
import assert from "node:assert/strict";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, eventually, parseSse } from "./proxy.ts";
import { run, spawnProxy } from "./subprocess.ts";

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
    throw err;
  }
}

Deno.test("SIGTERM: a stream in flight completes intact, new connections are refused, exit 0", async () => {
  const text = "A slow answer that must arrive whole, ".repeat(8);
  const up = await FakeUpstream.start(() => completion(text, { delayMs: 2_500 }));
  const proxy = await spawnProxy(MAIN, {
    cwd: ROOT,
    env: {
      INTERNAI_API_BASE_URL: up.baseUrl,
      INTERNAI_API_KEY: "k",
      LLM_PROXY_DRAIN_TIMEOUT: "20",
    },
  });
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
  } finally {
    assert.equal((await proxy.stop("SIGTERM")).code, 0);
    await up.close();
  }
  const down = await run([...MAIN, "healthcheck", "--port", String(proxy.port)], {}, ROOT);
  assert.equal(down.code, 1);
  assert.equal(down.stdout, "");
  assert.match(down.stderr, /^unhealthy: http:\/\/127\.0\.0\.1:\d+\/health: .+\n$/);
});
