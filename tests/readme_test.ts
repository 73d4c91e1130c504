// The README as a new user follows it: its examples are the files in examples/ (each block marked
// `<!-- examples/NAME -->` must be that file, byte for byte), and they run as written against the
// stand-in upstream, with the commands the README gives; only the ports differ (8000 and 9000 in
// the text, free ones here). Following them must leave the checkout as it was. Links between the
// documents must resolve.
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { childEnv, type ProxyProcess, run, spawnProxy } from "./subprocess.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));

/** The documents a user reads, relative to the repository root: docs/ with its subfolders. */
function documents(): string[] {
  const docs: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
      if (entry.isDirectory) walk(`${dir}${entry.name}/`);
      else if (entry.name.endsWith(".md")) docs.push(`${dir}${entry.name}`);
    }
  };
  walk("docs/");
  return ["README.md", "CONTRIBUTING.md", ...docs.sort()];
}

/** Every `<!-- examples/NAME -->` marker and the fenced block right after it. */
function includedExamples(markdown: string): Map<string, string> {
  const included = new Map<string, string>();
  for (const m of markdown.matchAll(/<!-- (examples\/\S+) -->\n\n```\w*\n([\s\S]*?)```\n/g)) {
    included.set(m[1], m[2]);
  }
  return included;
}

/** The commands the README gives for running the examples, each checked to be in it verbatim. */
const COMMANDS = {
  upstream: "deno task fake-upstream 9000",
  proxy:
    "INTERNAI_API_KEY=dummy INTERNAI_API_BASE_URL=http://127.0.0.1:9000/api/v1 deno task start",
  sdk: "deno run --allow-net --allow-env examples/chat.ts",
  python: "pip install openai && python examples/chat.py",
  twoBackends:
    "INTERNAI_API_KEY=dummy LOCAL_API_KEY=dummy deno task start --config examples/local.yaml",
};

Deno.test("README: every example block is the file it names, and every example file is shown", async () => {
  const readme = await read("README.md");
  const included = includedExamples(readme);
  const files = [...Deno.readDirSync(new URL("examples/", ROOT))].map((e) => `examples/${e.name}`);
  assert.deepEqual([...included.keys()].sort(), files.sort());
  for (const [path, block] of included) assert.equal(block, await read(path), path);
  for (const [name, command] of Object.entries(COMMANDS)) {
    assert.ok(readme.includes(command), `README lacks the ${name} command: ${command}`);
  }
  // The SDK the example imports is the one the tests pin.
  assert.match(await read("examples/chat.ts"), new RegExp(`"${denoJson.imports.openai}"`));
  // The Node-only form names the Deno that CI installs.
  const version = /^DENO_VERSION=(\S+)$/m.exec(await read(".ci/run"))?.[1];
  assert.ok(readme.includes(`npx -y deno@${version} task start`));
  assert.ok(readme.includes(`npm install -g deno@${version}`));
});

Deno.test("docs: no shell example writes a file into the checkout", async () => {
  for (const doc of documents()) {
    const text = await read(doc);
    for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
      for (const line of block[1].split("\n")) {
        // `> file`, `>> file` with a relative path; `2>&1`, `> /tmp/…` and `<placeholders>` are fine.
        const command = line.replace(/<[^<>]*>/g, "");
        assert.doesNotMatch(command, /(^|[^0-9&])>>?\s*(?![&/])\S/, `${doc}: ${line}`);
      }
    }
  }
});

/** Starts `deno task fake-upstream 0` (an ephemeral port) and reads its base URL off stdout. */
async function fakeUpstreamTask(): Promise<{ baseUrl: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "fake-upstream", "0"],
    cwd: ROOT.pathname,
    clearEnv: true,
    env: childEnv({}),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let baseUrl: string | undefined;
  while (!baseUrl) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`deno task fake-upstream ended before it listened: ${text}`);
    text += value;
    baseUrl = /INTERNAI_API_BASE_URL=(\S+)/.exec(text)?.[1];
  }
  return {
    baseUrl,
    async stop() {
      child.kill("SIGTERM");
      await lines.cancel();
      await child.status;
    },
  };
}

/** `examples/` copied under `parent` with the README's ports replaced by the ones running here. */
async function examplesFor(parent: string, proxyPort: number, upstreamPort: number) {
  const dir = await Deno.makeTempDir({ dir: parent });
  await Deno.mkdir(`${dir}/examples`);
  for (const entry of Deno.readDirSync(new URL("examples/", ROOT))) {
    const text = (await read(`examples/${entry.name}`))
      .replaceAll(":8000", `:${proxyPort}`)
      .replaceAll(":9000", `:${upstreamPort}`);
    await Deno.writeTextFile(`${dir}/examples/${entry.name}`, text);
  }
  return dir;
}

