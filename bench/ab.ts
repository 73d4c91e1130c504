/**
 * `deno run -A bench/ab.ts REV [REV…]`: a quick same-run A/B of the proxy at git revisions
 * (`.` is the work tree), for judging one optimisation on a shared, noisy machine. Every
 * revision runs as its own process (as `deno task start` runs it, default log level, log to a
 * file) in front of one fake upstream; wrk drives them in alternating order, several rounds, and
 * the report gives each one's median req/s and server CPU per request (the steadier figure),
 * JSON and stream, with the ratio to the first revision, and each process's peak RSS.
 *
 * Usage: `deno run -A bench/ab.ts [--rounds 5] [--seconds 3] [--variant NAME] [--only KIND] REV
 * [REV…]` (`--variant` sends a front end's requests, named as in `bench/variants.ts`, instead of
 * the chat path's; `--only JSON` or `--only stream` sends one kind of request alone, as a proxy
 * in front of coding agents, which stream, gets them: V8's heap adapts to the mix it is given;
 * `--together` loads all revisions at once, c=64 shared between them, so that a host
 * whose speed drifts from one second to the next slows them alike: on such a host, compare CPU
 * per request that way).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { chooseGenerator } from "./load.ts";
import { median } from "./report.ts";
import { chatRequest } from "./requests.ts";
import { cpuSeconds, memoryOf, type Server, startServer } from "./servers.ts";
import { benchRequest, checkout, ROOT, startCommand, writeBodies } from "./targets.ts";
import { variantNamed } from "./variants.ts";

/** One server in a comparison: how to start it, given the fake upstream's base URL. */
export interface Contender {
  name: string;
  /** Arguments after `deno`; `{port}` is the port to listen on. */
  args: (upstreamBase: string) => string[];
  /** Where it is started: the `deno.json` there applies. */
  cwd: string;
}

/** How {@link compare} loads the contenders. */
export interface CompareOptions {
  rounds: number;
  seconds: number;
  variant?: string;
  /** `JSON` or `stream`: one kind of request alone. */
  only?: string;
  /** All contenders at once, c=64 shared, instead of one after the other. */
  together: boolean;
}

/**
 * The proxy as `deno task start` runs it from `root` (default log level, the log to a file).
 *
 * @example
 * ```ts
 * const head = proxyAt("llm-proxy", "/work/main");
 * ```
 */
export function proxyAt(name: string, root: string): Contender {
  return {
    name,
    args: () => [...startCommand(root), "--host", "127.0.0.1", "--port", "{port}"],
    cwd: root,
  };
}

/**
 * Loads every contender with wrk in front of one fake upstream and returns the report (Markdown):
 * each one's median req/s and CPU per request, JSON and stream, the ratios to the first
 * contender (paired within a round), and its peak RSS.
 *
 * @example
 * ```ts
 * console.log(await compare([proxyAt("a", rootA), proxyAt("b", rootB)], { rounds: 5, seconds: 3, together: false }));
 * ```
 */
