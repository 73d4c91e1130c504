/**
 * Command-line flags. Parsing is strict: an unknown flag or a bad value is a {@link UsageError}
 * (exit code 2), never silently ignored. {@link FLAGS} is the one list that both the parser and
 * `--help` are made from, so the two cannot drift apart.
 *
 * @module
 */

import { DEFAULT_DRAIN_TIMEOUT_S, ENV, type Overrides } from "./config.ts";
import {
  DRAIN_SECONDS,
  MAX_DRAIN_TIMEOUT_S,
  NON_EMPTY,
  oneOf,
  PORT,
  readValue,
  type ValueSpec,
} from "./values.ts";
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
  /** `ready`: probe readiness (`/health/ready`) rather than liveness (`/health`). */
  | { kind: "healthcheck"; overrides: Overrides; ready: boolean }
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
  /** Validates `text` (throwing {@link UsageError}, in the words its env variable gets) and stores it. */
  set(overrides: Overrides, text: string): void;
}

/** A flag setting `key`, its text read as `spec`, the same reader its environment variable uses. */
function flag<K extends keyof Overrides>(
  key: K,
  spec: ValueSpec<NonNullable<Overrides[K]>>,
  rest: Omit<FlagSpec, "set">,
): FlagSpec {
  return {
    ...rest,
    set(overrides, text) {
      overrides[key] = readValue(`--${rest.name}`, spec, text, (m) => new UsageError(m));
    },
  };
}

/** Every flag that takes a value, in `--help` order. */
export const FLAGS: readonly FlagSpec[] = [
  flag("host", NON_EMPTY, {
    name: "host",
    value: "HOST",
    env: ENV.host,
    default: "127.0.0.1",
    help: "Address to listen on (0.0.0.0: every interface, as in a container)",
    group: "Server",
  }),
  flag("port", PORT, {
    name: "port",
    value: "PORT",
    env: ENV.port,
    default: "8000",
    help: "Port to listen on (0: any free port)",
    group: "Server",
  }),
  flag("config", NON_EMPTY, {
    name: "config",
    value: "FILE",
    env: ENV.config,
    help: "YAML config file (see config.example.yaml)",
    group: "Server",
  }),
  flag("drainTimeoutMs", DRAIN_SECONDS, {
    name: "drain-timeout",
    value: "SECONDS",
    env: ENV.drainTimeout,
    default: String(DEFAULT_DRAIN_TIMEOUT_S),
    help:
      `On SIGTERM/SIGINT, time in-flight requests get to finish (at most ${MAX_DRAIN_TIMEOUT_S})`,
    group: "Server",
  }),
  flag("defaultBackend", NON_EMPTY, {
    name: "default-backend",
    value: "NAME",
    env: ENV.defaultBackend,
    default: "the only enabled backend",
    help: "Backend for models without a backend prefix",
    group: "Routing",
  }),
  flag("forceModel", NON_EMPTY, {
    name: "force-model",
    value: "MODEL",
    env: ENV.forceModel,
    help: "Answer every request with MODEL (or BACKEND/MODEL), whatever was asked",
    group: "Routing",
  }),
  flag("logLevel", oneOf(LOG_LEVELS), {
    name: "log-level",
    value: "LEVEL",
    env: ENV.logLevel,
    default: "info",
    help: `One of ${LOG_LEVELS.join(", ")}`,
    group: "Logging",
  }),
  flag("logFormat", oneOf(LOG_FORMATS), {
    name: "log-format",
    value: "FORMAT",
    env: ENV.logFormat,
    default: "text",
    help: `${LOG_FORMATS.join(", ")}: one line per event, readable or JSON`,
    group: "Logging",
  }),
];

/** Environment variables without a flag, listed in `--help` after the flags. */
export const ENV_ONLY: readonly { name: string; help: string; default?: string }[] = [
  {
    name: ENV.apiKeys,
    // No flag, so that keys stay out of `ps`.
    help: "Comma-separated keys clients must send (Bearer or x-api-key) on every route\n" +
      "but /health [config server.api_keys]. Unset: open to anyone who can reach\n" +
      "host:port, so keep --host on loopback. Set but without a key: startup error.",
  },
  {
    name: ENV.redisUrl,
    // No flag: the URL may hold Redis's password.
    help: "redis://[user:password@]host:port[/db] (or rediss://): replicas share key\n" +
      "cool-downs through it [config state.redis_url]. Unset: state in memory",
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
  {
    name: "<NAME>_API_KEY[_N]",
    help: "Keys of the type: openai backend <NAME>, its name upper-cased, others as _\n" +
      '(LOCAL_API_KEY for a backend "local"); backends.<name>.api_key_env renames it',
  },
  {
    name: "<NAME>_API_BASE_URL",
    help: "Overrides api_url of the type: openai backend <NAME> [config backends.<name>.api_url]",
  },
];

/** The subcommands besides serving (the default). */
export const SUBCOMMANDS = {
  healthcheck: "Exit 0 if /health of the configured proxy answers 200, else 1;\n" +
    "with --ready, /health/ready (503 while no backend can serve)",
} as const;

const FLAG_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));

/**
 * Reads the command line: `--name value` or `--name=value` (a value may start with `-`, as in
 * `--port -1`, which is then refused for what it is), `-h`/`--help`, `-V`/`--version`, and the
 * one subcommand (with its `--ready`). Anything else is a {@link UsageError} saying what is wrong.
 *
 * @example
 * ```ts
 * parseCommand(["--port", "9000"]); // { kind: "serve", overrides: { port: 9000 } }
 * parseCommand(["healthcheck", "--ready"]); // { kind: "healthcheck", overrides: {}, ready: true }
 * ```
 */
export function parseCommand(args: string[]): Command {
  const overrides: Overrides = {};
  const words: string[] = [];
  let asked: "help" | "version" | undefined;
  let ready = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--ready") ready = true;
    else if (arg === "-h" || arg === "--help") asked ??= "help";
    else if (arg === "-V" || arg === "--version") asked ??= "version";
    else if (!arg.startsWith("-") || arg === "-") words.push(arg);
    else {
      const eq = arg.indexOf("=");
      const name = arg.slice(0, eq < 0 ? undefined : eq);
      const spec = name.startsWith("--") ? FLAG_BY_NAME.get(name.slice(2)) : undefined;
      if (!spec) {
        throw new UsageError(
          name === "--help" || name === "--version"
            ? `${name} takes no value`
            : `unknown option ${name}`,
        );
      }
      if (eq < 0 && i + 1 >= args.length) {
        throw new UsageError(`${name} needs a value (${name} ${spec.value})`);
      }
      spec.set(overrides, eq < 0 ? args[++i] : arg.slice(eq + 1));
    }
  }
  if (asked) return { kind: asked };
  const [subcommand, ...extra] = words;
  if (subcommand !== undefined && subcommand !== "healthcheck") {
    throw new UsageError(`unknown command "${subcommand}" (commands: healthcheck)`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (subcommand === "healthcheck") return { kind: "healthcheck", overrides, ready };
  if (ready) throw new UsageError("--ready goes with healthcheck: llm-proxy healthcheck --ready");
  return { kind: "serve", overrides };
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
  llm-proxy healthcheck [--ready] [OPTIONS]
                                    ${
    SUBCOMMANDS.healthcheck.replaceAll("\n", "\n" + " ".repeat(36))
  }

${body.join("\n\n")}

Precedence: flags > environment > config file > defaults.
`;
}
