/**
 * The benchmark's report as Markdown for `bench/RESULTS.md`: medians over rounds, and the ratios
 * the performance targets (issue 17) are stated in, against both references.
 *
 * @module
 */

import { type BenchReport, median, type TargetRound } from "./report.ts";
import { ROW } from "./targets.ts";

const ms = (v: number) => Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : "n/a";
const signedMs = (v: number) =>
  Number.isFinite(v) ? `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(2)} ms` : "n/a";
const rps = (v: number) => Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "n/a";
const mib = (v: number) => Number.isFinite(v) ? `${v.toFixed(1)} MiB` : "n/a";
const times = (v: number) => Number.isFinite(v) ? `${v.toFixed(2)}×` : "n/a";
const us = (v: number) => Number.isFinite(v) ? `${Math.round(v)} µs` : "n/a";
const signedUs = (v: number) =>
  Number.isFinite(v) ? `${v >= 0 ? "+" : "−"}${Math.round(Math.abs(v))} µs` : "n/a";

/** A figure per round and their median. */
interface Series {
  median: number;
  values: number[];
}

type Pick = (t: TargetRound) => number | undefined;

const c1P50: Pick = (t) => t.c1?.p50Ms;
const c64Rps: Pick = (t) => t.c64?.rps;
const c64Cpu: Pick = (t) => t.c64?.cpuUs;
const streamRps: Pick = (t) => t.streamC64?.rps;
const streamCpu: Pick = (t) => t.streamC64?.cpuUs;
const ttfbP50: Pick = (t) => t.stream?.ttfbP50;
const doneP50: Pick = (t) => t.stream?.doneP50;

const diff = (x: number, y: number) => x - y;
const ratio = (x: number, y: number) => x / y;

/**
 * The report as Markdown.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("bench/RESULTS.md", renderReport(report));
 * ```
 */
