/**
 * `deno task bench`: measures what llm-proxy adds to a request, side by side with the least a
 * proxy can cost on this runtime. Three servers run as separate processes on 127.0.0.1 — a fast
 * fake upstream, a bare pass-through (`bench/passthrough.ts`) and the proxy started the way users
 * start it (`deno task start`'s command) — and a load generator drives each in turn, several
 * rounds with the order rotating, so that the machine's noise hits every target alike. Figures
 * are medians over rounds; ratios are taken within a round, then their median.
 *
 * `--smoke` runs everything once, briefly, and checks only that it works (CI runs it); it prints
 * the report instead of writing `bench/RESULTS.md`.
 *
 * `--baseline REV` also runs the proxy as it was at git revision REV (another target, same run), so
 * an optimisation can be judged against what came before under the very same machine load.
 *
 * Usage: `deno task bench [--smoke] [--out FILE] [--generator wrk|autocannon] [--delay-ms MS]
 * [--baseline REV]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { chooseGenerator, type LoadGenerator, type LoadResult } from "./load.ts";
import {
  type BenchReport,
  loadAverage,
  machineInfo,
  percentile,
  renderReport,
  type RoundResult,
  type StreamTimings,
} from "./report.ts";
import { memoryOf, type Server, startServer } from "./servers.ts";

/** How long and how often; the full run stays under five minutes. */
interface Plan {
  rounds: number;
  /** Seconds per load run, non-streaming. */
  seconds: number;
  /** Seconds per streaming load run and per streaming latency sampling. */
  streamSeconds: number;
  /** Seconds of load per target before the first round (JIT warm-up). */
  warmupSeconds: number;
  connections: number;
}

const FULL: Plan = { rounds: 3, seconds: 5, streamSeconds: 4, warmupSeconds: 2, connections: 64 };
/** With one more target (`--baseline`), shorter runs keep the whole under five minutes. */
const FULL_WITH_BASELINE: Plan = { ...FULL, seconds: 4, streamSeconds: 3 };
const SMOKE: Plan = { rounds: 1, seconds: 1, streamSeconds: 1, warmupSeconds: 0, connections: 64 };

