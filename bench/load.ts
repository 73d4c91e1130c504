/**
 * Load generators. `wrk` (Debian's package) is preferred: it is written in C and needs little CPU,
 * which matters when it shares a small machine with the servers it measures. Where it is missing
 * it is installed with apt-get when running as root; otherwise `autocannon` runs through npx (only
 * Node and npm needed), and the results say which one measured them.
 *
 * @module
 */

/** What one load run measured. */
export interface LoadResult {
  requests: number;
  /** Requests per second over the run. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, timeouts and non-2xx answers. */
  errors: number;
}

/** One POST load run: `connections` concurrent keep-alive connections for `seconds`. */
export interface LoadSpec {
  url: string;
  /** Path of a file holding the JSON request body. */
  bodyFile: string;
  connections: number;
  seconds: number;
}

/** A load generator. */
export interface LoadGenerator {
  /** E.g. `wrk 4.1.0`. */
  name: string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

const AUTOCANNON = "autocannon@8.0.0";

async function output(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { ok: out.success, text };
  } catch {
    return { ok: false, text: `${cmd} not found` };
  }
}

async function wrkVersion(): Promise<string | undefined> {
  // `wrk --version` prints its banner and exits 1.
  const { text } = await output("wrk", ["--version"]);
  // A shell's "wrk not found" also starts with "wrk ": only a version number counts.
  return /^wrk ((?:debian\/)?\d\S*)/m.exec(text)?.[1];
}

async function installWrk(log: (line: string) => void): Promise<boolean> {
  if (Deno.uid() !== 0 || !(await output("apt-get", ["--version"])).ok) return false;
  log("wrk is missing: installing it with apt-get");
  const install = ["install", "-y", "-qq", "wrk"];
  if ((await output("apt-get", install)).ok) return true;
  await output("apt-get", ["update", "-qq"]);
  return (await output("apt-get", install)).ok;
}

/**
 * Picks the load generator: `prefer` if given, else wrk (installing it when possible), else
 * autocannon.
 */
export async function chooseGenerator(
  prefer: "wrk" | "autocannon" | undefined,
  log: (line: string) => void,
): Promise<LoadGenerator> {
  if (prefer !== "autocannon") {
    let version = await wrkVersion();
    if (!version && await installWrk(log)) version = await wrkVersion();
    if (version) return wrk(`wrk ${version.replace(/^debian\//, "")}`);
    if (prefer === "wrk") throw new Error("wrk is not installed and could not be installed");
    log(`wrk is not available: falling back to ${AUTOCANNON} through npx`);
  }
  const probe = await output("npx", ["-y", AUTOCANNON, "--version"]);
  if (!probe.ok) throw new Error(`neither wrk nor ${AUTOCANNON} could be run:\n${probe.text}`);
  return autocannon(AUTOCANNON.replace("@", " "));
}

function wrk(name: string): LoadGenerator {
  const scripts = new Map<string, string>();
  return {
    name,
    async run(spec) {
      let script = scripts.get(spec.bodyFile);
      if (!script) {
        script = await Deno.makeTempFile({ suffix: ".lua" });
        await Deno.writeTextFile(script, wrkScript(await Deno.readTextFile(spec.bodyFile)));
        scripts.set(spec.bodyFile, script);
      }
      const args = [
        "-t1",
        `-c${spec.connections}`,
        `-d${spec.seconds}s`,
        "--timeout",
        "10s",
        "-s",
        script,
        spec.url,
      ];
      const { ok, text } = await output("wrk", args);
      const line = /^BENCH (.*)$/m.exec(text)?.[1];
      if (!ok || !line) throw new Error(`wrk ${args.join(" ")} failed:\n${text}`);
      const r = JSON.parse(line);
      return {
        requests: r.requests,
        rps: r.requests / (r.duration_us / 1e6),
        p50Ms: r.p50_us / 1000,
        p99Ms: r.p99_us / 1000,
        errors: r.errors,
      };
    },
  };
}

/** A wrk Lua script that POSTs `body` and prints the summary as one JSON line. */
function wrkScript(body: string): string {
  // A long bracket whose level cannot occur in the body.
  let level = "=";
  while (body.includes(`]${level}]`)) level += "=";
  return `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [${level}[${body}]${level}]
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
`;
}

function autocannon(name: string): LoadGenerator {
  return {
    name,
    async run(spec) {
      const args = [
        "-y",
        AUTOCANNON,
        "-c",
        String(spec.connections),
        "-d",
        String(spec.seconds),
        "-m",
        "POST",
        "-H",
        "content-type=application/json",
        "-i",
        spec.bodyFile,
        "-j",
        spec.url,
      ];
      const out = await new Deno.Command("npx", { args, stdin: "null", stderr: "null" }).output();
      const text = new TextDecoder().decode(out.stdout);
      let r;
      try {
        r = JSON.parse(text.slice(text.indexOf("{")));
      } catch {
        throw new Error(`npx ${args.join(" ")} failed:\n${text}`);
      }
      return {
        requests: r.requests.total,
        rps: r.requests.total / r.duration,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        errors: r.errors + r.timeouts + r.non2xx,
      };
    },
  };
}