export async function compare(contenders: Contender[], options: CompareOptions): Promise<string> {
  const { together, rounds, seconds } = options;
  const variant = variantNamed(options.variant);
  const generator = await chooseGenerator("wrk", (l) => console.error(`ab: ${l}`));
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-ab-" });
  const servers: Server[] = [];
  try {
    const bodies = await writeBodies(dir, chatRequest);
    const upstream = await startServer({
      name: "upstream",
      args: ["run", "--allow-net", `${ROOT}bench/fake_upstream.ts`, "--port", "{port}"],
    });
    servers.push(upstream);
    const upstreamBase = `${upstream.origin}/api/v1`;
    const proxies: { name: string; server: Server; logFile: string }[] = [];
    for (const [i, contender] of contenders.entries()) {
      const logFile = `${dir}/contender${i}.log`;
      const server = await startServer({
        name: contender.name,
        args: contender.args(upstreamBase),
        env: { INTERNAI_API_BASE_URL: upstreamBase, INTERNAI_API_KEY: "bench-dummy-key" },
        cwd: contender.cwd,
        stderrFile: logFile,
      });
      servers.push(server);
      proxies.push({ name: contender.name, server, logFile });
    }
    const kinds = ([["JSON", false], ["stream", true]] as const)
      .filter(([kind]) => options.only === undefined || kind === options.only)
      .map(([kind, stream]) => ({ kind, ...benchRequest(bodies, variant, stream) }));
    if (kinds.length === 0) throw new Error(`--only takes JSON or stream, not ${options.only}`);
    const results = new Map<string, { rps: number[]; cpu: number[] }>();
    for (let r = 0; r <= rounds; r++) {
      for (const { kind, bodyFile, path } of kinds) {
        const order = r % 2 ? [...proxies].reverse() : proxies;
        const run = async ({ name, server }: (typeof proxies)[number]) => {
          const before = cpuSeconds(server.pid);
          const res = await generator.run({
            url: `${server.origin}${path}`,
            bodyFile,
            connections: together ? Math.ceil(64 / proxies.length) : 64,
            seconds: r === 0 ? 1 : seconds,
          });
          const cpu = cpuSeconds(server.pid) - before;
          if (res.errors > 0) throw new Error(`${name} ${kind}: ${res.errors} errors`);
          // Round 0 is the JIT's warm-up.
          if (r === 0) return;
          const entry = results.get(`${kind} ${name}`) ?? { rps: [], cpu: [] };
          entry.rps.push(res.rps);
          entry.cpu.push((cpu * 1e6) / res.requests);
          results.set(`${kind} ${name}`, entry);
        };
        if (together) await Promise.all(order.map(run));
        else for (const proxy of order) await run(proxy);
      }
      for (const { logFile } of proxies) await Deno.truncate(logFile);
    }
    const lines = [
      `load average ${
        Deno.readTextFileSync("/proc/loadavg").trim()
      }; ${rounds} rounds of ${seconds} s, c=64${together ? " shared, all at once" : ""}${
        variant ? `, ${variant.name}` : ""
      }`,
      "",
      "| kind | contender | req/s | CPU/request | req/s vs first | CPU vs first | peak RSS |",
      "| --- | --- | --: | --: | --: | --: | --: |",
    ];
    // Ratios are paired within a round, then their median: drift between rounds cancels.
    const ratios = (xs: number[], ys: number[]) => median(xs.map((x, i) => x / ys[i]));
    // The peak is the process's over both kinds: the same figure on both rows.
    const peaks = new Map(proxies.map((p) => [p.name, memoryOf(p.server.pid).peakMiB]));
    for (const { kind } of kinds) {
      const first = results.get(`${kind} ${contenders[0].name}`)!;
      for (const { name } of contenders) {
        const e = results.get(`${kind} ${name}`)!;
        lines.push(
          `| ${kind} | ${name} | ${Math.round(median(e.rps))} | ${median(e.cpu).toFixed(0)} µs ` +
            `| ${ratios(e.rps, first.rps).toFixed(3)}× | ${ratios(e.cpu, first.cpu).toFixed(3)}× ` +
            `| ${peaks.get(name)!.toFixed(1)} MiB |`,
        );
      }
    }
    return lines.join("\n");
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The command-line options {@link compare} takes, shared with `bench/ladder.ts`.
 *
 * @example
 * ```ts
 * const { values } = parseArgs({ args: Deno.args, options: COMPARE_FLAGS });
 * ```
 */
export const COMPARE_FLAGS = {
  rounds: { type: "string", default: "5" },
  seconds: { type: "string", default: "3" },
  variant: { type: "string" },
  together: { type: "boolean", default: false },
  only: { type: "string" },
} as const;

/**
 * {@link CompareOptions} from parsed {@link COMPARE_FLAGS}.
 *
 * @example
 * ```ts
 * compareOptions({ rounds: "5", seconds: "3", together: true }); // { rounds: 5, seconds: 3, together: true }
 * ```
 */
export function compareOptions(values: {
  rounds: string;
  seconds: string;
  variant?: string;
  together: boolean;
  only?: string;
}): CompareOptions {
  return { ...values, rounds: Number(values.rounds), seconds: Number(values.seconds) };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: COMPARE_FLAGS,
  });
  if (positionals.length === 0) throw new Error("usage: ab.ts [--rounds N] [--seconds S] REV…");
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-ab-trees-" });
  try {
    const contenders: Contender[] = [];
    for (const [i, rev] of positionals.entries()) {
      contenders.push(proxyAt(rev, rev === "." ? ROOT : await checkout(rev, `${dir}/rev${i}`)));
    }
    console.log(await compare(contenders, compareOptions(values)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
