// End to end with the real pi coding agent (pinned in tests/agent_cli.ts): `pi -p` talks to the
// proxy in each API a custom provider in ~/.pi/agent/models.json may speak — openai-completions,
// openai-responses, anthropic-messages and google-generative-ai — and the proxy talks to a fake
// upstream (InternLM, or a backend that streams) that answers with a call of pi's `write` tool,
// then with a final text. The file must be on disk, the answer on stdout, every request answered
// by the dialect's front end, and pi must reach nothing but loopback (checked with strace where
// there is one): PI_OFFLINE turns off its start-up update checks and install telemetry.
import { AGENT_CLIS, agentCli } from "./agent_cli.ts";
import { runLoopbackOnly } from "./loopback_run.ts";
import {
  assertWroteAFile,
  CONTENT,
  inWorkspace,
  withSessionProxy,
  writesAFile,
} from "./write_file_session.ts";

const CLIENT_KEY = "client-key-pi";

/** A pi provider API, where on the proxy it is pointed, and the front end that answers it. */
interface Mode {
  api: string;
  path: string;
  frontend: string;
  /** False when the API sends no call ids back (the proxy then makes them). */
  keepsCallId?: boolean;
}

/** `~/.pi/agent/models.json`: one provider, the proxy, with one model. */
function modelsJson(origin: string, mode: Mode): string {
  return JSON.stringify(
    {
      providers: {
        "llm-proxy": {
          baseUrl: `${origin}${mode.path}`,
          api: mode.api,
          // The name of a variable holding the key (else the key itself).
          apiKey: "PROXY_CLIENT_KEY",
          models: [{ id: "intern-s1", name: "Intern-S1", reasoning: true, input: ["text"] }],
        },
      },
    },
    null,
    2,
  );
}

/** `~/.pi/agent/settings.json`: that model by default, no telemetry. */
const SETTINGS = JSON.stringify({
  defaultProvider: "llm-proxy",
  defaultModel: "intern-s1",
  enableInstallTelemetry: false,
  quietStartup: true,
});

async function piWritesAFile(mode: Mode, live: boolean): Promise<void> {
  const pi = await agentCli(AGENT_CLIS.pi);
  const tool = { name: "write", args: (path: string) => ({ path, content: CONTENT }) };
  await inWorkspace("llm-proxy-pi-", async ({ home, cwd, file }) => {
    const agentDir = `${home}/.pi/agent`;
    await Deno.mkdir(agentDir, { recursive: true });
    await Deno.writeTextFile(`${agentDir}/settings.json`, SETTINGS);
    const env = { LLM_PROXY_API_KEYS: CLIENT_KEY };
    await withSessionProxy(writesAFile(tool, file, 300), live, env, async (ctx) => {
      await Deno.writeTextFile(`${agentDir}/models.json`, modelsJson(ctx.proxy.origin, mode));
      const run = await runLoopbackOnly(pi, ["-p", "Create hello.txt saying hello."], {
        cwd,
        home,
        timeoutMs: 240_000,
        env: { PROXY_CLIENT_KEY: CLIENT_KEY, PI_OFFLINE: "1", PI_TELEMETRY: "0" },
      });
      await assertWroteAFile(run, ctx, { file, tool: tool.name, live, ...mode });
    });
  });
}

// The first run installs pi from npm; its process may outlive what the sanitizers see.
const cli = { sanitizeResources: false, sanitizeOps: false };

const MODES: Mode[] = [
  { api: "openai-completions", path: "/v1", frontend: "openai_chat" },
  { api: "openai-responses", path: "/v1", frontend: "responses" },
  { api: "anthropic-messages", path: "", frontend: "anthropic" },
  // pi sends Gemini call ids back only for claude-* and gpt-oss-* models.
  { api: "google-generative-ai", path: "/v1beta", frontend: "gemini", keepsCallId: false },
];

for (const mode of MODES) {
  Deno.test({
    ...cli,
    name: `pi -p: ${mode.api}, write tool call, final answer`,
    fn: () => piWritesAFile(mode, false),
  });
  Deno.test({
    ...cli,
    name: `pi -p: ${mode.api}, from a streaming upstream relayed chunk by chunk`,
    fn: () => piWritesAFile(mode, true),
  });
}
