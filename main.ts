/**
 * The command-line entry point: parse flags, load the configuration, serve until SIGTERM/SIGINT
 * (or the parent process exits), then drain. Everything else lives in `src/`.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { createHandler } from "./src/edge/handler.ts";
import { helpText, parseCommand, UsageError } from "./src/config/cli.ts";
import {
  type Config,
  ConfigError,
  ENV,
  loadConfig,
  loadListenAddress,
} from "./src/config/config.ts";
import { probeHealth } from "./src/operations/healthcheck.ts";
import { watchShutdownRequests } from "./src/operations/shutdown_requests.ts";
import { onServeError } from "./src/streams/stream_body.ts";

/** How long `llm-proxy healthcheck` waits for an answer. */
const HEALTHCHECK_TIMEOUT_MS = 3_000;
/** After the drain deadline, how long the ended requests get to flush before the process exits. */
const FLUSH_GRACE_MS = 2_000;

async function main(args: string[]): Promise<void> {
  let command;
  try {
    command = parseCommand(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}\nRun with --help for usage.`);
    Deno.exit(2);
  }
  if (command.kind === "help") return void console.log(helpText(denoJson.version));
  if (command.kind === "version") return void console.log(`llm-proxy ${denoJson.version}`);

  const env = Deno.env.toObject();
  try {
    if (command.kind === "healthcheck") {
      const result = await probeHealth(
        await loadListenAddress({ overrides: command.overrides, env }),
        HEALTHCHECK_TIMEOUT_MS,
        command.ready,
      );
      if (!result.ok) console.error(`unhealthy: ${result.url}: ${result.detail}`);
      Deno.exit(result.ok ? 0 : 1);
    }
    serve(await loadConfig({ overrides: command.overrides, env }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`error: ${err.message}`);
    Deno.exit(2);
  }
}

/**
 * Serves until SIGTERM or SIGINT (or its parent process exits), then drains: no new connections,
 * in-flight requests (streams included) may finish until the drain deadline, when those still
 * waiting for the upstream are ended with a 503 or an error event. A second request to stop (a
 * signal at least a second after the first) moves the deadline to now. Exits 0.
 */
function serve(config: Config): void {
  const { log } = config;
  // The log is written asynchronously: every line must be out before the process is.
  const exitFlushed = (code: number) => log.flush().finally(() => Deno.exit(code));
  const drainDeadline = new AbortController();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: ({ hostname, port }) =>
        log.info(`llm-proxy listening on http://${hostname}:${port}`),
      onError: onServeError,
    }, createHandler(config, { drainDeadline: drainDeadline.signal }));
  } catch (err) {
    const why = err instanceof Deno.errors.AddrInUse
      ? `the address is already in use; choose another port with --port or ${ENV.port}`
      : err instanceof Error
      ? err.message
      : String(err);
    throw new ConfigError(`cannot listen on ${config.host}:${config.port}: ${why}`);
  }

  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  const endInFlight = () => {
    clearTimeout(deadlineTimer);
    if (drainDeadline.signal.aborted) return;
    log.warn("drain deadline reached: ending the requests still in flight");
    drainDeadline.abort();
    setTimeout(() => {
      log.warn("requests still open after the drain deadline; exiting");
      exitFlushed(0);
    }, FLUSH_GRACE_MS);
  };
  watchShutdownRequests((reason) => {
    if (deadlineTimer !== undefined) return endInFlight();
    log.info(
      `${reason}: draining; in-flight requests have ${config.drainTimeoutMs / 1000}s to finish`,
    );
    deadlineTimer = setTimeout(endInFlight, config.drainTimeoutMs);
    server.shutdown().then(async () => {
      await config.state.close();
      log.info("drained; exiting");
      exitFlushed(0);
    });
  });
}

await main(Deno.args);
