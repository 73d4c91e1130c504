/**
 * The benchmark's server processes: each runs as its own `deno` process on 127.0.0.1, so its
 * memory (VmHWM) is its own and it competes for the CPU like a real deployment would.
 *
 * @module
 */

/** A running server process. */
export interface Server {
  name: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  pid: number;
  /** Stops the process and waits for it to exit. */
  stop(): Promise<void>;
}

/** Options for {@link startServer}. */
export interface ServerSpec {
  name: string;
  /** Arguments after `deno`; `{port}` is replaced by the chosen port. */
  args: string[];
  env?: Record<string, string>;
  /** Keep the process's stderr (shown if it dies); false sends it to /dev/null. */
  keepStderr?: boolean;
  /**
   * Append the process's stderr to this file instead (a log written to disk, as deployed); the
   * file's tail is shown if it dies.
   */
  stderrFile?: string;
  /** Working directory: where Deno looks for the `deno.json` that applies. */
  cwd?: string;
}

/** Environment variables that would steer the proxy somewhere other than the benchmark's upstream. */
const STRIPPED_ENV = /^(INTERNAI_|LLM_PROXY_)/;

/** A port that was free a moment ago (bound, read and released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts `deno ARGS` and waits until its port accepts connections.
 *
 * @example
 * ```ts
 * const up = await startServer({ name: "upstream", args: ["run", "-A", "bench/fake_upstream.ts", "--port", "{port}"] });
 * await up.stop();
 * ```
 */
export async function startServer(spec: ServerSpec): Promise<Server> {
  const port = freePort();
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !STRIPPED_ENV.test(name)),
  );
  const args = spec.args.map((a) => a.replaceAll("{port}", String(port)));
  const toFile = spec.stderrFile !== undefined;
  // Deno.Command cannot open a file for a child's stderr: a shell does, then `exec`s the server
  // (same pid, so its memory and CPU figures are the server's own).
  const child = new Deno.Command(toFile ? "sh" : Deno.execPath(), {
    args: toFile
      ? ["-c", 'exec 2>>"$0"; exec "$@"', spec.stderrFile!, Deno.execPath(), ...args]
      : args,
    env: { ...env, ...spec.env },
    clearEnv: true,
    cwd: spec.cwd,
    stdin: "null",
    stdout: "null",
    stderr: spec.keepStderr === false || toFile ? "null" : "piped",
  }).spawn();
  // Drained continuously (a full pipe would stall the server), only the tail is kept.
  let tail = "";
  const tailOfFile = () => {
    try {
      tail = Deno.readTextFileSync(spec.stderrFile!).slice(-4000);
    } catch {
      // Not written yet.
    }
  };
  const drained = spec.keepStderr !== false && !toFile
    ? child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (s) => void (tail = (tail + s).slice(-4000)) }),
    ).catch(() => {})
    : Promise.resolve();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const server: Server = {
    name: spec.name,
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await drained;
    },
  };
  const giveUp = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await drained;
      if (toFile) tailOfFile();
      throw new Error(`${spec.name} exited during start-up (${(await status).code}):\n${tail}`);
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return server;
    } catch {
      if (Date.now() > giveUp) {
        await server.stop();
        if (toFile) tailOfFile();
        throw new Error(`${spec.name} did not listen on port ${port} within 30 s:\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Resident memory of a process, in MiB: now (VmRSS) and its peak so far (VmHWM). */
export interface Memory {
  rssMiB: number;
  peakMiB: number;
}

/** Reads {@link Memory} from `/proc/PID/status` (Linux); NaN where it is not available. */
export function memoryOf(pid: number): Memory {
  let status = "";
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    // Not Linux, or the process is gone: reported as n/a.
  }
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s*(\\d+) kB`, "m").exec(status);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { rssMiB: field("VmRSS"), peakMiB: field("VmHWM") };
}

/** Clock ticks per second of `/proc/PID/stat`'s CPU times (`getconf CLK_TCK`: 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * CPU time a process has used so far, user and system, all its threads, in seconds (Linux
 * `/proc/PID/stat`, 10 ms resolution); NaN where it is not available.
 */
export function cpuSeconds(pid: number): number {
  let stat = "";
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return NaN;
  }
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