/** Runs `command` in `cwd` and returns its stdout, failing the test with its stderr if it fails. */
async function stdoutOf(command: string[], cwd: string): Promise<string> {
  const out = await run(command, {}, cwd);
  assert.equal(out.code, 0, `${command.join(" ")}:\n${out.stderr}`);
  return out.stdout;
}

async function gitStatus(): Promise<string> {
  return await stdoutOf(["git", "status", "--porcelain", "--untracked-files=all"], ROOT.pathname);
}

Deno.test("README: the examples run as written against the stand-in upstream, and leave the checkout clean", async () => {
  const before = await gitStatus();
  const upstream = await fakeUpstreamTask();
  const upstreamPort = Number(new URL(upstream.baseUrl).port);
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-readme-" });
  // `deno task start`, as the README starts it; `env` is what its command line sets.
  const start = (env: Record<string, string>, args: string[] = []) =>
    spawnProxy([Deno.execPath(), "task", "start", ...args], { cwd: ROOT.pathname, env });
  let proxy: ProxyProcess | undefined;
  try {
    proxy = await start({ INTERNAI_API_KEY: "dummy", INTERNAI_API_BASE_URL: upstream.baseUrl });
    let here = await examplesFor(dir, proxy.port, upstreamPort);

    const answer = JSON.parse(await stdoutOf(["bash", "examples/chat.sh"], here));
    assert.equal(answer.choices[0].message.content, "Hello! I am a fake InternLM.");
    assert.equal(answer.choices[0].message.reasoning_content, "The user greets me.");

    // The SDK example, with exactly the permissions the README gives it.
    const [deno, ...flags] = COMMANDS.sdk.split(" ");
    assert.equal(deno, "deno");
    const streamed = await stdoutOf([Deno.execPath(), ...flags], here);
    assert.equal(streamed, "The user greets me.Hello! I am a fake InternLM.\n");

    // Python's openai package cannot be installed on the machines these tests run on (no PyPI),
    // so the Python example runs only where `import openai` works; elsewhere only its text is
    // checked (above).
    const python = await run(["python3", "-c", "import openai"]).catch(() => ({ code: 1 }));
    if (python.code === 0) {
      const printed = await stdoutOf(["python3", "examples/chat.py"], here);
      assert.equal(printed, "Hello! I am a fake InternLM.\n");
    } else {
      console.log("examples/chat.py not run: no Python with the openai package here");
    }
    assert.equal((await proxy.stop("SIGTERM")).code, 0, proxy.stderr.join("\n"));

    // The second backend, from the example config file (its upstream port replaced).
    proxy = await start({ INTERNAI_API_KEY: "dummy", LOCAL_API_KEY: "dummy" }, [
      "--config",
      `${here}/examples/local.yaml`,
    ]);
    here = await examplesFor(dir, proxy.port, upstreamPort);
    const local = await stdoutOf(["bash", "examples/local.sh"], here);
    const data = local.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
    assert.equal(data.at(-1), "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(
      chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
      "Hello! I am a fake OpenAI-compatible server, streaming.",
    );
    assert.ok(chunks.every((c) => c.model === "local/any-model"));
    const viaInternlm = JSON.parse(await stdoutOf(["bash", "examples/chat.sh"], here));
    assert.equal(viaInternlm.choices[0].message.content, "Hello! I am a fake InternLM.");
  } finally {
    await proxy?.stop("SIGTERM");
    await upstream.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(await gitStatus(), before, "following the README changed the checkout");
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-");
}

/** The anchors of `markdown`'s headings, code blocks left out. */
function anchors(markdown: string): Set<string> {
  const prose = markdown.replace(/```[\s\S]*?```/g, "");
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

Deno.test("docs: every relative link names a file that exists, and a heading that does", async () => {
  for (const doc of documents()) {
    const text = await read(doc);
    const prose = text.replace(/```[\s\S]*?```/g, "");
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [path, anchor] = target.split("#");
      const file = path === "" ? new URL(doc, ROOT) : new URL(path, new URL(doc, ROOT));
      const stat = await Deno.stat(file).catch(() => undefined);
      assert.ok(stat, `${doc} links to ${target}, which does not exist`);
      if (anchor !== undefined) {
        assert.ok(stat.isFile, `${doc}: ${target}`);
        const headings = anchors(await Deno.readTextFile(file));
        assert.ok(headings.has(anchor), `${doc} links to ${target}: no such heading`);
      }
    }
  }
});
