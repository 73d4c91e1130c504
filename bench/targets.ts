/**
 * What the benchmark measures: the fake upstream, the two references (a bare pass-through and a
 * minimal correct proxy), llm-proxy started the way users start it, and the same proxy process
 * reached through every other front end (variants). Each server is its own process.
 *
 * @module
 */

import { type Server, startServer } from "./servers.ts";
import { type Variant, VARIANTS } from "./variants.ts";

/** What a target is, for the report's ratios. */
export type Role =
  | "upstream"
  | "pass"
  | "minimal"
  | "proxy"
  | "quiet"
  | "streamsOnly"
  | "baseline"
  | "variant";

/** A target the load generator is pointed at. */
export interface Target {
  /** Row label in the report. */
  name: string;
  role: Role;
  server: Server;
  url: string;
  /** Where streaming requests go, when not to {@link Target.url} (Gemini's stream method). */
  streamUrl?: string;
  /** Request bodies: non-streaming, and streaming when the target is measured streaming. */
  bodyFile: string;
  streamBodyFile?: string;
  /** Checks a non-streaming answer's parsed JSON: its text, or undefined if it is not one. */
  answerText: (json: unknown) => string | undefined;
  /** The stream's last event, which ends every good stream of the dialect. */
  streamEnd: string;
  /** The proxy's log file, when its log is written to one. */
  logFile?: string;
}

/** Names of the rows the report computes ratios from. */
export const ROW = {
  upstream: "upstream, direct",
  pass: "bare pass-through",
  minimal: "minimal proxy",
  proxy: "llm-proxy",
  quiet: "llm-proxy, no request log",
  /**
   * A process that gets streaming requests alone, as a proxy in front of coding agents does (they
   * stream every request): V8's heap adapts to the mix of requests a process is given.
   */
  streamsOnly: "llm-proxy, streams only",
  /** The process the front-end variants are sent to (no row of its own). */
  frontEnds: "llm-proxy, other front ends",
  /**
   * The chat path in the front ends' process: the control their CPU is compared with under the
   * same conditions (one process serving every dialect, the response store filling up).
   */
  frontEndsChat: "llm-proxy, openai chat (front ends' process)",
} as const;

/** The repository's root directory (with a trailing `/`): where the bench's tools find its files. */
export const ROOT = new URL("../", import.meta.url).pathname;
const here = (file: string) => new URL(file, import.meta.url).pathname;