export function renderReport(r: BenchReport): string {
  const { machine: m, plan } = r;
  const c = plan.connections;
  const per = (target: string, pick: Pick) =>
    r.rounds.map((round) => {
      const t = round.targets[target];
      return t ? pick(t) ?? NaN : NaN;
    });
  const med = (target: string, pick: Pick) => median(per(target, pick));
  // Paired within each round, then the median: the machine's drift between rounds cancels.
  const paired = (pick: Pick, combine: typeof diff, a: string, b: string): Series => {
    const ys = per(b, pick);
    const values = per(a, pick).map((x, i) => combine(x, ys[i]));
    return { median: median(values), values };
  };
  const peak = (target: string) => Math.max(...per(target, (t) => t.memory?.peakMiB));
  const errors = (target: string) =>
    per(target, (t) => (t.c1?.errors ?? 0) + (t.c64?.errors ?? 0) + (t.streamC64?.errors ?? 0))
      .reduce((a, b) => a + b, 0);
  const perRound = (s: Series, fmt: (v: number) => string) => s.values.map(fmt).join(", ");
  const verdict = (ok: boolean, value: number) =>
    !Number.isFinite(value) ? "n/a" : ok ? "met" : "**not met**";

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
      `deltas); upstream delay ${plan.delayMs} ms. The proxy runs as \`deno task start\` runs ` +
      `it, at its default log level (info: one line per request), its log going to a file; the ` +
      `"no request log" row runs it at \`--log-level warn\`; the "streams only" row is one more ` +
      `such process that gets streaming requests alone, as in front of coding agents, which ` +
      `stream every request. The minimal proxy reads and parses ` +
      `both bodies, rewrites the model and calls the upstream with a key (\`bench/` +
      `minimal_proxy.ts\`). CPU is the server process's user + system time over a run, per ` +
      `request. Figures are medians over rounds; added latency and ratios are taken within ` +
      `each round, then their median.`,
    "",
    `### Non-streaming`,
    "",
    `| target | c=1 p50 | c=1 p99 | c=1 req/s | c=${c} p50 | c=${c} p99 | c=${c} req/s ` +
      `| CPU/request | peak RSS | errors |`,
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  );
  for (const { name } of r.targets.filter((t) => t.role !== "streamsOnly")) {
    lines.push(
      `| ${name} | ${ms(med(name, c1P50))} | ${ms(med(name, (t) => t.c1?.p99Ms))} ` +
        `| ${rps(med(name, (t) => t.c1?.rps))} | ${ms(med(name, (t) => t.c64?.p50Ms))} ` +
        `| ${ms(med(name, (t) => t.c64?.p99Ms))} | ${rps(med(name, c64Rps))} ` +
        `| ${us(med(name, c64Cpu))} | ${mib(peak(name))} | ${errors(name)} |`,
    );
  }
  lines.push(
    "",
    "### Streaming",
    "",
    "Time to first byte and to the stream's end at concurrency 1 (sequential requests from one " +
      `client), and throughput and CPU per request at concurrency ${c}. The upstream, the ` +
      "pass-through and the minimal proxy stream a ready-made event stream; llm-proxy calls the " +
      "upstream non-streaming and synthesizes the same chunks, as it does for InternLM.",
    "",
    `| target | TTFB p50 | TTFB p99 | end p50 | end p99 | c=${c} req/s | CPU/request |`,
    "| --- | --: | --: | --: | --: | --: | --: |",
  );
  for (const { name } of r.targets.filter((t) => t.streams)) {
    lines.push(
      `| ${name} | ${ms(med(name, ttfbP50))} | ${ms(med(name, (t) => t.stream?.ttfbP99))} ` +
        `| ${ms(med(name, doneP50))} | ${ms(med(name, (t) => t.stream?.doneP99))} ` +
        `| ${rps(med(name, streamRps))} | ${us(med(name, streamCpu))} |`,
    );
  }

  const { pass, minimal, proxy, quiet, streamsOnly } = ROW;
  const minimalTput = paired(c64Rps, ratio, minimal, pass);
  // Where even the minimal proxy cannot reach 0.85× the pass-through, the target moves to it.
  const minimalBound = minimalTput.median < 0.85;
  const tputPass = paired(c64Rps, ratio, proxy, pass);
  const tputMin = paired(c64Rps, ratio, proxy, minimal);
  const tputOk = minimalBound ? tputMin.median >= 0.95 : tputPass.median >= 0.85;
  const sTputPass = paired(streamRps, ratio, proxy, pass);
  const sTputMin = paired(streamRps, ratio, proxy, minimal);
  const cpuPass = paired(c64Cpu, ratio, proxy, pass);
  const cpuMin = paired(c64Cpu, ratio, proxy, minimal);
  const sCpuPass = paired(streamCpu, ratio, proxy, pass);
  const sCpuMin = paired(streamCpu, ratio, proxy, minimal);
  const addedPass = paired(c1P50, diff, proxy, pass);
  const addedMin = paired(c1P50, diff, proxy, minimal);
  const peakRatio = peak(proxy) / peak(pass);
  const peakMin = peak(proxy) / peak(minimal);
  const rss = per(proxy, (t) => t.memory?.rssMiB);
  const growth = rss.length > 1 ? rss[rss.length - 1] - rss[0] : NaN;
  const row = (
    what: string,
    vsPass: string,
    vsMin: string,
    target: string,
    rounds: string,
    met: string,
  ) => `| ${what} | ${vsPass} | ${vsMin} | ${target} | ${rounds} | ${met} |`;
  lines.push(
    "",
    "### Against the references",
    "",
    "llm-proxy's figure divided by (or, for latency, minus) the reference's, in the same round. " +
      "Per round: against the bare pass-through.",
    "",
    "| measure | vs bare pass-through | vs minimal proxy | target | per round | |",
    "| --- | --: | --: | --- | --- | --- |",
    row(
      `req/s at c=${c}, JSON`,
      times(tputPass.median),
      times(tputMin.median),
      minimalBound
        ? `≥ 0.95× the minimal proxy (itself ${times(minimalTput.median)} the pass-through)`
        : "≥ 0.85× the pass-through",
      perRound(tputPass, times),
      verdict(tputOk, tputPass.median),
    ),
    row(
      `req/s at c=${c}, stream (synthesized vs a relayed ready stream)`,
      times(sTputPass.median),
      times(sTputMin.median),
      "≥ 0.70× the pass-through",
      perRound(sTputPass, times),
      verdict(sTputPass.median >= 0.7, sTputPass.median),
    ),
    row(
      `CPU per request at c=${c}, JSON`,
      times(cpuPass.median),
      times(cpuMin.median),
      "≤ 1.3× the pass-through",
      perRound(cpuPass, times),
      verdict(cpuPass.median <= 1.3, cpuPass.median),
    ),
    row(
      `CPU per request at c=${c}, stream`,
      times(sCpuPass.median),
      times(sCpuMin.median),
      "≤ 1.6× the pass-through",
      perRound(sCpuPass, times),
      verdict(sCpuPass.median <= 1.6, sCpuPass.median),
    ),
    row(
      "added p50 latency at c=1, JSON",
      signedMs(addedPass.median),
      signedMs(addedMin.median),
      "≤ +0.15 ms",
      perRound(addedPass, signedMs),
      verdict(addedPass.median <= 0.15, addedPass.median),
    ),
    row(
      `peak RSS (VmHWM) under c=${c}`,
      times(peakRatio),
      times(peakMin),
      "≤ 1.2× the pass-through",
      `${mib(peak(proxy))} vs ${mib(peak(pass))}`,
      verdict(peakRatio <= 1.2, peakRatio),
    ),
    row(
      "RSS (VmRSS) growth, first round to last",
      Number.isFinite(growth) ? `${growth >= 0 ? "+" : "−"}${mib(Math.abs(growth))}` : "n/a",
      "",
      "none (< 5 MiB)",
      rss.map(mib).join(", "),
      verdict(growth < 5, growth),
    ),
  );

  const minimalCpu = paired(c64Cpu, ratio, minimal, pass);
  const ttfb = paired(ttfbP50, diff, proxy, pass);
  const done = paired(doneP50, diff, proxy, pass);
  const logP50 = paired(c1P50, diff, proxy, quiet);
  const logTput = paired(c64Rps, ratio, proxy, quiet);
  const logCpu = paired(c64Cpu, diff, proxy, quiet);
  const aloneTput = paired(streamRps, ratio, streamsOnly, pass);
  const aloneCpu = paired(streamCpu, ratio, streamsOnly, pass);
  const aloneVsMixed = paired(streamCpu, ratio, streamsOnly, proxy);
  const info = (what: string, value: string, rounds: string) =>
    `| ${what} | ${value} | ${rounds} |`;
  lines.push(
    "",
    "| other measures | median | per round |",
    "| --- | --: | --- |",
    info(
      `minimal proxy: req/s at c=${c} vs the pass-through`,
      times(minimalTput.median),
      perRound(minimalTput, times),
    ),
    info(
      `minimal proxy: CPU per request vs the pass-through`,
      times(minimalCpu.median),
      perRound(minimalCpu, times),
    ),
    info(
      "streaming: added time to first byte over the pass-through, c=1",
      signedMs(ttfb.median),
      perRound(ttfb, signedMs),
    ),
    info(
      "streaming: added time to the end over the pass-through, c=1",
      signedMs(done.median),
      perRound(done, signedMs),
    ),
    info(
      "request log: added p50 latency, c=1",
      signedMs(logP50.median),
      perRound(logP50, signedMs),
    ),
    info(
      `request log: throughput relative to no request log, c=${c}`,
      times(logTput.median),
      perRound(logTput, times),
    ),
    info(
      `request log: added CPU per request, c=${c}`,
      signedUs(logCpu.median),
      perRound(logCpu, signedUs),
    ),
    info(
      `streams only: req/s at c=${c} vs the pass-through's stream`,
      times(aloneTput.median),
      perRound(aloneTput, times),
    ),
    info(
      `streams only: CPU per request vs the pass-through's stream`,
      times(aloneCpu.median),
      perRound(aloneCpu, times),
    ),
    info(
      "streams only: CPU per stream request vs the process that also serves JSON",
      times(aloneVsMixed.median),
      perRound(aloneVsMixed, times),
    ),
  );

  const variants = r.targets.filter((t) => t.role === "variant");
  const control = variants.some((t) => t.name === ROW.frontEndsChat) ? ROW.frontEndsChat : proxy;
  if (variants.length > 0) {
    lines.push(
      "",
      "### Front ends",
      "",
      "The same conversation in each front end's dialect, to one more proxy process started " +
        "like the first, which also gets the chat request as a control. CPU per request in the " +
        "same round against the OpenAI chat path's in that process (target: within 20 %), and " +
        "against the chat-only process's.",
      "",
      `| front end | c=${c} req/s | CPU/request | vs chat | stream req/s | stream CPU/request ` +
        "| vs chat stream | vs the chat-only process (JSON, stream) | |",
      "| --- | --: | --: | --: | --: | --: | --: | --: | --- |",
    );
    for (const { name } of variants) {
      const cpu = paired(c64Cpu, ratio, name, control);
      const sCpu = paired(streamCpu, ratio, name, control);
      const apart = [c64Cpu, streamCpu].map((pick) =>
        times(paired(pick, ratio, name, proxy).median)
      );
      lines.push(
        `| ${name} | ${rps(med(name, c64Rps))} | ${us(med(name, c64Cpu))} ` +
          `| ${times(cpu.median)} | ${rps(med(name, streamRps))} | ${us(med(name, streamCpu))} ` +
          `| ${times(sCpu.median)} | ${apart.join(", ")} | ${
            name === control ? "" : verdict(cpu.median <= 1.2 && sCpu.median <= 1.2, cpu.median)
          } |`,
      );
    }
  }

  const baseline = r.targets.find((t) => t.role === "baseline")?.name;
  if (baseline) {
    const vs = (what: string, fmt: (v: number) => string, before: Series, now: Series) =>
      `| ${what} | ${fmt(before.median)} | ${fmt(now.median)} | ` +
      `${before.values.map((b, i) => `${fmt(b)} → ${fmt(now.values[i])}`).join(", ")} |`;
    const own = (name: string, pick: Pick): Series => {
      const values = per(name, pick);
      return { median: median(values), values };
    };
    const peaks = (name: string): Series => ({ median: peak(name), values: [] });
    const vsPass = (pick: Pick, combine: typeof diff) => paired(pick, combine, baseline, pass);
    lines.push(
      "",
      `### Against the baseline (${baseline}, same run)`,
      "",
      `| measure | ${baseline} | llm-proxy now | per round, before → now |`,
      "| --- | --: | --: | --- |",
      vs(`req/s at c=${c}, JSON, vs the pass-through`, times, vsPass(c64Rps, ratio), tputPass),
      vs(
        `req/s at c=${c}, stream, vs the pass-through`,
        times,
        vsPass(streamRps, ratio),
        sTputPass,
      ),
      vs(`CPU per request at c=${c}, JSON`, us, own(baseline, c64Cpu), own(proxy, c64Cpu)),
      vs(`CPU per request at c=${c}, stream`, us, own(baseline, streamCpu), own(proxy, streamCpu)),
      vs("CPU per request, JSON, vs the pass-through", times, vsPass(c64Cpu, ratio), cpuPass),
      vs("CPU per request, stream, vs the pass-through", times, vsPass(streamCpu, ratio), sCpuPass),
      vs(
        "added p50 latency at c=1, JSON, over the pass-through",
        signedMs,
        vsPass(c1P50, diff),
        addedPass,
      ),
      vs(
        "streaming: added time to the end over the pass-through",
        signedMs,
        vsPass(doneP50, diff),
        done,
      ),
      vs("peak RSS (VmHWM)", mib, peaks(baseline), peaks(proxy)),
    );
  }

  lines.push(
    "",
    "### Memory after each round",
    "",
    `| target | ${r.rounds.map((_, i) => `round ${i + 1} VmRSS / VmHWM`).join(" | ")} |`,
    `| --- | ${r.rounds.map(() => "--:").join(" | ")} |`,
  );
  // The variants share one process: one row for it.
  const rows = r.targets.filter((t) => t.role !== "variant").map((t) => [t.name, t.name]);
  const variant = r.targets.find((t) => t.role === "variant");
  if (variant) rows.push([ROW.frontEnds, variant.name]);
  for (const [label, name] of rows) {
    const cells = r.rounds.map((round) => {
      const mem = round.targets[name]?.memory;
      return mem ? `${mib(mem.rssMiB)} / ${mib(mem.peakMiB)}` : "n/a";
    });
    lines.push(`| ${label} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
