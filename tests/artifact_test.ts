// What users download, run alone: the one-file bundle (always, built with an empty Deno cache)
// and the compiled binary (when LLM_PROXY_BINARY names one, as .ci/run does after
// `deno task compile`). Each runs from an empty directory against the fake upstream, so a run-time
// read of src/, a dynamic import or a missing asset fails here instead of in a user's hands.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { FakeUpstream } from "./fake_upstream.ts";
import { assertSchema } from "./schema.ts";
import { run, spawnProxy } from "./subprocess.ts";

const ROOT = new URL("../", import.meta.url);

/** Starts `command` in `cwd`, checks /health, a completion, a stream and the healthcheck. */
async function smokeTest(command: string[], cwd: string) {
  const up = await FakeUpstream.start();
  const env = { INTERNAI_API_BASE_URL: up.baseUrl, INTERNAI_API_KEY: "artifact-key" };
  try {
    const proxy = await spawnProxy(command, { env, cwd });
    try {
      const health = await fetch(`${proxy.origin}/health`);
      const body = await health.json();
      assert.equal(health.status, 200);
      assert.equal(body.status, "ok");
      assert.ok(!JSON.stringify(body).includes("artifact-key"));

      const client = new OpenAI({ baseURL: `${proxy.origin}/v1`, apiKey: "unused" });
      const res = await client.chat.completions.create({
        model: "internlm/internlm2.5-latest",
        messages: [{ role: "user", content: "Hello!" }],
      });
      assertSchema("CreateChatCompletionResponse", res);
      assert.equal(res.choices[0].message.content, "Hello from fake upstream");

      const stream = await client.chat.completions.create({
        model: "internlm/internlm2.5-latest",
        messages: [{ role: "user", content: "Hello!" }],
        stream: true,
      });
      let text = "";
      for await (const chunk of stream) {
        assertSchema("CreateChatCompletionStreamResponse", chunk);
        text += chunk.choices[0]?.delta?.content ?? "";
      }
      assert.equal(text, "Hello from fake upstream");
      assert.equal(up.chatRequests().length, 2);

      // The tokenizer is imported on the first count: it must be inside the artifact too.
      const counted = await fetch(`${proxy.origin}/v1/messages/count_tokens`, {
        method: "POST",
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "Hello!" }] }),
      });
      assert.equal(counted.status, 200);
      assert.ok((await counted.json()).input_tokens > 5);

      // The container's HEALTHCHECK: the same artifact, configured by the same environment.
      const check = await run(
        [...command, "healthcheck"],
        { LLM_PROXY_PORT: String(proxy.port) },
        cwd,
      );
      assert.deepEqual(check, { code: 0, stdout: "", stderr: "" });
    } finally {
      const status = await proxy.stop("SIGTERM");
      assert.equal(status.code, 0, proxy.stderr.join("\n"));
    }
  } finally {
    await up.close();
  }
}

Deno.test("deno task start and dev, and the bundle's documented command, run with the binary's flags", () => {
  const { tasks } = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const docs = Deno.readTextFileSync(new URL("docs/deployment.md", ROOT));
  const bundleRun = /^deno run (.+?) dist\/llm-proxy\.js$/m.exec(docs.replaceAll("\\\n  ", ""));
  assert.ok(bundleRun, "docs/deployment.md shows how to run the bundle");
  for (
    const [name, command] of [["start", tasks.start], ["dev", tasks.dev], ["bundle", bundleRun[1]]]
  ) {
    const words = new Set(command.split(/\s+/));
    // deno.json's `unstable` list applies to the tasks by itself; outside a project it is a flag.
    const wanted = name === "bundle"
      ? RUNTIME_FLAGS
      : RUNTIME_FLAGS.filter((f) => !f.startsWith("--unstable-"));
    for (const flag of wanted) assert.ok(words.has(flag), `${name} lacks ${flag}: ${command}`);
  }
});

Deno.test("the bundle, built with an empty cache, alone in an empty directory, serves health, completions and streams", async () => {
  // An empty DENO_DIR, as on a fresh machine: `deno task bundle` downloads esbuild and the npm
  // packages, which works only if the child got what a download needs (CA certificates,
  // proxies, registry) through childEnv. A warm cache would hide a child that cannot download.
  const cache = await Deno.makeTempDir({ prefix: "llm-proxy-deno-dir-" });
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-bundle-" });
  try {
    const built = await run(
      [Deno.execPath(), "task", "bundle"],
      { DENO_DIR: cache },
      ROOT.pathname,
    );
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /Download/, "the cache was empty, so packages were downloaded");
    await Deno.copyFile(new URL("dist/llm-proxy.js", ROOT), `${dir}/llm-proxy.js`);
    // No config, lockfile, npm or remote modules: everything must be inside the one file.
    const deno = [Deno.execPath(), "run", "--no-config", "--no-lock", "--no-npm", "--no-remote"];
    await smokeTest([...deno, ...RUNTIME_FLAGS, "llm-proxy.js"], dir);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["llm-proxy.js"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});

const binary = Deno.env.get("LLM_PROXY_BINARY");

Deno.test({
  name: "the compiled binary, in an empty directory, serves health, completions and streams",
  ignore: !binary,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "llm-proxy-binary-" });
    try {
      await smokeTest([await Deno.realPath(binary!)], dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
