/**
 * Runs the proxy as a real process (`main.ts`, the bundle or the compiled binary) on an ephemeral
 * loopback port, the way users and containers run it, and reads its address from its log.
 *
 * @module
 */

/** A running proxy process. */
export interface ProxyProcess {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  /** Every stderr line so far. */
  stderr: string[];
  /** Sends `signal`, if the process still runs. */
  kill(signal: Deno.Signal): void;
  /** Resolves when the process has ended and its stderr is read. */
  exited: Promise<Deno.CommandStatus>;
  /** Sends `signal` and waits for the process to end. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * What a child needs of the test's own environment: where caches are, and what a download needs
 * (the machine's CA certificates and proxies), since a cold cache makes the child fetch packages.
 */
const PASSED_ENV = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "SYSTEMROOT",
  "NODE_EXTRA_CA_CERTS",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "NPM_CONFIG_REGISTRY",
  "npm_config_registry",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
];

/**
 * The environment of a child: only `env` plus what locating caches needs, so a developer's own
 * `LLM_PROXY_*` or `INTERNAI_*` variables cannot change what a test sees.
 */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...env };
}

/**
 * Starts `command` (listening on port 0 via `LLM_PROXY_PORT`) and resolves once it logs its
 * address. Always {@link ProxyProcess.stop} it.
 *
 * @example
 * ```ts
 * const proxy = await spawnProxy([Deno.execPath(), "run", "-A", "main.ts"], { env: {} });
 * const status = await proxy.stop("SIGTERM");
 * ```
 */
export async function spawnProxy(
  command: string[],
  options: { env: Record<string, string>; cwd?: string; startTimeoutMs?: number },
): Promise<ProxyProcess> {
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: options.cwd,
    clearEnv: true,
    env: childEnv({ LLM_PROXY_HOST: "127.0.0.1", LLM_PROXY_PORT: "0", ...options.env }),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const { promise: port, resolve: listening } = Promise.withResolvers<number>();
  const reading = (async () => {
    let rest = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        stderr.push(line);
        const m = /listening on http:\/\/[^ ]+:(\d+)/.exec(line);
        if (m) listening(Number(m[1]));
      }
    }
    if (rest) stderr.push(rest);
  })();
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  };
  const exited = reading.then(() => child.status);
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    kill(signal);
    return exited;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = Promise.race([
    child.status.then((s) => `exited with code ${s.code}`),
    new Promise<string>((resolve) =>
      timer = setTimeout(() => resolve("did not start in time"), options.startTimeoutMs ?? 30_000)
    ),
  ]);
  const outcome = await Promise.race([port, failed]);
  clearTimeout(timer);
  if (typeof outcome === "string") {
    await stop("SIGKILL");
    throw new Error(`${command.join(" ")} ${outcome}:\n${stderr.join("\n")}`);
  }
  return { origin: `http://127.0.0.1:${outcome}`, port: outcome, stderr, kill, exited, stop };
}

/** Runs `command` to its end with a clean environment plus `env`. */
export async function run(
  command: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command[0], {
    args: command.slice(1),
    cwd,
    clearEnv: true,
    env: childEnv(env),
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}
