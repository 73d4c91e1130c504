/**
 * Builds the running configuration from, in order of precedence, command-line flags, environment
 * variables, the YAML config file and defaults. Any problem is a {@link ConfigError} whose message
 * names the file, line and column when it comes from the file.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { BACKEND_TYPES } from "../backends/registry.ts";
import { ConfigError, ConfigSection } from "./config_section.ts";
import { isRecord } from "../canonical/errors.ts";
import { expandEnv, uniqueKeys } from "../backends/keys.ts";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  Logger,
  type LogLevel,
} from "../operations/log.ts";
import type { RequestLimits } from "../edge/request.ts";
import { Router } from "../pipeline/router.ts";
import {
  DRAIN_SECONDS,
  isOneOf,
  MAX_DRAIN_TIMEOUT_S,
  oneOf,
  PORT,
  readValue,
  type ValueSpec,
} from "./values.ts";
import { readModelMap } from "../pipeline/model_map.ts";
import { loadState, REDIS_URL_ENV } from "../state/load.ts";
import type { SharedState } from "../state/state.ts";
import type { ResponseStore } from "../state/response_store.ts";
import { createResponseStore } from "../state/registry.ts";

export { ConfigError };

/** Settings that can come from flags (highest precedence). */
export interface Overrides {
  host?: string;
  port?: number;
  config?: string;
  defaultBackend?: string;
  forceModel?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  drainTimeoutMs?: number;
}

/** The environment variables naming each override (documented in `--help` and the README). */
export const ENV = {
  host: "LLM_PROXY_HOST",
  port: "LLM_PROXY_PORT",
  config: "LLM_PROXY_CONFIG",
  defaultBackend: "LLM_PROXY_DEFAULT_BACKEND",
  forceModel: "LLM_PROXY_FORCE_MODEL",
  logLevel: "LLM_PROXY_LOG_LEVEL",
  logFormat: "LLM_PROXY_LOG_FORMAT",
  /** Client keys to the proxy, comma-separated; no flag, so they never show in `ps`. */
  apiKeys: "LLM_PROXY_API_KEYS",
  drainTimeout: "LLM_PROXY_DRAIN_TIMEOUT",
  /** Shared state for several replicas (`state.redis_url`). */
  redisUrl: REDIS_URL_ENV,
} as const;

/** Seconds a shutdown waits for in-flight requests when `server.drain_timeout` is not set. */
export const DEFAULT_DRAIN_TIMEOUT_S = 30;

/**
 * Which model a response names when the client asked for an alias: the alias itself (what the
 * client asked for) or the `backend/model` that answered.
 */
export const REPORT_MODELS = ["requested", "served"] as const;
/** One of {@link REPORT_MODELS}. */
export type ReportModel = typeof REPORT_MODELS[number];

/** The proxy's resolved configuration. */
export interface Config {
  host: string;
  port: number;
  log: Logger;
  /** Enabled backends by name (the routing prefix). */
  backends: ReadonlyMap<string, Backend>;
  router: Router;
  forceModel: string | undefined;
  /** What a response to an alias reports as its model (`report_model`). */
  reportModel: ReportModel;
  keepAliveMs: number;
  pieceSize: number;
  limits: RequestLimits;
  /** Keys clients must present (`server.api_keys` / `LLM_PROXY_API_KEYS`); empty = open. */
  clientKeys: readonly string[];
  /** On SIGTERM/SIGINT, how long in-flight requests may take before they are ended. */
  drainTimeoutMs: number;
  /**
   * Key cool-downs and benches: in memory, or shared with other replicas through Redis (dialled
   * by {@link SharedState.connect}, which the handler calls).
   */
  state: SharedState;
  /** Stored Responses API conversations (`responses.store`). */
  responseStore: ResponseStore;
}

/** Inputs of {@link loadConfig}; tests pass their own env and log sink. */
export interface LoadOptions {
  overrides?: Overrides;
  env?: Readonly<Record<string, string>>;
  /** Where log lines go (default: stderr). */
  logSink?: (line: string) => void;
  /** Config file text, instead of reading `overrides.config` / `LLM_PROXY_CONFIG` from disk. */
  configText?: string;
}

