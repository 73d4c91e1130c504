// End to end with the real Claude Code (pinned in tests/agent_cli.ts): `claude -p` talks
// Anthropic Messages to the proxy, the proxy talks to a fake InternLM that first answers with a
// Write tool call, then, once the tool result comes back, with a final text. The file must be on
// disk and the final answer on stdout, and every request the CLI made must have found its route
// (its start-up calls included).
import assert from "node:assert/strict";
import {
  AGENT_CLIS,
  agentCli,
  assertAgentWrote,
  inWorkspace,
  runAgent,
  runContext,
} from "./agent_cli.ts";
import { type StartOptions, withProxy } from "./proxy.ts";
import { CONTENT, FINAL, writesAFile } from "./write_file_session.ts";

/** Claude Code's file-writing tool. */
const WRITE = { name: "Write", args: (path: string) => ({ file_path: path, content: CONTENT }) };

async function claudeWritesAFile(
  env: Record<string, string>,
  proxyOptions: StartOptions,
): Promise<void> {
  const claude = await agentCli(AGENT_CLIS.claude);
  await inWorkspace("llm-proxy-claude-", async ({ home, cwd, file }) => {
    await withProxy(writesAFile(WRITE, file), async ({ up, proxy }) => {
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
      const { requests, context } = runContext(run, proxy.logs);
      await assertAgentWrote(run, file, CONTENT, FINAL, context);
      const calls = up.chatRequests();
      assert.equal(calls.length, 2, context);
      // The model Claude Code asked for (claude-…) became the forced or mapped one.
      assert.equal(calls[0].body?.model, "intern-s1");
      const unanswered = requests.filter((l) => / 4\d\d /.test(l));
      assert.deepEqual(unanswered, [], `Claude Code called routes the proxy lacks:\n${context}`);
    }, proxyOptions);
  });
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
