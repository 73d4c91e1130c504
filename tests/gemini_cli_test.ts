// End to end with the real Gemini CLI (pinned in tests/agent_cli.ts): `gemini -p … --yolo` talks
// Gemini's API to the proxy (GOOGLE_GEMINI_BASE_URL), the proxy talks to a fake InternLM. Without
// -m the CLI first asks which model to use (a JSON-mode request with a responseJsonSchema) and the
// fake answers in that schema; then it answers the main request with a write_file tool call and,
// once the function response comes back, with a final text. The file must be on disk, the final
// answer on stdout, each request answered once (no re-request for a missing finishReason), and
// every route the CLI called must exist. Also: through a models: map, with keep-alives while the
// upstream thinks (an SSE comment there breaks the CLI's stream parser), and an error after the
// stream started, which the CLI must report with its status.
import assert from "node:assert/strict";
import {
  AGENT_CLIS,
  agentCli,
  type AgentRun,
  assertAgentWrote,
  inWorkspace,
  runAgent,
  runContext,
} from "./agent_cli.ts";
import {
  completion,
  type FakeUpstream,
  openaiError,
  type RecordedRequest,
  type Reply,
} from "./fake_upstream.ts";
import { type StartOptions, type TestProxy, withProxy } from "./proxy.ts";
import { CALL_ID, CONTENT, FINAL, writesAFile } from "./write_file_session.ts";

/** Gemini CLI's file-writing tool. */
const WRITE_FILE = {
  name: "write_file",
  args: (path: string) => ({ file_path: path, content: CONTENT }),
};

/**
 * The fake InternLM, each answer after `delayMs` (thinking time): the router's JSON for a JSON-mode
 * request, else the {@link writesAFile} session (write_file, then the final answer).
 */
function internlm(file: string, delayMs: number): (req: RecordedRequest) => Reply {
  const session = writesAFile(WRITE_FILE, file, delayMs);
  return (req) => {
    const format = req.body?.response_format as
      | { type?: string; json_schema?: { schema?: unknown } }
      | undefined;
    if (format?.type !== "json_schema") return session(req);
    // Answer in whatever schema the CLI's model router sent, with every required field.
    const schema = format.json_schema?.schema as {
      properties?: Record<string, { type?: string }>;
    };
    const json: Record<string, unknown> = {};
    for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
      json[name] = prop.type === "integer" || prop.type === "number" ? 20 : "simple task";
    }
    return completion(JSON.stringify(json), { delayMs });
  };
}

/** A run of `gemini -p <prompt> --yolo` in a fresh home and folder, against a proxy. */
interface GeminiRun {
  run: AgentRun;
  file: string;
  /** The request lines of the proxy's log, and the run's output, for failure messages. */
  requests: string[];
  context: string;
}

/** Runs Gemini CLI in a fresh workspace; `check` sees the run, then both go. */
async function withGeminiRun(
  responder: (file: string) => (req: RecordedRequest) => Reply,
  proxyOptions: StartOptions,
  check: (run: GeminiRun, ctx: { up: FakeUpstream; proxy: TestProxy }) => Promise<void>,
): Promise<void> {
  const gemini = await agentCli(AGENT_CLIS.gemini);
  await inWorkspace("llm-proxy-gemini-", async ({ home, cwd, file }) => {
    await Deno.mkdir(`${home}/.gemini`);
    await Deno.mkdir(`${home}/tmp`);
    await Deno.writeTextFile(
      `${home}/.gemini/settings.json`,
      JSON.stringify({
        security: { auth: { selectedType: "gemini-api-key" } },
        telemetry: { enabled: false },
        privacy: { usageStatisticsEnabled: false },
        general: { disableAutoUpdate: true, disableUpdateNag: true },
      }),
    );
    await withProxy(responder(file), async (ctx) => {
      const run = await runAgent(gemini, ["-p", "Create hello.txt saying hello.", "--yolo"], {
        cwd,
        home,
        timeoutMs: 240_000,
        env: {
          GOOGLE_GEMINI_BASE_URL: ctx.proxy.origin,
          GEMINI_API_KEY: "gemini-test-client",
          GEMINI_CLI_NO_RELAUNCH: "true",
          // Headless runs refuse an untrusted folder; this one is the test's own.
          GEMINI_CLI_TRUST_WORKSPACE: "true",
          // Its error reports go to the temporary folder: this run's, removed after.
          TMPDIR: `${home}/tmp`,
        },
      });
      const { requests, context } = runContext(run, ctx.proxy.logs);
      await check({ run, file, requests, context }, ctx);
    }, proxyOptions);
  });
}

