/**
 * Leveled logging to one line sink (stderr by default, through a {@link LogBuffer}: batched,
 * asynchronous writes), as readable text or as one JSON object per line. The core writes only
 * through this, so the runtime and the format stay swappable. Keys never reach it: callers pass
 * slot numbers.
 *
 * @module
 */

import { type LineSink, stderrBuffer } from "./log_buffer.ts";
import type { Fallback } from "../pipeline/fallback.ts";

/** Log levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Log line formats: `text` for people, `json` for log pipelines. */
export const LOG_FORMATS = ["text", "json"] as const;
/** One of {@link LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** How a streamed answer was produced: cut from a whole completion, or relayed from upstream. */
export type StreamMode = "synthesized" | "native";

/** Fields of the one line written per request. */
export interface RequestLogFields {
  method: string;
  path: string;
  status: number;
  /** The front end whose route answered (`openai_chat`, `anthropic`, …). */
  frontend?: string;
  backend?: string;
  model?: string;
  /** The model the client asked for, when it was an alias of the `models:` map. */
  requested?: string;
  /** The `models:` key it matched. */
  alias?: string;
  /** Backend models passed over along the chain, and why. */
  fallbacks?: readonly Fallback[];
  /** 1-based slot of the last key used, of {@link RequestLogFields.keySlots}. */
  keySlot?: number;
  keySlots?: number;
  attempts: number;
  /** Time spent waiting on the upstream, all attempts together. */
  upstreamMs: number;
  totalMs: number;
  /** Set when the answer was an event stream. */
  stream?: StreamMode;
  bytesOut: number;
  error?: string;
}

// Text-format values are written bare when they cannot be mistaken for another field or line.
const BARE_VALUE = /^[!#-~]+$/;

let stampedAt = NaN;
let stamp = "";
let secondAt = NaN;
/** The ISO 8601 text of the second {@link secondAt} up to its milliseconds: `…T02:29:37.`. */
let secondText = "";

/**
 * `new Date(now).toISOString()`, made once per millisecond however many lines share it, and
 * formatted in full once per second: a line a millisecond (a single client's requests) then costs
 * a few string operations, not a date's formatting.
 *
 * @example
 * ```ts
 * isoTime(Date.UTC(2026, 11, 2, 2, 29, 37, 5)); // "2026-12-02T02:29:37.005Z"
 * ```
 */
export function isoTime(now: number): string {
  if (now === stampedAt) return stamp;
  stampedAt = now;
  const ms = ((now % 1000) + 1000) % 1000;
  const second = now - ms;
  if (second !== secondAt) {
    secondAt = second;
    secondText = new Date(second).toISOString().slice(0, -4);
  }
  stamp = `${secondText}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
  return stamp;
}

function timestamp(): string {
  return isoTime(Date.now());
}

/**
 * @example
 * ```ts
 * const log = new Logger("info", undefined, "json");
 * log.warn("no InternLM keys configured");
 * log.forRequest("3f0c9a").info("this line carries request_id 3f0c9a");
 * await log.flush(); // before exiting
 * ```
 */
export class Logger {
  readonly #rank: number;
  readonly #sink: LineSink;

  /**
   * Lines go to `sink` (a function, or a {@link LineSink} that can be flushed); by default to
   * stderr, buffered. `requestId`, when given, goes on every line; see {@link Logger.forRequest}.
   */
  constructor(
    readonly level: LogLevel,
    sink?: LineSink | ((line: string) => void),
    readonly format: LogFormat = "text",
    readonly requestId?: string,
  ) {
    this.#rank = LOG_LEVELS.indexOf(level);
    this.#sink = typeof sink === "function"
      ? { write: sink }
      : sink ?? stderrBuffer(format, (n) => this.#line("warn", droppedMessage(n)));
  }

  /** A logger writing to the same sink whose every line carries `requestId`. */
  forRequest(requestId: string): Logger {
    return new Logger(this.level, this.#sink, this.format, requestId);
  }

  /** Resolves once every line logged so far has been written out. */
  flush(): Promise<void> {
    return this.#sink.flush?.() ?? Promise.resolve();
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
  }

  error(message: string): void {
    this.#message("error", message);
  }

  warn(message: string): void {
    this.#message("warn", message);
  }

  info(message: string): void {
    this.#message("info", message);
  }

  debug(message: string): void {
    this.#message("debug", message);
  }

  /**
   * The request's line. Text: `POST /v1/chat/completions 200 frontend=openai_chat backend=internlm model=… key=1/2
   * attempts=1 upstream_ms=9 ms=12 bytes=345 request_id=…`; JSON: the same as named fields.
   */
  request(f: RequestLogFields): void {
    const level = f.status >= 500 ? "error" : "info";
    if (!this.enabled(level)) return;
    if (this.format === "json") {
      return this.#sink.write(JSON.stringify({
        time: timestamp(),
        level,
        msg: "request",
        request_id: this.requestId ?? null,
        method: f.method,
        path: f.path,
        status: f.status,
        frontend: f.frontend ?? null,
        backend: f.backend ?? null,
        model: f.model ?? null,
        requested_model: f.requested ?? null,
        alias: f.alias ?? null,
        fallbacks: f.fallbacks ?? [],
        key_slot: f.keySlot ?? null,
        key_slots: f.keySlots ?? null,
        attempts: f.attempts,
        upstream_ms: f.upstreamMs,
        total_ms: f.totalMs,
        stream: f.stream !== undefined,
        stream_mode: f.stream ?? null,
        bytes_out: f.bytesOut,
        error: f.error ?? null,
      }));
    }
    let line = `${f.method} ${textValue(f.path)} ${f.status}`;
    if (f.frontend) line += ` frontend=${f.frontend}`;
    if (f.backend) line += ` backend=${f.backend}`;
    if (f.model) line += ` model=${textValue(f.model)}`;
    if (f.requested) line += ` requested=${textValue(f.requested)}`;
    if (f.alias) line += ` alias=${textValue(f.alias)}`;
    if (f.fallbacks) {
      const taken = f.fallbacks.map((b) => `${b.from}->${b.to}(${b.reason})`).join(",");
      line += ` fallbacks=${textValue(taken)}`;
    }
    if (f.keySlot) line += ` key=${f.keySlot}/${f.keySlots}`;
    if (f.attempts) line += ` attempts=${f.attempts} upstream_ms=${f.upstreamMs}`;
    line += ` ms=${f.totalMs} bytes=${f.bytesOut}`;
    if (f.stream) line += ` stream=${f.stream}`;
    if (f.error) line += ` error=${JSON.stringify(f.error)}`;
    this.#sink.write(this.#line(level, line));
  }

  #message(level: LogLevel, message: string): void {
    if (this.enabled(level)) this.#sink.write(this.#line(level, message));
  }

  /** A message line in the logger's format. */
  #line(level: LogLevel, message: string): string {
    if (this.format === "json") {
      const line: Record<string, string> = { time: timestamp(), level, msg: message };
      if (this.requestId) line.request_id = this.requestId;
      return JSON.stringify(line);
    }
    const id = this.requestId ? ` request_id=${this.requestId}` : "";
    return `${timestamp()} ${level.toUpperCase()} ${message}${id}`;
  }
}

function droppedMessage(dropped: number): string {
  return `${dropped} log line(s) dropped: the log's destination is slower than the proxy`;
}

/** A client-chosen value (a model name, say) quoted when it holds spaces, quotes or newlines. */
function textValue(value: string): string {
  return BARE_VALUE.test(value) ? value : JSON.stringify(value);
}