/** OpenAI chat: the answer's text, as the upstream, both references and the proxy give it. */
const chatText = (json: unknown) =>
  (json as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message
    ?.content as string | undefined;

/** Where the request bodies are written: per dialect, non-streaming and streaming. */
export interface Bodies {
  chat: string;
  chatStream: string;
  /** By variant name. */
  variants: Map<string, { body: string; stream: string }>;
}

/**
 * The request a tool sends for one kind of load: the body file and the path, of `variant` or, for
 * none, of the chat path.
 */
export function benchRequest(
  bodies: Bodies,
  variant: Variant | undefined,
  stream: boolean,
): { bodyFile: string; path: string } {
  const own = variant && bodies.variants.get(variant.name)!;
  return {
    bodyFile: stream ? own?.stream ?? bodies.chatStream : own?.body ?? bodies.chat,
    path: variant?.path(stream) ?? "/v1/chat/completions",
  };
}

/** Writes every request body the run needs into `dir`. */
export async function writeBodies(
  dir: string,
  chatRequest: (stream: boolean) => Record<string, unknown>,
): Promise<Bodies> {
  const write = async (name: string, value: unknown) => {
    const file = `${dir}/${name}.json`;
    await Deno.writeTextFile(file, JSON.stringify(value));
    return file;
  };
  const variants = new Map<string, { body: string; stream: string }>();
  for (const v of VARIANTS) {
    const slug = v.name.replace(/\W+/g, "-");
    variants.set(v.name, {
      body: await write(slug, v.request(false)),
      stream: await write(`${slug}-stream`, v.request(true)),
    });
  }
  return {
    chat: await write("chat", chatRequest(false)),
    chatStream: await write("chat-stream", chatRequest(true)),
    variants,
  };
}

/**
 * Starts every server: the upstream, the references and the proxy (at its default log level,
 * the log going to a file; also with no request log, to price it; and as it was at
 * `baseline.rev`, when given). The variants share one more proxy process, started the same way.
 */
export async function startTargets(
  servers: Server[],
  dir: string,
  bodies: Bodies,
  delayMs: number,
  baseline: { rev: string; root: string } | undefined,
): Promise<Target[]> {
  const started = async (spec: Parameters<typeof startServer>[0]) => {
    const s = await startServer(spec);
    servers.push(s);
    return s;
  };
  const upstream = await started({
    name: "upstream",
    args: ["run", "--allow-net", here("fake_upstream.ts"), "--port", "{port}"]
      .concat(delayMs > 0 ? ["--delay-ms", String(delayMs)] : []),
  });
  const upstreamBase = `${upstream.origin}/api/v1`;
  const pass = await started({
    name: "pass-through",
    args: ["run", "--allow-net", here("passthrough.ts"), "{port}", upstream.origin],
  });
  const minimal = await started({
    name: "minimal proxy",
    args: ["run", "--allow-net", here("minimal_proxy.ts"), "{port}", upstreamBase],
  });
  const proxyEnv = { INTERNAI_API_BASE_URL: upstreamBase, INTERNAI_API_KEY: "bench-dummy-key" };
  // As `deno task start` runs it; the log level is the default unless one is given.
  const proxy = (name: string, root: string, logFile: string | undefined, level?: string) =>
    started({
      name,
      args: [
        ...startCommand(root),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        ...(level ? ["--log-level", level] : []),
      ],
      env: proxyEnv,
      cwd: root,
      stderrFile: logFile,
    });
  const logFile = `${dir}/llm-proxy.log`;
  const main = await proxy(ROW.proxy, ROOT, logFile);
  const quiet = await proxy(ROW.quiet, ROOT, undefined, "warn");
  const streamsOnlyLog = `${dir}/streams-only.log`;
  const streamsOnly = await proxy(ROW.streamsOnly, ROOT, streamsOnlyLog);
  // The other dialects get a process of their own, so that the chat row's memory is its own.
  const frontEnds = VARIANTS.length === 0
    ? undefined
    : await proxy(ROW.frontEnds, ROOT, `${dir}/front-ends.log`);
  const baselineLog = `${dir}/baseline.log`;
  const before = baseline && await proxy(`llm-proxy @${baseline.rev}`, baseline.root, baselineLog);

  const chat = (name: string, role: Role, server: Server, base: string, streams = true) => ({
    name,
    role,
    server,
    url: `${base}/chat/completions`,
    bodyFile: bodies.chat,
    streamBodyFile: streams ? bodies.chatStream : undefined,
    answerText: chatText,
    streamEnd: "data: [DONE]\n\n",
  });
  const variant = (v: Variant): Target => {
    const files = bodies.variants.get(v.name)!;
    return {
      name: `llm-proxy, ${v.name}`,
      role: "variant",
      server: frontEnds!,
      url: `${frontEnds!.origin}${v.path(false)}`,
      streamUrl: `${frontEnds!.origin}${v.path(true)}`,
      bodyFile: files.body,
      streamBodyFile: files.stream,
      answerText: v.answerText,
      streamEnd: v.streamEnd,
    };
  };
  return [
    chat(ROW.upstream, "upstream", upstream, upstreamBase),
    chat(ROW.pass, "pass", pass, `${pass.origin}/api/v1`),
    chat(ROW.minimal, "minimal", minimal, `${minimal.origin}/v1`),
    { ...chat(ROW.proxy, "proxy", main, `${main.origin}/v1`), logFile },
    chat(ROW.quiet, "quiet", quiet, `${quiet.origin}/v1`, false),
    {
      ...chat(ROW.streamsOnly, "streamsOnly", streamsOnly, `${streamsOnly.origin}/v1`),
      logFile: streamsOnlyLog,
    },
    ...(before
      ? [{ ...chat(before.name, "baseline", before, `${before.origin}/v1`), logFile: baselineLog }]
      : []),
    ...(frontEnds ? [chat(ROW.frontEndsChat, "variant", frontEnds, `${frontEnds.origin}/v1`)] : []),
    ...VARIANTS.map(variant),
  ];
}

/** Extracts git revision `rev` of this repository into `into`; returns that directory. */
export async function checkout(rev: string, into: string): Promise<string> {
  await Deno.mkdir(into, { recursive: true });
  const tar = `${into}.tar`;
  for (
    const [cmd, args] of [
      ["git", ["-C", ROOT, "archive", "--format=tar", "-o", tar, rev]],
      ["tar", ["-xf", tar, "-C", into]],
    ] as const
  ) {
    const out = await new Deno.Command(cmd, { args: [...args], stdin: "null" }).output();
    if (!out.success) {
      throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  return into;
}

/**
 * The arguments after `deno` of the `start` task in `root`'s deno.json: the proxy as users run
 * it (relative paths in it are relative to `root`, where the process is started).
 */
export function startCommand(root: string): string[] {
  const start: string = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`)).tasks.start;
  const words = start.split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new Error(`${root}/deno.json's start task is not "deno run …": ${start}`);
  }
  return words.slice(1);
}
