/**
 * The command-line entry point: parse flags, load the configuration, serve. Everything else
 * lives in `src/`.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { createHandler } from "./src/app.ts";
import { helpText, parseCommand, UsageError } from "./src/cli.ts";
import { ConfigError, loadConfig } from "./src/config.ts";

function main(args: string[]): void {
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

  let config;
  try {
    config = loadConfig({ overrides: command.overrides, env: Deno.env.toObject() });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`error: ${err.message}`);
    Deno.exit(2);
  }
  const { log } = config;
  Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) => log.info(`llm-proxy listening on http://${hostname}:${port}`),
  }, createHandler(config));
}

main(Deno.args);