function geminiWritesAFile(proxyOptions: StartOptions, delayMs = 0): Promise<void> {
  return withGeminiRun(
    (file) => internlm(file, delayMs),
    proxyOptions,
    async ({ run, file, requests, context }, { up }) => {
      await assertAgentWrote(run, file, CONTENT, FINAL, context);
      assert.equal(run.stdout.split(FINAL).length, 2, `the answer was printed once:\n${context}`);
      const calls = up.chatRequests();
      const routed = calls.filter((c) => c.body?.response_format !== undefined);
      const main = calls.filter((c) => c.body?.response_format === undefined);
      assert.equal(routed.length, 1, `one model-routing request:\n${context}`);
      assert.equal(main.length, 2, `the tool call and the answer, each asked once:\n${context}`);
      // The model Gemini CLI asked for (gemini-…) became the forced or mapped one.
      assert.equal(main[0].body?.model, "intern-s1");
      // The function response was paired with the call InternLM made.
      const tool = (main[1].body?.messages as Array<Record<string, unknown>>)
        .find((m) => m.role === "tool");
      assert.equal(tool?.tool_call_id, CALL_ID, context);
      assert.ok(requests.every((l) => l.includes("frontend=gemini")), context);
      const unanswered = requests.filter((l) => / 40[45] /.test(l));
      assert.deepEqual(unanswered, [], `Gemini CLI called routes the proxy lacks:\n${context}`);
    },
  );
}

// The first run installs Gemini CLI from npm; its process may outlive what the sanitizers see.
const cli = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...cli,
  name:
    "gemini cli: -p --yolo writes a file through the proxy (write_file call), prints the answer",
  fn: () => geminiWritesAFile({ overrides: { forceModel: "internlm/intern-s1" } }),
});

Deno.test({
  ...cli,
  name: "gemini cli: the same through a models: map for gemini-*",
  fn: () => geminiWritesAFile({ configText: 'models:\n  "gemini-*": internlm/intern-s1\n' }),
});

Deno.test({
  ...cli,
  name: "gemini cli: keep-alives while InternLM thinks do not disturb its stream parser",
  fn: () =>
    geminiWritesAFile({
      overrides: { forceModel: "internlm/intern-s1" },
      configText: "streaming:\n  keepalive_interval: 0.05\n",
    }, 400),
});

Deno.test({
  ...cli,
  name: "gemini cli: an error after the stream started is reported with its status, not a hang",
  fn: () =>
    withGeminiRun(
      () => (req) =>
        req.body?.response_format === undefined
          ? { ...openaiError(400, "the conversation is too long for intern-s1"), delayMs: 400 }
          : completion('{"complexity_reasoning":"simple","complexity_score":20}'),
      {
        overrides: { forceModel: "internlm/intern-s1" },
        configText: "streaming:\n  keepalive_interval: 0.05\n",
      },
      ({ run, context }) => {
        assert.notEqual(run.code, 0, context);
        const output = run.stdout + run.stderr;
        assert.match(output, /INVALID_ARGUMENT|400/, context);
        assert.match(output, /too long for intern-s1/, context);
        return Promise.resolve();
      },
    ),
});
