/**
 * `deno run -A bench/profile.ts`: where the proxy's CPU goes per request. Runs the proxy as the
 * bench does (default log level, log to a file) under V8's sampling profiler (`--cpu-prof`) with
 * wrk at c=64 (or `--connections`) for a while, once with the JSON request and once with the
 * streaming one, then attributes the samples' self time to the project's functions and to runtime
 * internals (Request/Response and Headers, `fetch`, the HTTP server, streams, text encoding, abort
 * signals and events, timers, crypto, GC, native code) and divides by the requests served. Prints
 * Markdown: per category and the top functions, µs per request.
 *
 * Usage: `deno run -A bench/profile.ts [--seconds 8] [--top 10] [--rev REV] [--log-level L]
 * [--minimal] [--variant NAME] [--connections 64]` (`--rev` profiles the proxy as it was at git
 * revision REV; `--minimal` profiles the minimal proxy instead, `bench/minimal_proxy.ts`, the
 * reference whose costs the proxy's are read against; `--variant` sends a front end's requests,
 * named as in `bench/variants.ts`, instead of the chat path's).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { chooseGenerator, type LoadGenerator } from "./load.ts";
import { chatRequest } from "./requests.ts";
import { cpuSeconds, type Server, startServer } from "./servers.ts";
import { benchRequest, checkout, ROOT, writeBodies } from "./targets.ts";
import { variantNamed } from "./variants.ts";

/** The parts of a `.cpuprofile` read here. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Categories of runtime code, by the script URL of the function (first match wins). */
const RUNTIME: readonly [RegExp, string][] = [
  [/ext:deno_http\//, "HTTP server (Deno.serve)"],
  [/ext:deno_fetch\/26_fetch|ext:deno_fetch\/22_http_client/, "fetch"],
  [/ext:deno_fetch\/(23_request|23_response|20_headers|22_body)/, "Request/Response/Headers/body"],
  [/ext:deno_web\/06_streams|ext:deno_web\/09_file/, "web streams"],
  [/ext:deno_web\/08_text_encoding|ext:deno_web\/05_base64/, "TextEncoder/TextDecoder"],
  [/ext:deno_web\/(03_abort_signal|02_event)/, "AbortController/AbortSignal, events"],
  [/ext:deno_web\/02_timers|timers/, "timers"],
  [/ext:deno_crypto\//, "crypto (randomUUID, hashes)"],
  [/ext:deno_console\//, "log writes (stderr)"],
  [/ext:deno_webidl\//, "WebIDL argument conversion"],
  [/ext:deno_node\//, "node: compatibility (other)"],
  [/ext:(core|deno_web|runtime|deno_os|deno_io|deno_net)\//, "runtime core (ops, promises, I/O)"],
  [/\/npm\/|node_modules/, "npm packages"],
];

/** Categories of the runtime's native calls (ops, which have no script URL), by name. */
const OPS: readonly [RegExp, string][] = [
  [/^op_fetch/, "fetch"],
  [/^op_print$/, "log writes (stderr)"],
  [/^op_(read_all|http_try_take_full_request_body)/, "body reading (bytes(), text())"],
  [/^op_encoding_|^op_encode|^op_decode/, "TextEncoder/TextDecoder"],
  [/^op_http_set_response|^op_http_new_response/, "HTTP server: response headers and body"],
  [/^op_http_/, "HTTP server (Deno.serve)"],
  // The proxy's only file writes are its log's (stderr to a file, as the bench runs it).
  [/^op_write/, "log writes (stderr)"],
  [/^op_readable_stream|^op_read$/, "web streams"],
  [/^op_(now|timer)/, "timers"],
  [/^op_crypto/, "crypto (randomUUID, hashes)"],
];

/** What a sample's function is counted as. */
function categoryOf(url: string, functionName: string, root: string): string {
  if (url === "" && functionName.startsWith("op_")) {
    for (const [pattern, name] of OPS) if (pattern.test(functionName)) return name;
    return "runtime core (ops, promises, I/O)";
  }
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(idle)") return "(idle)";
  if (functionName === "(program)") return "native (HTTP, I/O, compiler; no JS frame)";
  if (url.startsWith(`file://${root}`)) {
    const file = url.slice(`file://${root}`.length);
    return file.startsWith("bench/") ? "bench" : `llm-proxy: ${file}`;
  }
  for (const [pattern, name] of RUNTIME) if (pattern.test(url)) return name;
  return url === "" ? "V8 builtins (JSON, strings, …; no script)" : `other: ${url}`;
}

interface Attribution {
  requests: number;
  /** Process CPU (all threads) per request, from /proc. */
  cpuUs: number;
  /** Self time per category and per function, µs in total. */
  categories: Map<string, number>;
  functions: Map<string, { us: number; category: string }>;
  /** Sampled time that was not idle, µs in total. */
  busyUs: number;
}

function attribute(profile: CpuProfile, root: string): Omit<Attribution, "requests" | "cpuUs"> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const categories = new Map<string, number>();
  const functions = new Map<string, { us: number; category: string }>();
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i])!;
    // The delta after a sample is the time it stood for.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const category = categoryOf(frame.url, frame.functionName, root);
    categories.set(category, (categories.get(category) ?? 0) + us);
    if (category === "(idle)") continue;
    busyUs += us;
    const where = frame.url === "" ? "" : ` (${shortUrl(frame.url, root)}:${frame.lineNumber + 1})`;
    const key = `${frame.functionName || "(anonymous)"}${where}`;
    const f = functions.get(key) ?? { us: 0, category };
    f.us += us;
    functions.set(key, f);
  }
  return { categories, functions, busyUs };
}

function shortUrl(url: string, root: string): string {
  return url.startsWith(`file://${root}`) ? url.slice(`file://${root}`.length) : url;
}

async function profileOnce(
  generator: LoadGenerator,
  opts: {
    root: string;
    upstream: Server;
    bodyFile: string;
    path: string;
    seconds: number;
    connections: number;
    dir: string;
    logLevel?: string;
    minimal: boolean;
  },
): Promise<Attribution> {
  const profDir = await Deno.makeTempDir({ dir: opts.dir, prefix: "prof-" });
  const start: string = JSON.parse(Deno.readTextFileSync(`${opts.root}/deno.json`)).tasks.start;
  const upstreamBase = `${opts.upstream.origin}/api/v1`;
  const served = opts.minimal
    ? ["--allow-net", `${opts.root}bench/minimal_proxy.ts`, "{port}", upstreamBase]
    : [
      ...start.split(/\s+/).slice(2),
      "--host",
      "127.0.0.1",
      "--port",
      "{port}",
      ...(opts.logLevel ? ["--log-level", opts.logLevel] : []),
    ];
  const proxy = await startServer({
    name: `${opts.minimal ? "minimal proxy" : "llm-proxy"} (profiled)`,
    args: ["run", "--cpu-prof", `--cpu-prof-dir=${profDir}`, ...served],
    env: {
      INTERNAI_API_BASE_URL: upstreamBase,
      INTERNAI_API_KEY: "bench-dummy-key",
    },
    cwd: opts.root,
    stderrFile: `${profDir}/proxy.log`,
  });
  const url = `${proxy.origin}${opts.path}`;
  let requests = 0;
  let cpu = 0;
  try {
    // A first short run warms the JIT; both are in the profile and counted.
    for (const seconds of [1, opts.seconds]) {
      const before = cpuSeconds(proxy.pid);
      const r = await generator.run({
        url,
        bodyFile: opts.bodyFile,
        connections: opts.connections,
        seconds,
      });
      cpu += cpuSeconds(proxy.pid) - before;
      requests += r.requests;
      if (r.errors > 0) throw new Error(`${r.errors} request(s) failed while profiling`);
    }
  } finally {
    await proxy.stop();
  }
  const file = [...Deno.readDirSync(profDir)].find((e) => e.name.endsWith(".cpuprofile"));
  if (!file) throw new Error(`the proxy wrote no profile into ${profDir}`);
  const profile: CpuProfile = JSON.parse(await Deno.readTextFile(`${profDir}/${file.name}`));
  return { requests, cpuUs: (cpu * 1e6) / requests, ...attribute(profile, opts.root) };
}

function render(title: string, a: Attribution, top: number): string {
  const perReq = (us: number) => (us / a.requests).toFixed(1);
  const share = (us: number) => `${((us / a.busyUs) * 100).toFixed(1)} %`;
  const lines = [
    `#### ${title}`,
    "",
    `${a.requests.toLocaleString("en-US")} requests; process CPU ${a.cpuUs.toFixed(0)} µs per ` +
    `request (all threads, /proc); sampled on the main thread, not idle: ` +
    `${perReq(a.busyUs)} µs per request.`,
    "",
    "| category | µs/request | share |",
    "| --- | --: | --: |",
  ];
  const categories = [...a.categories].filter(([c]) => c !== "(idle)").sort((x, y) => y[1] - x[1]);
  for (const [c, us] of categories) {
    if (us / a.requests >= 0.1) lines.push(`| ${c} | ${perReq(us)} | ${share(us)} |`);
  }
  lines.push("", `| top ${top} functions (self time) | category | µs/request | share |`);
  lines.push("| --- | --- | --: | --: |");
  const functions = [...a.functions].sort((x, y) => y[1].us - x[1].us).slice(0, top);
  for (const [f, { us, category }] of functions) {
    lines.push(`| \`${f.replaceAll("|", "\\|")}\` | ${category} | ${perReq(us)} | ${share(us)} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "8" },
      connections: { type: "string", default: "64" },
      top: { type: "string", default: "10" },
      rev: { type: "string" },
      "log-level": { type: "string" },
      minimal: { type: "boolean", default: false },
      variant: { type: "string" },
    },
  });
  const variant = variantNamed(values.variant);
  const log = (line: string) => console.error(`profile: ${line}`);
  const generator = await chooseGenerator("wrk", log);
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-profile-" });
  let upstream: Server | undefined;
  try {
    const root = values.rev ? `${await checkout(values.rev, `${dir}/rev`)}/` : ROOT;
    const bodies = await writeBodies(dir, chatRequest);
    upstream = await startServer({
      name: "upstream",
      args: ["run", "--allow-net", `${ROOT}bench/fake_upstream.ts`, "--port", "{port}"],
    });
    const seconds = Number(values.seconds);
    const out = [`Load average before: ${Deno.readTextFileSync("/proc/loadavg").trim()}.`];
    const runs = [["JSON", false], ["stream", true]] as const;
    for (const [title, stream] of runs) {
      const { bodyFile, path } = benchRequest(bodies, variant, stream);
      log(`${title}: ${seconds} s at c=${values.connections}`);
      const logLevel = values["log-level"];
      const minimal = values.minimal;
      const a = await profileOnce(generator, {
        root,
        upstream,
        bodyFile,
        path,
        seconds,
        connections: Number(values.connections),
        dir,
        logLevel,
        minimal,
      });
      const what = `${minimal ? "minimal proxy, " : ""}${
        variant ? `${variant.name}, ` : ""
      }${title}${values.rev ? ` @${values.rev}` : ""}`;
      out.push("", render(what, a, Number(values.top)));
    }
    console.log(out.join("\n"));
  } finally {
    await upstream?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
