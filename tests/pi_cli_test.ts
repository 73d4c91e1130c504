// End to end with the real pi coding agent (pinned in tests/agent_cli.ts): `pi -p` talks to the
// proxy in each API a custom provider in ~/.pi/agent/models.json may speak — openai-completions,
// openai-responses, anthropic-messages and google-generative-ai — and the proxy talks to a fake
// upstream (InternLM, or a backend that streams) that answers with a call of pi's `write` tool,
// then with a final text. The file must be on disk, the answer on stdout, every request answered
// by the dialect's front end, and pi must reach nothing but loopback (checked with strace where
// there is one): PI_OFFLINE turns off its start-up update checks and install telemetry.
import { AGENT_CLIS } from "./agent_cli.ts";
import { type AgentSession, agentWritesAFile, CONTENT } from "./write_file_session.ts";

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

/** pi, configured for `mode`. */
function pi(mode: Mode): AgentSession {
  return {
    cli: AGENT_CLIS.pi,
    tool: { name: "write", args: (path) => ({ path, content: CONTENT }) },
    args: ["-p"],
    async configure({ home }, origin) {
      const agentDir = `${home}/.pi/agent`;
      await Deno.mkdir(agentDir, { recursive: true });
      await Deno.writeTextFile(`${agentDir}/settings.json`, SETTINGS);
      await Deno.writeTextFile(`${agentDir}/models.json`, modelsJson(origin, mode));
    },
    env: () => ({ PI_OFFLINE: "1", PI_TELEMETRY: "0" }),
  };
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
    fn: () => agentWritesAFile(pi(mode), mode, false),
  });
  Deno.test({
    ...cli,
    name: `pi -p: ${mode.api}, from a streaming upstream relayed chunk by chunk`,
    fn: () => agentWritesAFile(pi(mode), mode, true),
  });
}
