/**
 * Leveled logging to one line sink (stderr by default). The core writes only through this, so
 * the runtime and the format stay swappable. Keys never reach it: callers pass slot labels.
 *
 * @module
 */

/** Log levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Fields of the one line written per request. */
export interface RequestLogFields {
  method: string;
  path: string;
  status: number;
  backend?: string;
  model?: string;
  key?: string;
  attempts?: number;
  ms: number;
  error?: string;
}

/**
 * @example
 * ```ts
 * const log = new Logger("info");
 * log.warn("no InternLM keys configured");
 * ```
 */
export class Logger {
  readonly #rank: number;

  constructor(
    level: LogLevel,
    private readonly sink: (line: string) => void = (line) => console.error(line),
  ) {
    this.#rank = LOG_LEVELS.indexOf(level);
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
  }

  error(message: string): void {
    this.#write("error", message);
  }

  warn(message: string): void {
    this.#write("warn", message);
  }

  info(message: string): void {
    this.#write("info", message);
  }

  debug(message: string): void {
    this.#write("debug", message);
  }

  /** `POST /v1/chat/completions 200 backend=internlm model=… key=1/2 attempts=1 ms=12`. */
  request(f: RequestLogFields): void {
    const level = f.status >= 500 ? "error" : "info";
    if (!this.enabled(level)) return;
    let line = `${f.method} ${f.path} ${f.status}`;
    if (f.backend) line += ` backend=${f.backend}`;
    if (f.model) line += ` model=${f.model}`;
    if (f.key) line += ` key=${f.key.replace("key ", "")}`;
    if (f.attempts) line += ` attempts=${f.attempts}`;
    line += ` ms=${f.ms}`;
    if (f.error) line += ` error=${JSON.stringify(f.error)}`;
    this.#write(level, line);
  }

  #write(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    this.sink(`${new Date().toISOString()} ${level.toUpperCase()} ${message}`);
  }
}
