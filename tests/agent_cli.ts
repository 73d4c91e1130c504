/**
 * Real agent CLIs for the end-to-end tests, installed from npm at pinned versions into a cache
 * outside the repository (`$LLM_PROXY_TEST_CACHE`, else `~/.cache/llm-proxy-tests`) on first use,
 * and run with an isolated home so that nothing of the developer's own setup leaks in.
 *
 * @module
 */

import { exists } from "../scripts/compile.ts";
import { childEnv } from "./subprocess.ts";

/** The agent CLIs the tests drive, pinned. */
export const AGENT_CLIS = {
  claude: { pkg: "@anthropic-ai/claude-code", version: "2.1.332", bin: "claude" },
  codex: { pkg: "@openai/codex", version: "0.169.0", bin: "codex" },
  gemini: { pkg: "@google/gemini-cli", version: "0.61.0", bin: "gemini" },
  opencode: { pkg: "opencode-ai", version: "1.18.33", bin: "opencode" },
  pi: { pkg: "@mariozechner/pi-coding-agent", version: "0.73.1", bin: "pi" },
} as const;

/** One of {@link AGENT_CLIS}. */
export type AgentCli = typeof AGENT_CLIS[keyof typeof AGENT_CLIS];

function cacheRoot(): string {
  const home = Deno.env.get("HOME") ?? "/tmp";
  return Deno.env.get("LLM_PROXY_TEST_CACHE") ?? `${home}/.cache/llm-proxy-tests`;
}

/**
 * The path of `cli`'s executable, installing the package with npm first when it is not cached.
 * Throws with npm's output when the install fails.
 *
 * @example
 * ```ts
 * const claude = await agentCli(AGENT_CLIS.claude); // ".../node_modules/.bin/claude"
 * ```
 */
export async function agentCli(cli: AgentCli): Promise<string> {
  const dir = `${cacheRoot()}/${cli.pkg.replace("/", "+")}@${cli.version}`;
  const bin = `${dir}/node_modules/.bin/${cli.bin}`;
  if (await exists(bin)) return bin;
  await Deno.mkdir(dir, { recursive: true });
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      "--prefix",
      dir,
      `${cli.pkg}@${cli.version}`,
    ],
    stdin: "null",
  }).output();
  if (!out.success || !(await exists(bin))) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`npm install ${cli.pkg}@${cli.version} failed:\n${text}`);
  }
  return bin;
}

/** Where a run happens: a fresh home, the project folder, and the file the agent must write. */
export interface Workspace {
  home: string;
  cwd: string;
  file: string;
}

/**
 * Runs `fn` in a fresh temporary {@link Workspace} (`prefix` names it; its home and project
 * folder exist, the file not yet), removed afterwards.
 *
 * @example
 * ```ts
 * await inWorkspace("llm-proxy-pi-", async ({ home, cwd, file }) => {});
 * ```
 */
export async function inWorkspace(
  prefix: string,
  fn: (workspace: Workspace) => Promise<void>,
): Promise<void> {
  const work = await Deno.makeTempDir({ prefix });
  const home = `${work}/home`;
  const cwd = `${work}/project`;
  await Deno.mkdir(home);
  await Deno.mkdir(cwd);
  try {
    await fn({ home, cwd, file: `${cwd}/hello.txt` });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** What {@link runAgent} saw. */
export interface AgentRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin` with `args` in `cwd`, with a fresh `HOME` (and `env` on top of what a child needs:
 * `PATH`, the machine's TLS settings), killed after `timeoutMs`.
 *
 * @example
 * ```ts
 * const run = await runAgent(claude, ["-p", "hi"], { cwd, home, env: { ANTHROPIC_BASE_URL } });
 * ```
 */
export async function runAgent(
  bin: string,
  args: string[],
  options: { cwd: string; home: string; env: Record<string, string>; timeoutMs?: number },
): Promise<AgentRun> {
  const child = new Deno.Command(bin, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: childEnv({
      HOME: options.home,
      XDG_CONFIG_HOME: `${options.home}/.config`,
      XDG_CACHE_HOME: `${options.home}/.cache`,
      XDG_DATA_HOME: `${options.home}/.local/share`,
      NO_COLOR: "1",
      ...options.env,
    }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 120_000);
  try {
    const out = await child.output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The requests a proxy log shows, and a failure message with everything needed to see why an
 * agent run went wrong: its exit code, output, and those requests.
 *
 * @example
 * ```ts
 * const { requests, context } = runContext(run, proxy.logs);
 * assert.equal(run.code, 0, context);
 * ```
 */
export function runContext(run: AgentRun, logs: readonly string[]) {
  const requests = logs.filter((l) => / (GET|HEAD|POST|PUT|DELETE) \//.test(l));
  const context = `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\n` +
    `requests the proxy answered:\n${requests.join("\n")}`;
  return { requests, context };
}

/**
 * Asserts an agent run ended well: exit 0, `file` holding `content`, `final` on stdout.
 *
 * @example
 * ```ts
 * await assertAgentWrote(run, `${cwd}/hello.txt`, "hi\n", "Done.", context);
 * ```
 */
export async function assertAgentWrote(
  run: AgentRun,
  file: string,
  content: string,
  final: string,
  context: string,
): Promise<void> {
  if (run.code !== 0) throw new Error(`the agent exited with ${run.code}\n${context}`);
  const written = await Deno.readTextFile(file).catch(() => "(no file)");
  if (written !== content) {
    throw new Error(
      `${file} holds ${JSON.stringify(written)}, not ${JSON.stringify(content)}\n${context}`,
    );
  }
  if (!run.stdout.includes(final)) throw new Error(`the final answer is not on stdout\n${context}`);
}
