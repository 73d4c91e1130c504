/**
 * `deno task bench`: measures what llm-proxy adds to a request, side by side with the least a
 * proxy can cost on this runtime. The servers run as separate processes on 127.0.0.1 — a fast
 * fake upstream, a bare pass-through (`bench/passthrough.ts`), a minimal correct proxy
 * (`bench/minimal_proxy.ts`) and the proxy started the way users start it (`deno task start`'s
 * command, default log level, its log going to a file) — and a load generator drives each in
 * turn, several rounds with the order rotating, so that the machine's noise hits every target
 * alike. Besides latency, throughput and memory, the server's CPU time per request is read from
 * `/proc`: on a shared machine it is the steadiest figure. Figures are medians over rounds;
 * ratios are taken within a round, then their median. See `bench/targets.ts` for the targets.
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
import { chooseGenerator, type LoadGenerator } from "./load.ts";
import {
  type BenchReport,
  loadAverage,
  machineInfo,
  type MeasuredLoad,
  percentile,
  type RoundResult,
  type StreamTimings,
} from "./report.ts";
import { renderReport } from "./render.ts";
import { chatRequest } from "./requests.ts";
import { cpuSeconds, memoryOf, type Server } from "./servers.ts";
import { checkout, startTargets, type Target, writeBodies } from "./targets.ts";

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

const FULL: Plan = { rounds: 3, seconds: 4, streamSeconds: 3, warmupSeconds: 2, connections: 64 };
const SMOKE: Plan = { rounds: 1, seconds: 1, streamSeconds: 1, warmupSeconds: 0, connections: 64 };

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
  const plan = values.smoke ? SMOKE : FULL;
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
    const bodies = await writeBodies(dir, chatRequest);
    const baseline = values.baseline === undefined ? undefined : {
      rev: values.baseline,
      root: await checkout(values.baseline, `${dir}/baseline`),
    };
    const targets = await startTargets(servers, dir, bodies, delayMs, baseline);
    for (const t of targets) await verify(t);
    const machine = await machineInfo(generator.name);
    log(`${generator.name}; ${plan.rounds} round(s); load average ${machine.loadBefore}`);

    if (plan.warmupSeconds > 0) {
      for (const t of targets) {
        const streamsOnly = t.role === "streamsOnly";
        if (!streamsOnly) await load(generator, t, false, plan.connections, plan.warmupSeconds);
        if (t.streamBodyFile) {
          await load(generator, t, true, plan.connections, streamsOnly ? plan.warmupSeconds : 1);
        }
      }
    }
    const rounds: RoundResult[] = [];
    for (let r = 0; r < plan.rounds; r++) {
      // Rotating the order spreads slow moments of the shared machine over all targets.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]);
      const streaming = order.filter((t) => t.streamBodyFile);
      const round: RoundResult = { targets: {} };
      const row = (t: Target) => round.targets[t.name] ??= {};
      // Variants are for their CPU per request under load, beside the chat path's.
      const json = order.filter((t) => t.role !== "streamsOnly");
      for (const t of json) {
        if (t.role !== "variant") row(t).c1 = await load(generator, t, false, 1, plan.seconds);
      }
      for (const t of json) {
        row(t).c64 = await load(generator, t, false, plan.connections, plan.seconds);
      }
      for (const t of streaming) {
        if (t.role !== "variant") row(t).stream = await streamTimings(t, plan.streamSeconds);
      }
      for (const t of streaming) {
        row(t).streamC64 = await load(generator, t, true, plan.connections, plan.streamSeconds);
      }
      for (const t of targets) row(t).memory = memoryOf(t.server.pid);
      round.load = loadAverage(1);
      rounds.push(round);
      // The logs grow by megabytes a round; what was written is not needed again.
      for (const t of targets) if (t.logFile) await Deno.truncate(t.logFile);
      log(`round ${r + 1}/${plan.rounds} done`);
    }

    const report: BenchReport = {
      machine: { ...machine, loadAfter: (await machineInfo(generator.name)).loadAfter },
      plan: {
        ...plan,
        requestBytes: (await Deno.stat(bodies.chat)).size,
        streamRequestBytes: (await Deno.stat(bodies.chatStream)).size,
        delayMs,
      },
      targets: targets.map(({ name, role, streamBodyFile }) => ({
        name,
        role,
        streams: streamBodyFile !== undefined,
      })),
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

function post(url: string, file: string): Promise<Response> {
  return Deno.readFile(file).then((body) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })
  );
}

/**
 * One request of each kind must succeed before anything is timed, and a proxy whose log goes to
 * a file must have written the request's line there (the log is on, as deployed).
 */
async function verify(t: Target): Promise<void> {
  const res = await post(t.url, t.bodyFile);
  const text = await res.text();
  const content = res.ok ? t.answerText(JSON.parse(text)) : undefined;
  if (typeof content !== "string" || content.length < 500) {
    throw new Error(`${t.name}: unexpected answer ${res.status}: ${text.slice(0, 300)}`);
  }
  if (t.streamBodyFile) {
    const sres = await post(t.streamUrl ?? t.url, t.streamBodyFile);
    const stext = await sres.text();
    if (!sres.ok || !stext.endsWith(t.streamEnd) || stext.split("\ndata: ").length < 100) {
      throw new Error(`${t.name}: unexpected stream ${sres.status}: ${stext.slice(0, 300)}`);
    }
  }
  if (t.logFile) {
    const until = Date.now() + 10_000;
    const logged = async () => / 200 .*request_id=/.test(await Deno.readTextFile(t.logFile!));
    while (!(await logged())) {
      if (Date.now() > until) throw new Error(`${t.name}: no request line in ${t.logFile}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A load run, with the server's CPU time per request over it. */
async function load(
  generator: LoadGenerator,
  t: Target,
  stream: boolean,
  connections: number,
  seconds: number,
): Promise<MeasuredLoad> {
  const cpuBefore = cpuSeconds(t.server.pid);
  const result = await generator.run({
    url: stream ? t.streamUrl ?? t.url : t.url,
    bodyFile: stream ? t.streamBodyFile! : t.bodyFile,
    connections,
    seconds,
  });
  const cpu = cpuSeconds(t.server.pid) - cpuBefore;
  return { ...result, cpuUs: (cpu * 1e6) / result.requests };
}

/**
 * Sequential streaming requests for `seconds`, timed from sending to the first body chunk and to
 * the end of the body (which must be the dialect's closing event). The client is the same for
 * every target, so its own cost cancels out of the differences.
 */
async function streamTimings(t: Target, seconds: number): Promise<StreamTimings> {
  const url = t.streamUrl ?? t.url;
  const body = await Deno.readFile(t.streamBodyFile!);
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
      tail = (tail + decoder.decode(chunk)).slice(-64);
    }
    const ended = performance.now();
    if (!res.ok || !tail.endsWith(t.streamEnd)) {
      throw new Error(`stream from ${url} ended badly (${res.status}): ${tail}`);
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
