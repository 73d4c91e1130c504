/**
 * What the benchmark records: per round and target, the load runs, streaming latencies and
 * memory, and the machine it ran on. `render.ts` turns it into the Markdown of `RESULTS.md`.
 *
 * @module
 */

import type { LoadResult } from "./load.ts";
import type { Memory } from "./servers.ts";
import type { Role } from "./targets.ts";

/** Streaming latency at concurrency 1, in ms: time to the first body byte and to `[DONE]`. */
export interface StreamTimings {
  ttfbP50: number;
  ttfbP99: number;
  doneP50: number;
  doneP99: number;
  samples: number;
}

/** A load run, with the server's CPU time per request over it (µs, user + system). */
export interface MeasuredLoad extends LoadResult {
  cpuUs: number;
}

/** What one target measured in one round. */
export interface TargetRound {
  c1?: MeasuredLoad;
  c64?: MeasuredLoad;
  stream?: StreamTimings;
  streamC64?: MeasuredLoad;
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
  targets: { name: string; role: Role; streams: boolean }[];
  rounds: RoundResult[];
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Median of the finite values; NaN when there are none. */
export function median(values: number[]): number {
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
