/**
 * Runs an agent CLI allowed to reach nothing but loopback, and says what else it tried: under
 * `strace` (when the machine has a working one; `.ci/run` installs it), every `connect` the agent
 * and its children make is recorded, and those to an address other than 127.0.0.0/8 or ::1 (DNS
 * included) are reported. Without strace the run is the same and nothing is reported.
 *
 * @module
 */

import { type AgentRun, runAgent } from "./agent_cli.ts";

/** What {@link runLoopbackOnly} saw. */
export interface LoopbackRun extends AgentRun {
  /**
   * `address:port` of every connect to a non-loopback address, in order; undefined when strace
   * is not available and nothing was checked.
   */
  outbound?: string[];
}

let tracing: Promise<boolean> | undefined;

/** True when `strace -f` can trace a child here (installed, and ptrace allowed). */
function canTrace(): Promise<boolean> {
  tracing ??= new Deno.Command("strace", {
    args: ["-f", "-qq", "-e", "trace=connect", "-o", "/dev/null", "true"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output().then((out) => out.success, () => false);
  return tracing;
}

/**
 * Like `runAgent`, under strace when it works. The deadline is kept by `timeout`, which kills
 * the whole process group: a killed strace would leave the agent running, detached.
 *
 * @example
 * ```ts
 * const run = await runLoopbackOnly(pi, ["-p", "hi"], { cwd, home, env: {} });
 * assert.deepEqual(run.outbound ?? [], []);
 * ```
 */
export async function runLoopbackOnly(
  bin: string,
  args: string[],
  options: { cwd: string; home: string; env: Record<string, string>; timeoutMs?: number },
): Promise<LoopbackRun> {
  if (!(await canTrace())) {
    console.warn("strace is not available: the agent's connections are not checked");
    return await runAgent(bin, args, options);
  }
  const seconds = Math.ceil((options.timeoutMs ?? 120_000) / 1000);
  const trace = await Deno.makeTempFile({ prefix: "llm-proxy-connects-" });
  try {
    const run = await runAgent("timeout", [
      "-s",
      "KILL",
      String(seconds),
      "strace",
      "-f",
      "-qq",
      // Stops the agent only on connect: the run is as fast as without strace.
      "--seccomp-bpf",
      "-e",
      "trace=connect",
      "-e",
      "signal=none",
      "-o",
      trace,
      "--",
      bin,
      ...args,
    ], { ...options, timeoutMs: (seconds + 15) * 1000 });
    return { ...run, outbound: outboundConnects(await Deno.readTextFile(trace)) };
  } finally {
    await Deno.remove(trace);
  }
}

/**
 * The non-loopback `address:port` pairs of the IPv4 and IPv6 connects in an strace log.
 *
 * @example
 * ```ts
 * outboundConnects('1 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.1")}, 16) = 0');
 * // ["10.0.0.1:53"]
 * ```
 */
export function outboundConnects(trace: string): string[] {
  const outbound: string[] = [];
  for (const line of trace.split("\n")) {
    if (!/connect\(\d+, \{sa_family=AF_INET6?,/.test(line)) continue;
    const address = /inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"/.exec(line);
    const port = /htons\((\d+)\)/.exec(line)?.[1] ?? "?";
    const ip = address?.[1] ?? address?.[2] ?? "?";
    if (!/^(127\.|::1$|::ffff:127\.)/.test(ip)) outbound.push(`${ip}:${port}`);
  }
  return outbound;
}