/** A realistic ~2 KB chat request: system prompt, a few turns, a tool, the usual sampling fields. */
function chatRequest(stream: boolean): Record<string, unknown> {
  const system = "You are a careful assistant for a team of backend engineers. Answer precisely, " +
    "cite the relevant configuration keys, prefer short code examples over prose, and say so " +
    "plainly when you are unsure instead of guessing. Keep answers under three hundred words.";
  return {
    model: "internlm/internlm2.5-latest",
    messages: [
      { role: "system", content: system },
      {
        role: "user",
        content: "Our gateway returns 429 to some clients during the morning peak while others " +
          "get through. We run four upstream keys in a round-robin pool with a sixty second " +
          "cool-down. What should we look at first, and which metrics would confirm it?",
      },
      {
        role: "assistant",
        content: "Start with the per-key rate limits: if one key has a lower quota than the " +
          "others, round-robin sends it the same share of traffic and it cools down first. " +
          "Compare the 429 counts per key slot in the request log over the peak hour, and " +
          "check whether the Retry-After values the upstream sends are longer than your " +
          "configured cool-down. If all keys hit the limit together, the pool is simply too " +
          "small for the peak and you need more keys or client-side backoff.",
      },
      {
        role: "user",
        content: "The counts per slot are even, and Retry-After is usually 20 seconds. The " +
          "requests that fail are mostly long conversations with large system prompts. Could " +
          "token-based limits explain this, and how would you restructure the pool or the " +
          "clients so the long conversations stop failing? Please give a concrete config.",
      },
    ],
    tools: [{
      type: "function",
      function: {
        name: "get_rate_limits",
        description: "Reads the current rate limits and usage of one upstream API key slot.",
        parameters: {
          type: "object",
          properties: {
            slot: { type: "integer", description: "1-based key slot, as in the request log" },
            window: { type: "string", enum: ["minute", "hour", "day"] },
          },
          required: ["slot"],
        },
      },
    }],
    temperature: 0.7,
    top_p: 0.95,
    max_tokens: stream ? 1024 : 256,
    user: "bench-client-0042",
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

/** A target the load generator is pointed at. */
interface Target {
  /** Row label in the report. */
  name: string;
  server: Server;
  url: string;
  /** Measured with streaming requests too. */
  streams: boolean;
  /** The proxy at an earlier revision (`--baseline`). */
  baseline?: boolean;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      smoke: { type: "boolean", default: false },
      out: { type: "string" },
      generator: { type: "string" },
      "delay-ms": { type: "string", default: "0" },
      baseline: { type: "string" },
    },
  });
  const plan = values.smoke ? SMOKE : values.baseline ? FULL_WITH_BASELINE : FULL;
  const generatorChoice = values.generator;
  if (
    generatorChoice !== undefined && generatorChoice !== "wrk" && generatorChoice !== "autocannon"
  ) {
    console.error(`--generator must be wrk or autocannon, got "${generatorChoice}"`);
    return 2;
  }
  const delayMs = Number(values["delay-ms"]);
  if (!(delayMs >= 0)) {
    console.error(`--delay-ms must be a number ≥ 0, got "${values["delay-ms"]}"`);
    return 2;
  }
  const out = values.out ?? (values.smoke ? undefined : new URL("RESULTS.md", import.meta.url));
  const log = (line: string) => console.error(`bench: ${line}`);

  const generator = await chooseGenerator(generatorChoice, log);
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-bench-" });
  const servers: Server[] = [];
  try {
    const bodyFile = `${dir}/chat.json`;
    const streamBodyFile = `${dir}/chat-stream.json`;
    await Deno.writeTextFile(bodyFile, JSON.stringify(chatRequest(false)));
    await Deno.writeTextFile(streamBodyFile, JSON.stringify(chatRequest(true)));

    const baseline = values.baseline === undefined ? undefined : {
      rev: values.baseline,
      root: await checkout(values.baseline, `${dir}/baseline`),
    };
    const targets = await startTargets(servers, delayMs, baseline);
    for (const t of targets) await verify(t, bodyFile, t.streams ? streamBodyFile : undefined);
    const machine = await machineInfo(generator.name);
    log(`${generator.name}; ${plan.rounds} round(s); load average ${machine.loadBefore}`);

    if (plan.warmupSeconds > 0) {
      for (const t of targets) {
        await load(generator, t, bodyFile, plan.connections, plan.warmupSeconds);
        if (t.streams) await load(generator, t, streamBodyFile, plan.connections, 1);
      }
    }
    const rounds: RoundResult[] = [];
    for (let r = 0; r < plan.rounds; r++) {
      // Rotating the order spreads slow moments of the shared machine over all targets.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]);
      const streaming = order.filter((t) => t.streams);
      const round: RoundResult = { targets: {} };
      const row = (t: Target) => round.targets[t.name] ??= {};
      for (const t of order) row(t).c1 = await load(generator, t, bodyFile, 1, plan.seconds);
      for (const t of order) {
        row(t).c64 = await load(generator, t, bodyFile, plan.connections, plan.seconds);
      }
      for (const t of streaming) {
        row(t).stream = await streamTimings(t.url, streamBodyFile, plan.streamSeconds);
      }
      for (const t of streaming) {
        row(t).streamC64 = await load(
          generator,
          t,
          streamBodyFile,
          plan.connections,
          plan.streamSeconds,
        );
      }
      for (const t of targets) row(t).memory = memoryOf(t.server.pid);
      round.load = loadAverage(1);
      rounds.push(round);
      log(`round ${r + 1}/${plan.rounds} done`);
    }

    const report: BenchReport = {
      machine: { ...machine, loadAfter: (await machineInfo(generator.name)).loadAfter },
      plan: {
        ...plan,
        requestBytes: (await Deno.stat(bodyFile)).size,
        streamRequestBytes: (await Deno.stat(streamBodyFile)).size,
        delayMs,
      },
      targets: targets.map(({ name, streams, baseline }) => ({ name, streams, baseline })),
      rounds,
    };
    const markdown = renderReport(report);
    if (out) {
      await writeResults(out, markdown);
      log(`wrote ${out instanceof URL ? out.pathname : out}`);
    } else {
      console.log(markdown);
    }
    const errors = rounds.flatMap((r) => Object.values(r.targets)).flatMap((t) =>
      [t.c1, t.c64, t.streamC64].map((l) => l?.errors ?? 0)
    ).reduce((a, b) => a + b, 0);
    if (errors > 0) {
      log(`${errors} request(s) failed during the run; see the errors column`);
      return 1;
    }
    return 0;
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The upstream, the pass-through and the proxy (also at log level info, to price logging, and as
 * it was at `baseline.rev`, when given).
 */
async function startTargets(
  servers: Server[],
  delayMs: number,
  baseline: { rev: string; root: string } | undefined,
): Promise<Target[]> {
  const started = async (spec: Parameters<typeof startServer>[0]) => {
    const s = await startServer(spec);
    servers.push(s);
    return s;
  };
  const here = (file: string) => new URL(file, import.meta.url).pathname;
  const upstream = await started({
    name: "upstream",
    args: ["run", "--allow-net", here("fake_upstream.ts"), "--port", "{port}"]
      .concat(delayMs > 0 ? ["--delay-ms", String(delayMs)] : []),
  });
  const pass = await started({
    name: "pass-through",
    args: ["run", "--allow-net", here("passthrough.ts"), "{port}", upstream.origin],
  });
  const proxyEnv = {
    INTERNAI_API_BASE_URL: `${upstream.origin}/api/v1`,
    INTERNAI_API_KEY: "bench-dummy-key",
  };
  const proxyArgs = (level: string, root = ROOT) => [
    ...startCommand(root),
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--log-level",
    level,
  ];
  const proxy = await started({
    name: "llm-proxy",
    args: proxyArgs("warn"),
    env: proxyEnv,
    cwd: ROOT,
  });
  // Its request log goes to /dev/null: this prices formatting and writing a line per request.
  const proxyInfo = await started({
    name: "llm-proxy, info log",
    args: proxyArgs("info"),
    env: proxyEnv,
    keepStderr: false,
    cwd: ROOT,
  });
  const before = baseline && await started({
    name: `llm-proxy @${baseline.rev}`,
    args: proxyArgs("warn", baseline.root),
    env: proxyEnv,
    cwd: baseline.root,
  });
  const chat = (s: Server, prefix: string) => `${s.origin}${prefix}/chat/completions`;
  return [
    { name: "upstream, direct", server: upstream, url: chat(upstream, "/api/v1"), streams: true },
    { name: "bare pass-through", server: pass, url: chat(pass, "/api/v1"), streams: true },
    { name: "llm-proxy", server: proxy, url: chat(proxy, "/v1"), streams: true },
    { name: "llm-proxy, info log", server: proxyInfo, url: chat(proxyInfo, "/v1"), streams: false },
    ...(before
      ? [{
        name: before.name,
        server: before,
        url: chat(before, "/v1"),
        streams: true,
        baseline: true,
      }]
      : []),
  ];
}

const ROOT = new URL("../", import.meta.url).pathname;

/** Extracts git revision `rev` of this repository into `into`; returns that directory. */
async function checkout(rev: string, into: string): Promise<string> {
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
function startCommand(root: string): string[] {
  const start: string = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`)).tasks.start;
  const words = start.split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new Error(`${root}/deno.json's start task is not "deno run …": ${start}`);
  }
  return words.slice(1);
}

/** One request of each kind must succeed before anything is timed. */
async function verify(t: Target, bodyFile: string, streamBodyFile?: string): Promise<void> {
  const post = (file: string) =>
    Deno.readFile(file).then((body) =>
      fetch(t.url, { method: "POST", headers: { "content-type": "application/json" }, body })
    );
  const res = await post(bodyFile);
  const text = await res.text();
  const content = res.ok ? JSON.parse(text).choices?.[0]?.message?.content : undefined;
  if (typeof content !== "string" || content.length < 500) {
    throw new Error(`${t.name}: unexpected answer ${res.status}: ${text.slice(0, 300)}`);
  }
  if (!streamBodyFile) return;
  const sres = await post(streamBodyFile);
  const stext = await sres.text();
  if (!sres.ok || !stext.endsWith("data: [DONE]\n\n") || stext.split("\ndata: ").length < 100) {
    throw new Error(`${t.name}: unexpected stream ${sres.status}: ${stext.slice(0, 300)}`);
  }
}

async function load(
  generator: LoadGenerator,
  t: Target,
  bodyFile: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  return await generator.run({ url: t.url, bodyFile, connections, seconds });
}

/**
 * Sequential streaming requests for `seconds`, timed from sending to the first body chunk and to
 * the end of the body (which must be `data: [DONE]`). The client is the same for every target,
 * so its own cost cancels out of the differences.
 */
async function streamTimings(
  url: string,
  bodyFile: string,
  seconds: number,
): Promise<StreamTimings> {
  const body = await Deno.readFile(bodyFile);
  const ttfb: number[] = [];
  const done: number[] = [];
  const decoder = new TextDecoder();
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until || ttfb.length < 5) {
    const started = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    let first = 0;
    let tail = "";
    for await (const chunk of res.body!) {
      if (first === 0) first = performance.now();
      tail = (tail + decoder.decode(chunk)).slice(-32);
    }
    const ended = performance.now();
    if (!res.ok || !tail.endsWith("data: [DONE]\n\n")) {
      throw new Error(`stream from ${url} ended without [DONE] (${res.status}): ${tail}`);
    }
    ttfb.push(first - started);
    done.push(ended - started);
  }
  return {
    ttfbP50: percentile(ttfb, 50),
    ttfbP99: percentile(ttfb, 99),
    doneP50: percentile(done, 50),
    doneP99: percentile(done, 99),
    samples: ttfb.length,
  };
}

const BEGIN = "<!-- bench:begin -->";
const END = "<!-- bench:end -->";

/** Replaces the generated part of `out`, keeping whatever was written around it by hand. */
async function writeResults(out: URL | string, markdown: string): Promise<void> {
  let old = "";
  try {
    old = await Deno.readTextFile(out);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const generated = `${BEGIN}\n${markdown}\n${END}`;
  const begin = old.indexOf(BEGIN);
  const end = old.indexOf(END);
  const text = begin >= 0 && end > begin
    ? old.slice(0, begin) + generated + old.slice(end + END.length)
    : `# Benchmark results\n\n${generated}\n${old}`;
  await Deno.writeTextFile(out, text.endsWith("\n") ? text : `${text}\n`);
}

if (import.meta.main) Deno.exit(await main());
