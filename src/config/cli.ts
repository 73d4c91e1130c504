/**
 * Command-line flags. Parsing is strict: an unknown flag or a bad value is a {@link UsageError}
 * (exit code 2), never silently ignored. {@link FLAGS} is the one list that both the parser and
 * `--help` are made from, so the two cannot drift apart.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULT_DRAIN_TIMEOUT_S,
  ENV,
  isOneOf,
  MAX_DRAIN_TIMEOUT_S,
  type Overrides,
  parsePort,
  parseSeconds,
} from "./config.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../operations/log.ts";

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
  | { kind: "healthcheck"; overrides: Overrides }
  | { kind: "help" }
  | { kind: "version" };

/** One flag that takes a value and sets an {@link Overrides} field. */
export interface FlagSpec {
  /** The long name, without the leading `--`. */
  name: string;
  /** Placeholder of the value in `--help`. */
  value: string;
  /** The environment variable with the same meaning, if any. */
  env?: string;
  /** The default, as shown in `--help`. */
  default?: string;
  help: string;
  /** `--help` section. */
  group: "Server" | "Routing" | "Logging";
  /** Validates `value` (throwing {@link UsageError}) and stores it. */
  set(overrides: Overrides, value: string): void;
}

/** Every flag that takes a value, in `--help` order. */
export const FLAGS: readonly FlagSpec[] = [
  {
    name: "host",
    value: "HOST",
    env: ENV.host,
    default: "127.0.0.1",
    help: "Address to listen on (0.0.0.0: every interface, as in a container)",
    group: "Server",
    set: (o, v) => o.host = nonEmpty("--host", v),
  },
  {
    name: "port",
    value: "PORT",
    env: ENV.port,
    default: "8000",
    help: "Port to listen on (0: any free port)",
    group: "Server",
    set(o, v) {
      const port = parsePort(v);
      if (port === undefined) throw new UsageError(`--port must be 0-65535, got "${v}"`);
      o.port = port;
    },
  },
  {
    name: "config",
    value: "FILE",
    env: ENV.config,
    help: "YAML config file (see config.example.yaml)",
    group: "Server",
    set: (o, v) => o.config = nonEmpty("--config", v),
  },
  {
    name: "drain-timeout",
    value: "SECONDS",
    env: ENV.drainTimeout,
    default: String(DEFAULT_DRAIN_TIMEOUT_S),
    help: "On SIGTERM/SIGINT, time in-flight requests get to finish",
    group: "Server",
    set(o, v) {
      const ms = parseSeconds(v, MAX_DRAIN_TIMEOUT_S);
      if (ms === undefined) {
        throw new UsageError(
          `--drain-timeout must be 0-${MAX_DRAIN_TIMEOUT_S} seconds, got "${v}"`,
        );
      }
      o.drainTimeoutMs = ms;
    },
  },
  {
    name: "default-backend",
    value: "NAME",
    env: ENV.defaultBackend,
    default: "the only enabled backend",
    help: "Backend for models without a backend prefix",
    group: "Routing",
    set: (o, v) => o.defaultBackend = nonEmpty("--default-backend", v),
  },
  {
    name: "force-model",
    value: "MODEL",
    env: ENV.forceModel,
    help: "Answer every request with MODEL (or BACKEND/MODEL), whatever was asked",
    group: "Routing",
    set: (o, v) => o.forceModel = nonEmpty("--force-model", v),
  },
  {
    name: "log-level",
    value: "LEVEL",
    env: ENV.logLevel,
    default: "info",
    help: `One of ${LOG_LEVELS.join(", ")}`,
    group: "Logging",
    set: (o, v) => o.logLevel = choice("--log-level", v, LOG_LEVELS),
  },
  {
    name: "log-format",
    value: "FORMAT",
    env: ENV.logFormat,
    default: "text",
    help: `${LOG_FORMATS.join(", ")}: one line per event, readable or JSON`,
    group: "Logging",
    set: (o, v) => o.logFormat = choice("--log-format", v, LOG_FORMATS),
  },
];

/** Environment variables without a flag, listed in `--help` after the flags. */
export const ENV_ONLY: readonly { name: string; help: string; default?: string }[] = [
  {
    name: ENV.apiKeys,
    // No flag, so that keys stay out of `ps`.
    help: "Comma-separated keys clients must send (Bearer or x-api-key) on every route\n" +
      "but /health [config server.api_keys]. Unset: open to anyone who can reach\n" +
      "host:port, so keep --host on loopback.",
  },
  {
    name: "INTERNAI_API_KEY[_N]",
    help: "InternLM keys: INTERNAI_API_KEY, INTERNAI_API_KEY_1, …, used round-robin",
  },
  {
    name: "INTERNAI_API_BASE_URL",
    help: "InternLM upstream base URL",
    default: "https://chat.intern-ai.org.cn/api/v1",
  },
];

/** The subcommands besides serving (the default). */
export const SUBCOMMANDS = {
  healthcheck: "Exit 0 if /health of the configured proxy answers 200, else 1",
} as const;

/**
 * @example
 * ```ts
 * parseCommand(["--port", "9000"]); // { kind: "serve", overrides: { port: 9000 } }
 * parseCommand(["healthcheck"]); // { kind: "healthcheck", overrides: {} }
 * ```
 */
export function parseCommand(args: string[]): Command {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        ...Object.fromEntries(FLAGS.map((f) => [f.name, { type: "string" as const }])),
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const [subcommand, ...extra] = positionals;
  if (subcommand !== undefined && subcommand !== "healthcheck") {
    throw new UsageError(`unknown command "${subcommand}" (commands: healthcheck)`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const overrides: Overrides = {};
  for (const flag of FLAGS) {
    const value = (values as Record<string, string | boolean | undefined>)[flag.name];
    if (typeof value === "string") flag.set(overrides, value);
  }
  return { kind: subcommand ?? "serve", overrides };
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

/** `--help` text: every flag and environment variable with its default, grouped. */
export function helpText(version: string): string {
  type Row = { left: string; help: string; env?: string; default?: string };
  const flagRows = (group: FlagSpec["group"]): Row[] =>
    FLAGS.filter((f) => f.group === group).map((f) => ({ ...f, left: `--${f.name} <${f.value}>` }));
  const sections: [string, Row[]][] = [
    ...[...new Set(FLAGS.map((f) => f.group))].map((g): [string, Row[]] => [
      `${g} options`,
      flagRows(g),
    ]),
    ["Other options", [
      { left: "-h, --help", help: "Show this help" },
      { left: "-V, --version", help: "Show the version" },
    ]],
    ["Environment only", ENV_ONLY.map((e) => ({ ...e, left: e.name }))],
  ];
  const width = Math.max(...sections.flatMap(([, rows]) => rows.map((r) => r.left.length))) + 2;
  const render = (r: Row) => {
    const note = [r.env && `[env: ${r.env}]`, r.default && `[default: ${r.default}]`]
      .filter(Boolean).join(" ");
    const indent = `\n  ${" ".repeat(width)}`;
    return `  ${r.left.padEnd(width)}${r.help.replaceAll("\n", indent)}${note && indent + note}`;
  };
  const body = sections.map(([title, rows]) => `${title}:\n${rows.map(render).join("\n")}`);
  return `llm-proxy ${version}
An OpenAI-compatible proxy in front of InternLM and other backends.

Usage:
  llm-proxy [OPTIONS]               Run the proxy
  llm-proxy healthcheck [OPTIONS]   ${SUBCOMMANDS.healthcheck}

${body.join("\n\n")}

Precedence: flags > environment > config file > defaults.
`;
}
