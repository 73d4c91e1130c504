// End to end with the real Claude Code (pinned in tests/agent_cli.ts): `claude -p` talks
// Anthropic Messages to the proxy, the proxy talks to a fake InternLM that first answers with a
// Write tool call, then, once the tool result comes back, with a final text. The file must be on
// disk and the final answer on stdout, and every request the CLI made must have found its route
// (its start-up calls included).
import assert from "node:assert/strict";
import { AGENT_CLIS, agentCli, runAgent } from "./agent_cli.ts";
import { completion, type RecordedRequest, type Reply } from "./fake_upstream.ts";
import { type StartOptions, withProxy } from "./proxy.ts";

const FINAL = "Done: hello.txt now greets the proxy.";
const CONTENT = "hello from llm-proxy\n";

/** The fake InternLM: Write once, then the final answer; any other call gets "ok". */
function internlm(file: string): (req: RecordedRequest) => Reply {
  return (req) => {
    const messages = (req.body?.messages ?? []) as Array<Record<string, unknown>>;
    const tools = (req.body?.tools ?? []) as Array<{ function?: { name?: string } }>;
    if (messages.some((m) => m.role === "tool")) return completion(FINAL);
    if (!tools.some((t) => t.function?.name === "Write")) return completion("ok");
    return completion(null, {
      reasoning_content: "The user wants a file; the Write tool makes it.",
      tool_calls: [{
        id: "call_write_1",
        type: "function",
        function: {
          name: "Write",
          arguments: JSON.stringify({ file_path: file, content: CONTENT }),
        },
      }],
    });
  };
}

async function claudeWritesAFile(
  env: Record<string, string>,
  proxyOptions: StartOptions,
): Promise<void> {
  const claude = await agentCli(AGENT_CLIS.claude);
  const work = await Deno.makeTempDir({ prefix: "llm-proxy-claude-" });
  const home = `${work}/home`;
  const cwd = `${work}/project`;
  await Deno.mkdir(home, { recursive: true });
  await Deno.mkdir(cwd, { recursive: true });
  const file = `${cwd}/hello.txt`;
  try {
    await withProxy(internlm(file), async ({ up, proxy }) => {
      const run = await runAgent(
        claude,
        ["-p", "Create hello.txt saying hello.", "--dangerously-skip-permissions"],
        {
          cwd,
          home,
          timeoutMs: 240_000,
          env: {
            // Claude Code refuses --dangerously-skip-permissions as root outside a sandbox.
            IS_SANDBOX: "1",
            ANTHROPIC_BASE_URL: proxy.origin,
            ANTHROPIC_API_KEY: "sk-ant-test-client",
            DISABLE_AUTOUPDATER: "1",
            DISABLE_TELEMETRY: "1",
            ...env,
          },
        },
      );
      const requests = proxy.logs.filter((l) => / (GET|HEAD|POST|PUT|DELETE) \//.test(l));
      const context = `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\n` +
        `requests the proxy answered:\n${requests.join("\n")}`;
      assert.equal(run.code, 0, context);
      assert.equal(await Deno.readTextFile(file).catch(() => "(no file)"), CONTENT, context);
      assert.ok(run.stdout.includes(FINAL), context);
      const calls = up.chatRequests();
      assert.equal(calls.length, 2, context);
      // The model Claude Code asked for (claude-…) became the forced or mapped one.
      assert.equal(calls[0].body?.model, "intern-s1");
      const unanswered = requests.filter((l) => / 4\d\d /.test(l));
      assert.deepEqual(unanswered, [], `Claude Code called routes the proxy lacks:\n${context}`);
    }, proxyOptions);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

// The first run installs Claude Code from npm; its process may outlive what the sanitizers see.
const cli = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...cli,
  name: "claude code: -p writes a file through the proxy (Write tool call), prints the answer",
  fn: () =>
    claudeWritesAFile({ CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" }, {
      overrides: { forceModel: "internlm/intern-s1" },
    }),
});

Deno.test({
  ...cli,
  name: "claude code: start-up traffic on, client keys, a models: map; every route it calls exists",
  fn: () =>
    claudeWritesAFile({}, {
      configText: 'models:\n  "claude-*": internlm/intern-s1\n',
      // Its key comes as x-api-key; its start-up HEAD /api/hello comes with none.
      env: { LLM_PROXY_API_KEYS: "sk-ant-test-client" },
    }),
});
