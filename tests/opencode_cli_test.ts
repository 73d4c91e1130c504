// End to end with the real opencode (pinned in tests/agent_cli.ts): `opencode run` talks to the
// proxy through each of the AI SDK providers a user can point at a base URL — OpenAI-compatible
// chat, Anthropic, OpenAI (which speaks the Responses API) and Google — and the proxy talks to a
// fake upstream (InternLM, or a backend that streams) that answers with a call of opencode's
// `write` tool, then with a final text. The file must be on disk, the answer on stdout, every
// request answered by the dialect's front end, and opencode must reach nothing but loopback
// (checked with strace where there is one).
//
// What keeps opencode 1.18 off the network: OPENCODE_DISABLE_MODELS_FETCH (else it fetches its
// model catalogue from models.opencode.ai), OPENCODE_DISABLE_AUTOUPDATE, `autoupdate: false`,
// `share: "disabled"`, OPENCODE_DISABLE_LSP_DOWNLOAD. One thing has no setting: for every config
// folder it installs `@opencode-ai/plugin` from npm in the background, unless the folder's
// node_modules exists and its package-lock.json already lists that package. The test seeds both
// (opencode loads nothing from there unless the folder has plugins or tools of its own).
import { AGENT_CLIS } from "./agent_cli.ts";
import { type AgentSession, agentWritesAFile, CONTENT } from "./write_file_session.ts";

/** An AI SDK provider package opencode bundles, and where on the proxy it is pointed. */
interface Mode {
  npm: string;
  path: string;
  frontend: string;
  /** False when the provider sends no call ids back (the proxy then makes them). */
  keepsCallId?: boolean;
}

const CHAT: Mode = { npm: "@ai-sdk/openai-compatible", path: "/v1", frontend: "openai_chat" };
const ANTHROPIC: Mode = { npm: "@ai-sdk/anthropic", path: "/v1", frontend: "anthropic" };
const RESPONSES: Mode = { npm: "@ai-sdk/openai", path: "/v1", frontend: "responses" };
const GOOGLE: Mode = {
  npm: "@ai-sdk/google",
  path: "/v1beta",
  frontend: "gemini",
  keepsCallId: false,
};

/** `~/.config/opencode/opencode.json`: one provider, the proxy, with one model. */
function opencodeJson(origin: string, mode: Mode, model: string): string {
  return JSON.stringify(
    {
      $schema: "https://opencode.ai/config.json",
      model: `llm-proxy/${model}`,
      small_model: `llm-proxy/${model}`,
      autoupdate: false,
      share: "disabled",
      provider: {
        "llm-proxy": {
          npm: mode.npm,
          name: "llm-proxy",
          // opencode reads `{env:NAME}` from the environment.
          options: { baseURL: `${origin}${mode.path}`, apiKey: "{env:PROXY_CLIENT_KEY}" },
          models: { [model]: { name: "Intern-S1", tool_call: true } },
        },
      },
    },
    null,
    2,
  );
}

/** opencode, configured for `mode` and `model`. */
function opencode(mode: Mode, model = "intern-s1"): AgentSession {
  return {
    cli: AGENT_CLIS.opencode,
    tool: { name: "write", args: (path) => ({ filePath: path, content: CONTENT }) },
    args: ["run"],
    async configure({ home }, origin) {
      const config = `${home}/.config/opencode`;
      await Deno.mkdir(`${config}/node_modules`, { recursive: true });
      await Deno.writeTextFile(
        `${config}/package-lock.json`,
        JSON.stringify({
          lockfileVersion: 3,
          packages: { "": { dependencies: { "@opencode-ai/plugin": "*" } } },
        }),
      );
      await Deno.writeTextFile(`${config}/opencode.json`, opencodeJson(origin, mode, model));
    },
    env: ({ home }) => ({
      XDG_STATE_HOME: `${home}/.local/state`,
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
      OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    }),
  };
}

// The first run installs opencode from npm; its process may outlive what the sanitizers see.
const cli = { sanitizeResources: false, sanitizeOps: false };

const MODES: Array<[string, Mode]> = [
  ["OpenAI-compatible chat provider", CHAT],
  ["Anthropic provider (Messages)", ANTHROPIC],
  ["OpenAI provider (Responses API)", RESPONSES],
  ["Google provider (Gemini API)", GOOGLE],
];

for (const [name, mode] of MODES) {
  Deno.test({
    ...cli,
    name: `opencode run: ${name}, write tool call, final answer`,
    // The chat provider also names the backend in the model id, as a user may.
    fn: () =>
      agentWritesAFile(
        opencode(mode, mode === CHAT ? "internlm/intern-s1" : undefined),
        mode,
        false,
      ),
  });
  Deno.test({
    ...cli,
    name: `opencode run: ${name}, from a streaming upstream relayed chunk by chunk`,
    fn: () => agentWritesAFile(opencode(mode), mode, true),
  });
}
