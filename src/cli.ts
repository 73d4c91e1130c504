/**
 * Command-line flags. Parsing is strict: an unknown flag or a bad value is a {@link UsageError}
 * (exit code 2), never silently ignored.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ENV, isOneOf, type Overrides, parsePort } from "./config.ts";
import { LOG_FORMATS, LOG_LEVELS } from "./log.ts";

/** A command-line mistake; `main.ts` prints it with a hint and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What the command line asks for. */
export type Command =
  | { kind: "serve"; overrides: Overrides }
  | { kind: "help" }
  | { kind: "version" };

/**
 * @example
 * ```ts
 * parseCommand(["--port", "9000"]); // { kind: "serve", overrides: { port: 9000 } }
 * ```
 */
export function parseCommand(args: string[]): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        config: { type: "string" },
        "default-backend": { type: "string" },
        "force-model": { type: "string" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const overrides: Overrides = {};
  if (values.host !== undefined) overrides.host = nonEmpty("--host", values.host);
  if (values.port !== undefined) {
    const port = parsePort(values.port);
    if (port === undefined) throw new UsageError(`--port must be 0-65535, got "${values.port}"`);
    overrides.port = port;
  }
  if (values.config !== undefined) overrides.config = nonEmpty("--config", values.config);
  if (values["default-backend"] !== undefined) {
    overrides.defaultBackend = nonEmpty("--default-backend", values["default-backend"]);
  }
  if (values["force-model"] !== undefined) {
    overrides.forceModel = nonEmpty("--force-model", values["force-model"]);
  }
  if (values["log-level"] !== undefined) {
    overrides.logLevel = choice("--log-level", values["log-level"], LOG_LEVELS);
  }
  if (values["log-format"] !== undefined) {
    overrides.logFormat = choice("--log-format", values["log-format"], LOG_FORMATS);
  }
  return { kind: "serve", overrides };
}

function choice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!isOneOf(value, choices)) {
    throw new UsageError(`${flag} must be one of ${choices.join(", ")}, got "${value}"`);
  }
  return value;
}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === "") throw new UsageError(`${flag} needs a value`);
  return value;
}

/** `--help` text; every flag with its env variable and default. */
export function helpText(version: string): string {
  return `llm-proxy ${version}
An OpenAI-compatible proxy in front of InternLM and other backends.

Usage:
  llm-proxy [OPTIONS]

Server:
  --host HOST              Address to listen on       [env ${ENV.host}, default 127.0.0.1]
  --port PORT              Port to listen on          [env ${ENV.port}, default 8000]
  --config FILE            YAML config file           [env ${ENV.config}]

Client keys (optional; when set, every route but /health needs one):
  ${ENV.apiKeys}=K1,K2  Keys clients send as "Authorization: Bearer K" or
                           "x-api-key: K" [config server.api_keys; no flag, so keys
                           stay out of ps]. Without them, keep --host on loopback.

Routing:
  --default-backend NAME   Backend for models without a prefix
                                                      [env ${ENV.defaultBackend}]
  --force-model MODEL      Answer every request with MODEL (or BACKEND/MODEL)
                                                      [env ${ENV.forceModel}]

Logging:
  --log-level LEVEL        ${LOG_LEVELS.join(", ")}     [env ${ENV.logLevel}, default info]
  --log-format FORMAT      ${LOG_FORMATS.join(", ")}: one line per event, readable or JSON
                                                      [env ${ENV.logFormat}, default text]

Other:
  -h, --help               Show this help
  -V, --version            Show the version

InternLM backend:
  INTERNAI_API_KEY, INTERNAI_API_KEY_1, INTERNAI_API_KEY_2, …   keys, rotated round-robin
  INTERNAI_API_BASE_URL    Upstream base URL [default https://chat.intern-ai.org.cn/api/v1]

Precedence: flags > environment > config file > defaults.
`;
}
