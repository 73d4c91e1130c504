/**
 * The benchmark's report: medians over rounds, the ratios the performance targets are stated in,
 * and the machine it ran on, as Markdown for `bench/RESULTS.md`.
 *
 * @module
 */

import type { LoadResult } from "./load.ts";
import type { Memory } from "./servers.ts";

/** Streaming latency at concurrency 1, in ms: time to the first body byte and to `[DONE]`. */
export interface StreamTimings {
  ttfbP50: number;
  ttfbP99: number;
  doneP50: number;
  doneP99: number;
  samples: number;
}

/** What one target measured in one round. */
export interface TargetRound {
  c1?: LoadResult;
  c64?: LoadResult;
  stream?: StreamTimings;
  streamC64?: LoadResult;
  /** After the round. */
  memory?: Memory;
}

/** One round over all targets. */
export interface RoundResult {
  targets: Record<string, TargetRound>;
  /** The 1-minute load average when the round ended. */
  load?: string;
}

/** Where and when it ran. */
export interface Machine {
  date: string;
  commit: string;
  deno: string;
  generator: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  loadBefore: string;
  loadAfter: string;
}

/** Everything the report is made from. */
export interface BenchReport {
  machine: Machine;
  plan: {
    rounds: number;
    seconds: number;
    streamSeconds: number;
    warmupSeconds: number;
    connections: number;
    requestBytes: number;
    streamRequestBytes: number;
    delayMs: number;
  };
  /** `baseline` marks the proxy at an earlier revision (`--baseline`). */
  targets: { name: string; streams: boolean; baseline?: boolean }[];
  rounds: RoundResult[];
}

const DIRECT = "upstream, direct";
const PASS = "bare pass-through";
const PROXY = "llm-proxy";
const PROXY_INFO = "llm-proxy, info log";

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** The first `n` load averages (1, 5, 15 min) from `/proc/loadavg`, or "?". */
export function loadAverage(n: number): string {
  return read("/proc/loadavg").split(" ").slice(0, n).join(" ") || "?";
}

/** Reads what the report says about the machine (Linux `/proc`; "?" elsewhere). */
export async function machineInfo(generator: string): Promise<Machine> {
  const loadavg = loadAverage(3);
  const memKb = Number(/^MemTotal:\s*(\d+)/m.exec(read("/proc/meminfo"))?.[1] ?? NaN);
  let commit = "?";
  try {
    const git = await new Deno.Command("git", {
      args: ["describe", "--always", "--dirty"],
      cwd: new URL("..", import.meta.url).pathname,
      stderr: "null",
    }).output();
    if (git.success) commit = new TextDecoder().decode(git.stdout).trim();
  } catch {
    // Not a git checkout: the report says "?".
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    commit,
    deno: Deno.version.deno,
    generator,
    cpus: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(read("/proc/cpuinfo"))?.[1]?.trim() ?? "?",
    memGiB: memKb / 1024 / 1024,
    loadBefore: loadavg,
    loadAfter: loadavg,
  };
}

const ms = (v: number) => Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : "n/a";
const signedMs = (v: number) =>
  Number.isFinite(v) ? `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(2)} ms` : "n/a";
const rps = (v: number) => Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "n/a";
const mib = (v: number) => Number.isFinite(v) ? `${v.toFixed(1)} MiB` : "n/a";
const times = (v: number) => Number.isFinite(v) ? `${v.toFixed(2)}×` : "n/a";

