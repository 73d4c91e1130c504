/**
 * The command-line entry point: parse flags, load the configuration, serve until SIGTERM/SIGINT,
 * then drain. Everything else lives in `src/`.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { createHandler } from "./src/edge/handler.ts";
import { helpText, parseCommand, UsageError } from "./src/config/cli.ts";
import { type Config, ConfigError, loadConfig, loadListenAddress } from "./src/config/config.ts";
import { probeHealth } from "./src/operations/healthcheck.ts";

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
        loadListenAddress({ overrides: command.overrides, env }),
        HEALTHCHECK_TIMEOUT_MS,
      );
      if (!result.ok) console.error(`unhealthy: ${result.url}: ${result.detail}`);
      Deno.exit(result.ok ? 0 : 1);
    }
    serve(loadConfig({ overrides: command.overrides, env }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`error: ${err.message}`);
    Deno.exit(2);
  }
}

/**
 * Serves until SIGTERM or SIGINT, then drains: no new connections, in-flight requests (streams
 * included) may finish until the drain deadline, when those still waiting for the upstream are
 * ended with a 503 or an error event. A second signal moves the deadline to now. Exits 0.
 */
function serve(config: Config): void {
  const { log } = config;
  const drainDeadline = new AbortController();
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) => log.info(`llm-proxy listening on http://${hostname}:${port}`),
  }, createHandler(config, { drainDeadline: drainDeadline.signal }));

  // Windows delivers only SIGINT and SIGBREAK to Deno.
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGTERM", "SIGINT"];
  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  const endInFlight = () => {
    clearTimeout(deadlineTimer);
    if (drainDeadline.signal.aborted) return;
    log.warn("drain deadline reached: ending the requests still in flight");
    drainDeadline.abort();
    setTimeout(() => {
      log.warn("requests still open after the drain deadline; exiting");
      Deno.exit(0);
    }, FLUSH_GRACE_MS);
  };
  const onSignal = (signal: Deno.Signal) => {
    if (deadlineTimer !== undefined) return endInFlight();
    log.info(
      `${signal}: draining; in-flight requests have ${config.drainTimeoutMs / 1000}s to finish`,
    );
    deadlineTimer = setTimeout(endInFlight, config.drainTimeoutMs);
    server.shutdown().then(() => {
      log.info("drained; exiting");
      Deno.exit(0);
    });
  };
  for (const signal of signals) Deno.addSignalListener(signal, () => onSignal(signal));
}

await main(Deno.args);