const TOP_LEVEL = [
  "server",
  "default_backend",
  "force_model",
  "log_level",
  "log_format",
  "streaming",
  "limits",
  "backends",
  "models",
  "report_model",
  "state",
  "responses",
];

/**
 * @example
 * ```ts
 * const config = await loadConfig({ overrides: { port: 0 }, env: Deno.env.toObject() });
 * ```
 */
export function loadConfig(options: LoadOptions = {}): Promise<Config> {
  return fromConfigFile(options, (root, flags, env) => build(root, flags, env, options.logSink));
}

/** Where the server listens: what `llm-proxy healthcheck` needs, without building backends. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Resolves only the listen address, with the same precedence as {@link loadConfig}.
 *
 * @example
 * ```ts
 * await loadListenAddress({ env: { LLM_PROXY_PORT: "9000" } }); // { host: "127.0.0.1", port: 9000 }
 * ```
 */
export function loadListenAddress(options: LoadOptions = {}): Promise<ListenAddress> {
  return fromConfigFile(options, (root, flags, env) => listenAddress(root, flags, env));
}

/** Reads the config file named by the flags or env, then `read`s it; errors get file:line:col. */
async function fromConfigFile<T>(
  options: LoadOptions,
  read: (
    root: ConfigSection,
    flags: Overrides,
    env: Readonly<Record<string, string>>,
  ) => T | Promise<T>,
): Promise<T> {
  const env = options.env ?? {};
  const flags = options.overrides ?? {};
  const path = flags.config ?? (env[ENV.config] || undefined);
  const text = options.configText ?? (path ? readConfigFile(path) : "");
  const file = path ?? "<config>";
  const { data, locate } = await parseYaml(text, file);
  try {
    return await read(new ConfigSection([], data), flags, env);
  } catch (err) {
    if (err instanceof ConfigError && err.path.length > 0 && text !== "") {
      throw new ConfigError(`${locate(err.path)}: ${err.message}`, err.path);
    }
    throw err;
  }
}

function readConfigFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`cannot read config file ${path}: ${why}`);
  }
}

/** What a config file holds, and where in it a setting is. */
interface ParsedConfig {
  data: Record<string, unknown>;
  /** The closest node to `path` that exists in the file, as `file:line:col`. */
  locate: (path: readonly (string | number)[]) => string;
}

async function parseYaml(text: string, file: string): Promise<ParsedConfig> {
  // The YAML parser (and the Node compatibility layer it runs on) costs ~13 MiB of memory: it is
  // loaded only when there is a file to parse, never by a proxy configured by env and flags.
  if (text === "") return { data: {}, locate: () => file };
  const { LineCounter, parseDocument } = await import("yaml");
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new ConfigError(`${at(e.pos[0])}: invalid YAML: ${e.message.split("\n")[0]}`);
  }
  const data: unknown = doc.toJS() ?? {};
  if (!isRecord(data)) throw new ConfigError(`${file}: the config file must be a YAML mapping`);
  const locate = (path: readonly (string | number)[]) => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number] } | undefined;
      if (node?.range) return at(node.range[0]);
    }
    return file;
  };
  return { data, locate };
}

