// End to end with the real Codex CLI (pinned in tests/agent_cli.ts): `codex exec` talks the
// Responses API (streamed, store: false, its history replayed each turn) to the proxy, the proxy
// talks to a fake InternLM that first answers with a tool call creating a file, then, once the
// tool's output comes back, with a final text. The file must be on disk, the answer on stdout.
//
// Two ways Codex is set up: with an InternLM model named in config.toml (Codex then offers its
// classic tools, `exec_command` among them), and with Codex's own default model and the proxy's
// --force-model (Codex then sends its tools as an `additional_tools` input item, in namespaces,
// the freeform `exec` script tool first, which the fake uses: a custom tool round trip).
import assert from "node:assert/strict";
import {
  AGENT_CLIS,
  agentCli,
  assertAgentWrote,
  inWorkspace,
  runAgent,
  runContext,
} from "./agent_cli.ts";
import { completion, type RecordedRequest, type Reply } from "./fake_upstream.ts";
import { type StartOptions, withProxy } from "./proxy.ts";

const FINAL = "Done: hello.txt says hi.";
const CONTENT = "hi from codex\n";
const COMMAND = `printf 'hi from codex\\n' > hello.txt`;

type Tool = { function: { name: string } };

/** The fake InternLM: the tool call once, then the final answer. */
function internlm(tool: "exec_command" | "exec"): (req: RecordedRequest) => Reply {
  return (req) => {
    const messages = (req.body?.messages ?? []) as Array<Record<string, unknown>>;
    if (messages.some((m) => m.role === "tool")) return completion(FINAL);
    const args = tool === "exec_command"
      ? { cmd: COMMAND }
      // Codex's `exec` runs JavaScript whose `tools` object reaches its other tools.
      : {
        input: `const r = await tools.exec_command({ cmd: ${
          JSON.stringify(COMMAND)
        } });\ntext(r);\n`,
      };
    return completion(null, {
      reasoning_content: "A shell command creates the file.",
      tool_calls: [{
        id: "call_codex_1",
        type: "function",
        function: { name: tool, arguments: JSON.stringify(args) },
      }],
    });
  };
}

function configToml(baseUrl: string, model: string | undefined): string {
  return [
    ...(model ? [`model = "${model}"`] : []),
    `model_provider = "llm-proxy"`,
    `check_for_update_on_startup = false`,
    ``,
    `[model_providers.llm-proxy]`,
    `name = "llm-proxy"`,
    `base_url = "${baseUrl}"`,
    `wire_api = "responses"`,
    `env_key = "LLM_PROXY_API_KEY"`,
    ``,
    `[features]`,
    `plugins = false`,
    ``,
    `[analytics]`,
    `enabled = false`,
    ``,
    `[feedback]`,
    `enabled = false`,
    ``,
    `[otel]`,
    `exporter = "none"`,
    ``,
  ].join("\n");
}

async function codexCreatesAFile(
  tool: "exec_command" | "exec",
  model: string | undefined,
  proxyOptions: StartOptions,
): Promise<RecordedRequest[]> {
  const codex = await agentCli(AGENT_CLIS.codex);
  let calls: RecordedRequest[] = [];
  await inWorkspace("llm-proxy-codex-", async ({ home, cwd, file }) => {
    const codexHome = `${home}/.codex`;
    await Deno.mkdir(codexHome);
    await withProxy(internlm(tool), async ({ up, proxy }) => {
      await Deno.writeTextFile(`${codexHome}/config.toml`, configToml(proxy.baseUrl, model));
      const run = await runAgent(
        codex,
        [
          "exec",
          "--skip-git-repo-check",
          "--dangerously-bypass-approvals-and-sandbox",
          "--ephemeral",
          "Create hello.txt saying hi.",
        ],
        {
          cwd,
          home,
          timeoutMs: 240_000,
          env: {
            CODEX_HOME: codexHome,
            LLM_PROXY_API_KEY: "client-key",
          },
        },
      );
      const { requests, context } = runContext(run, proxy.logs);
      await assertAgentWrote(run, file, CONTENT, FINAL, context);
      calls = up.chatRequests();
      assert.equal(calls.length, 2, `one call for the tool, one for the answer\n${context}`);
      const failed = requests.filter((l) => !/ 200 /.test(l));
      assert.deepEqual(failed, [], `requests the proxy did not answer with 200:\n${context}`);
      // Codex replays its history (store: false): the call and its output go up in turn two.
      const second = calls[1].body?.messages as Array<Record<string, unknown>>;
      const result = second.find((m) => m.role === "tool");
      assert.equal(result?.tool_call_id, "call_codex_1", context);
      const assistant = second.find((m) => m.role === "assistant");
      assert.equal(assistant?.reasoning_content, "A shell command creates the file.");
    }, proxyOptions);
  });
  return calls;
}

// The first run installs Codex from npm; its process may outlive what the sanitizers see.
const cli = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...cli,
  name: "codex exec: an InternLM model in config.toml; an exec_command call creates the file",
  fn: async () => {
    const calls = await codexCreatesAFile("exec_command", "internlm/intern-s1", {});
    const tools = (calls[0].body?.tools as Tool[]).map((t) => t.function.name);
    assert.ok(tools.includes("exec_command"), `tools offered: ${tools}`);
    assert.equal(calls[0].body?.model, "intern-s1");
    const messages = calls[0].body?.messages as Array<{ role: string }>;
    assert.equal(messages[0].role, "system", "Codex's developer message is the system prompt");
  },
});

Deno.test({
  ...cli,
  name:
    "codex exec: its own model with --force-model; the freeform exec tool (custom_tool_call) creates the file",
  fn: async () => {
    const calls = await codexCreatesAFile("exec", undefined, {
      overrides: { forceModel: "internlm/intern-s1" },
    });
    const tools = (calls[0].body?.tools as Tool[]).map((t) => t.function.name);
    assert.ok(tools.includes("exec"), `tools from additional_tools: ${tools}`);
    assert.equal(calls[0].body?.model, "intern-s1");
    // The script's output came back as the custom tool's output.
    const result = (calls[1].body?.messages as Array<Record<string, unknown>>)
      .find((m) => m.role === "tool");
    assert.match(String(result?.content), /exit_code.?:0/);
  },
});

Deno.test({
  ...cli,
  name: "codex exec: its own model through a models: map (gpt-*), no --force-model",
  fn: async () => {
    const calls = await codexCreatesAFile("exec", undefined, {
      configText: 'models:\n  "gpt-*": internlm/intern-s1\n  "codex-*": internlm/intern-s1\n',
    });
    assert.deepEqual(calls.map((c) => c.body?.model), ["intern-s1", "intern-s1"]);
  },
});