/** The report as Markdown. */
export function renderReport(r: BenchReport): string {
  const { machine: m, plan } = r;
  const per = (target: string, pick: (t: TargetRound) => number | undefined) =>
    r.rounds.map((round) => {
      const t = round.targets[target];
      return t ? pick(t) ?? NaN : NaN;
    });
  const med = (target: string, pick: (t: TargetRound) => number | undefined) =>
    median(per(target, pick));
  // Paired within each round, then the median: the machine's drift between rounds cancels.
  const paired = (
    pick: (t: TargetRound) => number | undefined,
    combine: (a: number, b: number) => number,
    a: string,
    b: string,
  ) => {
    const xs = per(a, pick);
    const ys = per(b, pick);
    const values = xs.map((x, i) => combine(x, ys[i]));
    return { median: median(values), values };
  };
  const diff = (x: number, y: number) => x - y;
  const ratio = (x: number, y: number) => x / y;
  const peak = (target: string) => Math.max(...per(target, (t) => t.memory?.peakMiB));
  const errors = (target: string) =>
    per(target, (t) => (t.c1?.errors ?? 0) + (t.c64?.errors ?? 0) + (t.streamC64?.errors ?? 0))
      .reduce((a, b) => a + b, 0);

  const lines: string[] = [];
  lines.push(
    `Measured ${m.date} at commit \`${m.commit}\` with \`deno task bench\`: Deno ${m.deno}, ` +
      `load generator ${m.generator}, ${m.cpus} CPUs (${m.cpuModel}), ` +
      `${m.memGiB.toFixed(1)} GiB RAM. Load average (1, 5, 15 min) ${m.loadBefore} before the ` +
      `run, ${m.loadAfter} after it; 1-minute load at the end of each round: ` +
      `${r.rounds.map((round) => round.load ?? "?").join(", ")}.`,
    "",
    `Each server is its own process on 127.0.0.1. ${plan.rounds} round(s), targets in rotating ` +
      `order; ${plan.seconds} s per non-streaming run, ${plan.streamSeconds} s per streaming ` +
      `run, after ${plan.warmupSeconds} s of warm-up per target. Request: a ` +
      `${plan.requestBytes}-byte chat (${plan.streamRequestBytes} bytes with \`stream: true\`); ` +
      `answer: a ~1 KB \`chat.completion\` (streaming: ~4 KB of content in 32-character ` +
      `deltas); upstream delay ${plan.delayMs} ms. Figures are medians over rounds; added ` +
      `latency and ratios are taken within each round, then their median. The proxy runs at ` +
      `\`--log-level warn\` (no request log) except in the "info log" row, which writes its ` +
      `request log to /dev/null.`,
    "",
    `### Non-streaming`,
    "",
    "| target | c=1 p50 | c=1 p99 | c=1 req/s | c=" + plan.connections + " p50 | c=" +
      plan.connections + " p99 | c=" + plan.connections + " req/s | peak RSS | errors |",
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: |",
  );
  for (const { name } of r.targets) {
    lines.push(
      `| ${name} | ${ms(med(name, (t) => t.c1?.p50Ms))} | ${ms(med(name, (t) => t.c1?.p99Ms))} ` +
        `| ${rps(med(name, (t) => t.c1?.rps))} | ${ms(med(name, (t) => t.c64?.p50Ms))} ` +
        `| ${ms(med(name, (t) => t.c64?.p99Ms))} | ${rps(med(name, (t) => t.c64?.rps))} ` +
        `| ${mib(peak(name))} | ${errors(name)} |`,
    );
  }
  lines.push(
    "",
    "### Streaming",
    "",
    "Time to first byte and to `data: [DONE]` at concurrency 1 (sequential requests from one " +
      "client), and throughput at concurrency " + plan.connections + ". The upstream and the " +
      "pass-through stream a ready-made event stream; the proxy calls the upstream " +
      "non-streaming and synthesizes the same chunks, as it does for InternLM.",
    "",
    `| target | TTFB p50 | TTFB p99 | [DONE] p50 | [DONE] p99 | c=${plan.connections} req/s |`,
    "| --- | --: | --: | --: | --: | --: |",
  );
  for (const { name } of r.targets.filter((t) => t.streams)) {
    lines.push(
      `| ${name} | ${ms(med(name, (t) => t.stream?.ttfbP50))} ` +
        `| ${ms(med(name, (t) => t.stream?.ttfbP99))} ` +
        `| ${ms(med(name, (t) => t.stream?.doneP50))} ` +
        `| ${ms(med(name, (t) => t.stream?.doneP99))} ` +
        `| ${rps(med(name, (t) => t.streamC64?.rps))} |`,
    );
  }

  const addedPass = paired((t) => t.c1?.p50Ms, diff, PROXY, PASS);
  const addedDirect = paired((t) => t.c1?.p50Ms, diff, PROXY, DIRECT);
  const throughput = paired((t) => t.c64?.rps, ratio, PROXY, PASS);
  const proxyPeak = peak(PROXY);
  const rss = per(PROXY, (t) => t.memory?.rssMiB);
  const growth = rss.length > 1 ? rss[rss.length - 1] - rss[0] : NaN;
  const ttfb = paired((t) => t.stream?.ttfbP50, diff, PROXY, PASS);
  const done = paired((t) => t.stream?.doneP50, diff, PROXY, PASS);
  const streamTput = paired((t) => t.streamC64?.rps, ratio, PROXY, PASS);
  const logP50 = paired((t) => t.c1?.p50Ms, diff, PROXY_INFO, PROXY);
  const logTput = paired((t) => t.c64?.rps, ratio, PROXY_INFO, PROXY);
  const verdict = (ok: boolean, value: number) =>
    !Number.isFinite(value) ? "n/a" : ok ? "met" : "**not met**";
  const perRound = (values: number[], fmt: (v: number) => string) => values.map(fmt).join(", ");

  lines.push(
    "",
    "### What the proxy adds",
    "",
    "| measure | target | median | per round | |",
    "| --- | --- | --: | --- | --- |",
    `| added p50 latency over the bare pass-through, c=1 | ≤ 0.3 ms | ` +
      `${signedMs(addedPass.median)} | ${perRound(addedPass.values, signedMs)} | ` +
      `${verdict(addedPass.median <= 0.3, addedPass.median)} |`,
    `| added p50 latency over calling the upstream directly, c=1 | — | ` +
      `${signedMs(addedDirect.median)} | ${perRound(addedDirect.values, signedMs)} | |`,
    `| throughput as a fraction of the bare pass-through, c=${plan.connections} | ≥ 0.85× | ` +
      `${times(throughput.median)} | ${perRound(throughput.values, times)} | ` +
      `${verdict(throughput.median >= 0.85, throughput.median)} |`,
    `| peak RSS (VmHWM) of the proxy under that load | ≤ 80 MiB | ${mib(proxyPeak)} | | ` +
      `${verdict(proxyPeak <= 80, proxyPeak)} |`,
    `| RSS (VmRSS) growth from the first round to the last | none (< 5 MiB) | ` +
      `${Number.isFinite(growth) ? `${growth >= 0 ? "+" : "−"}${mib(Math.abs(growth))}` : "n/a"} ` +
      `| ${perRound(rss, mib)} | ${verdict(growth < 5, growth)} |`,
    `| streaming: added time to first byte over the pass-through | — | ` +
      `${signedMs(ttfb.median)} | ${perRound(ttfb.values, signedMs)} | |`,
    `| streaming: added time to [DONE] over the pass-through | — | ` +
      `${signedMs(done.median)} | ${perRound(done.values, signedMs)} | |`,
    `| streaming: throughput as a fraction of the pass-through | — | ` +
      `${times(streamTput.median)} | ${perRound(streamTput.values, times)} | |`,
    `| request log at info: added p50 latency, c=1 | — | ${signedMs(logP50.median)} | ` +
      `${perRound(logP50.values, signedMs)} | |`,
    `| request log at info: throughput relative to warn, c=${plan.connections} | — | ` +
      `${times(logTput.median)} | ${perRound(logTput.values, times)} | |`,
  );

  const baseline = r.targets.find((t) => t.baseline)?.name;
  if (baseline) {
    const row = (
      what: string,
      fmt: (v: number) => string,
      before: { median: number; values: number[] },
      now: { median: number; values: number[] },
    ) =>
      `| ${what} | ${fmt(before.median)} | ${fmt(now.median)} | ` +
      `${before.values.map((b, i) => `${fmt(b)} → ${fmt(now.values[i])}`).join(", ")} |`;
    const peaks = (name: string) => {
      const v = peak(name);
      return { median: v, values: [] as number[] };
    };
    lines.push(
      "",
      `### Against the baseline (${baseline}, same run)`,
      "",
      `| measure | ${baseline} | llm-proxy now | per round, before → now |`,
      "| --- | --: | --: | --- |",
      row(
        "added p50 latency over the pass-through, c=1",
        signedMs,
        paired((t) => t.c1?.p50Ms, diff, baseline, PASS),
        addedPass,
      ),
      row(
        `throughput as a fraction of the pass-through, c=${plan.connections}`,
        times,
        paired((t) => t.c64?.rps, ratio, baseline, PASS),
        throughput,
      ),
      row(
        "streaming: added time to [DONE] over the pass-through",
        signedMs,
        paired((t) => t.stream?.doneP50, diff, baseline, PASS),
        done,
      ),
      row(
        "streaming: throughput as a fraction of the pass-through",
        times,
        paired((t) => t.streamC64?.rps, ratio, baseline, PASS),
        streamTput,
      ),
      row("peak RSS (VmHWM)", mib, peaks(baseline), peaks(PROXY)),
    );
  }

  lines.push(
    "",
    "### Memory after each round",
    "",
    `| target | ${r.rounds.map((_, i) => `round ${i + 1} VmRSS / VmHWM`).join(" | ")} |`,
    `| --- | ${r.rounds.map(() => "--:").join(" | ")} |`,
  );
  for (const { name } of r.targets) {
    const cells = r.rounds.map((round) => {
      const mem = round.targets[name]?.memory;
      return mem ? `${mib(mem.rssMiB)} / ${mib(mem.peakMiB)}` : "n/a";
    });
    lines.push(`| ${name} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