async function build(
  root: ConfigSection,
  flags: Overrides,
  env: Readonly<Record<string, string>>,
  logSink: ((line: string) => void) | undefined,
): Promise<Config> {
  root.allowOnly(TOP_LEVEL);
  const server = root.section("server");
  server.allowOnly(["host", "port", "api_keys", "drain_timeout"]);
  const streaming = root.section("streaming");
  streaming.allowOnly(["keepalive_interval", "chunk_size"]);
  const limits = root.section("limits");
  limits.allowOnly(["max_body_bytes", "max_messages", "max_json_depth"]);
  const responses = root.section("responses");
  responses.allowOnly(["store"]);

  const logLevel = flags.logLevel ?? envValue(env, ENV.logLevel, oneOf(LOG_LEVELS)) ??
    configChoice(root, "log_level", LOG_LEVELS) ?? "info";
  const logFormat = flags.logFormat ?? envValue(env, ENV.logFormat, oneOf(LOG_FORMATS)) ??
    configChoice(root, "log_format", LOG_FORMATS) ?? "text";
  const log = new Logger(logLevel, logSink, logFormat);
  const state = await loadState(root.section("state"), env, log);
  const backends = buildBackends(root, env, log, state);

  const defaultBackend = pick(flags.defaultBackend, "--default-backend", env, ENV.defaultBackend) ??
    fromFile(root.string("default_backend"), "default_backend");
  if (defaultBackend && !backends.has(defaultBackend.value)) {
    const name = defaultBackend.value;
    const configured = root.section("backends").data[name];
    throw defaultBackend.error(
      isRecord(configured)
        ? `default backend "${name}" is disabled`
        : `default backend "${name}" is not configured (backends: ${
          [...backends.keys()].join(", ")
        })`,
    );
  }
  const defaultName = defaultBackend?.value ??
    (backends.size === 1 ? [...backends.keys()][0] : undefined);
  const direct = new Router(backends, defaultName);
  const router = new Router(
    backends,
    defaultName,
    readModelMap(root.section("models"), direct, log),
  );
  const forceModel = pick(flags.forceModel, "--force-model", env, ENV.forceModel) ??
    fromFile(root.string("force_model"), "force_model");
  if (forceModel) {
    try {
      router.resolve(forceModel.value);
    } catch (err) {
      throw forceModel.error(`force model: ${(err as Error).message}`);
    }
  }

  const { host, port } = listenAddress(root, flags, env);
  const clientKeys = readClientKeys(server, env, log);
  if (clientKeys.length === 0 && !isLoopback(host)) {
    log.warn(
      `SECURITY WARNING: listening on ${host}, which is not a loopback address, with no client ` +
        `API keys: anyone who can reach it can spend this proxy's upstream keys. Set ` +
        `${ENV.apiKeys} (or server.api_keys), or listen on 127.0.0.1.`,
    );
  }

  return {
    host,
    port,
    log,
    backends,
    router,
    forceModel: forceModel?.value,
    reportModel: configChoice(root, "report_model", REPORT_MODELS) ?? "requested",
    keepAliveMs: streaming.seconds("keepalive_interval", 3600) ?? 15_000,
    pieceSize: streaming.number("chunk_size", 2, 1 << 20, true) ?? 32,
    limits: {
      maxBodyBytes: limits.number("max_body_bytes", 1024, 1 << 30, true) ?? 10 * 1024 * 1024,
      maxMessages: limits.number("max_messages", 1, 1_000_000, true) ?? 2048,
      maxDepth: limits.number("max_json_depth", 4, 10_000, true) ?? 64,
    },
    clientKeys,
    state,
    drainTimeoutMs: flags.drainTimeoutMs ?? envValue(env, ENV.drainTimeout, DRAIN_SECONDS) ??
      server.seconds("drain_timeout", MAX_DRAIN_TIMEOUT_S) ?? DEFAULT_DRAIN_TIMEOUT_S * 1000,
    responseStore: createResponseStore({ section: responses.section("store"), env, log, state }),
  };
}

function listenAddress(
  root: ConfigSection,
  flags: Overrides,
  env: Readonly<Record<string, string>>,
): ListenAddress {
  const server = root.section("server");
  return {
    host: flags.host ?? (env[ENV.host] || undefined) ?? server.string("host") ?? "127.0.0.1",
    port: flags.port ?? envValue(env, ENV.port, PORT) ?? server.number("port", 0, 65535, true) ??
      8000,
  };
}

/**
 * `LLM_PROXY_API_KEYS` (comma-separated) replaces `server.api_keys`, which may use `${VAR}`. A list
 * that is given but holds no key (`LLM_PROXY_API_KEYS=`, `[""]`, `["${UNSET}"]`) is an error, not
 * an open proxy: only leaving both unset (or `api_keys: []`) runs without client keys.
 */
function readClientKeys(
  server: ConfigSection,
  env: Readonly<Record<string, string>>,
  log: Logger,
): string[] {
  const fromEnv = env[ENV.apiKeys];
  if (fromEnv !== undefined) {
    const keys = uniqueKeys(fromEnv.split(","));
    if (keys.length > 0) return keys;
    throw new ConfigError(
      `${ENV.apiKeys} is set but holds no key; set it to the client keys, or unset it to run ` +
        `without client keys`,
    );
  }
  const configured = server.stringList("api_keys") ?? [];
  const keys = uniqueKeys(
    configured.map((k) =>
      expandEnv(
        k,
        env,
        (name) => log.warn(`server.api_keys references \${${name}}, which is not set`),
      )
    ),
  );
  if (configured.length > 0 && keys.length === 0) {
    throw new ConfigError(
      "server.api_keys lists no usable key (every entry is blank or an unset ${VAR}); give it " +
        "keys, or make it [] to run without client keys",
      ["server", "api_keys"],
    );
  }
  return keys;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** With no `backends:` in the file, InternLM is the one backend, as in the seed's example. */
function buildBackends(
  root: ConfigSection,
  env: Readonly<Record<string, string>>,
  log: Logger,
  state: SharedState,
): Map<string, Backend> {
  const declared = root.data.backends == null
    ? new ConfigSection(["backends"], { internlm: { type: "internlm" } })
    : root.section("backends");
  const backends = new Map<string, Backend>();
  for (const name of Object.keys(declared.data)) {
    const section = declared.section(name);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new ConfigError(
        `backend name "${name}" may use only letters, digits, ".", "_" and "-"`,
        section.path,
      );
    }
    if (section.boolean("enabled") === false) continue;
    const type = section.string("type") ?? (name in BACKEND_TYPES ? name : undefined);
    const factory = type === undefined ? undefined : BACKEND_TYPES[type];
    if (!factory) {
      throw new ConfigError(
        `backends.${name}.type must be one of: ${Object.keys(BACKEND_TYPES).join(", ")}`,
        [...section.path, "type"],
      );
    }
    const typed = new ConfigSection(section.path, { ...section.data, type });
    backends.set(name, factory({ name, section: typed, env, log, state }));
  }
  if (backends.size === 0) throw new ConfigError("no backend is enabled", ["backends"]);
  return backends;
}

/** A setting's value and how to blame it: the flag, the env variable, or the file's line. */
interface Sourced {
  value: string;
  error(message: string): ConfigError;
}

function pick(
  flag: string | undefined,
  flagName: string,
  env: Readonly<Record<string, string>>,
  envName: string,
): Sourced | undefined {
  if (flag !== undefined) {
    return { value: flag, error: (m) => new ConfigError(`${flagName}: ${m}`) };
  }
  const fromEnv = env[envName];
  if (fromEnv) return { value: fromEnv, error: (m) => new ConfigError(`${envName}: ${m}`) };
  return undefined;
}

function fromFile(value: string | undefined, key: string): Sourced | undefined {
  return value === undefined ? undefined : { value, error: (m) => new ConfigError(m, [key]) };
}

function configChoice<T extends string>(
  root: ConfigSection,
  key: string,
  choices: readonly T[],
): T | undefined {
  const v = root.string(key);
  if (v !== undefined && !isOneOf(v, choices)) {
    throw new ConfigError(`${key} must be one of: ${choices.join(", ")}`, [key]);
  }
  return v;
}

/** An environment variable's value read as `spec`, undefined when unset or empty. */
function envValue<T>(
  env: Readonly<Record<string, string>>,
  name: string,
  spec: ValueSpec<T>,
): T | undefined {
  const text = env[name];
  if (!text) return undefined;
  return readValue(name, spec, text, (message) => new ConfigError(message));
}
