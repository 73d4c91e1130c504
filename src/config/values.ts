/**
 * How the text of a flag or of its environment variable becomes a setting. One {@link ValueSpec}
 * per kind of value serves both, so `--port -1` and `LLM_PROXY_PORT=-1` are refused in the same
 * words: `--port must be a port number (0-65535), got "-1"`.
 *
 * @module
 */

/** A kind of setting value: what it must look like (for messages) and how to read it. */
export interface ValueSpec<T> {
  /** Completes "… must be": `a port number (0-65535)`. */
  expected: string;
  /** The value, or undefined when `text` is not one. */
  parse(text: string): T | undefined;
}

/** The longest drain a flag, env or config may ask for, in seconds. */
export const MAX_DRAIN_TIMEOUT_S = 3600;

/** A TCP port; 0 asks for any free one. */
export const PORT: ValueSpec<number> = {
  expected: "a port number (0-65535)",
  parse: parsePort,
};

/** The drain timeout, read in seconds and kept in milliseconds. */
export const DRAIN_SECONDS: ValueSpec<number> = {
  expected: `a number of seconds (0-${MAX_DRAIN_TIMEOUT_S})`,
  parse: (text) => parseSeconds(text, MAX_DRAIN_TIMEOUT_S),
};

/** Any text but blanks. */
export const NON_EMPTY: ValueSpec<string> = {
  expected: "a value, not blank",
  parse: (text) => text.trim() === "" ? undefined : text,
};

/**
 * One of a fixed set of words.
 *
 * @example
 * ```ts
 * oneOf(["text", "json"]).parse("json"); // "json"
 * ```
 */
export function oneOf<T extends string>(choices: readonly T[]): ValueSpec<T> {
  return {
    expected: `one of ${choices.join(", ")}`,
    parse: (text) => isOneOf(text, choices) ? text : undefined,
  };
}

/**
 * Reads `text` given by `source` (a flag, `--port`, or an environment variable's name); throws
 * what `fail` makes of the message when it is not a valid value.
 *
 * @example
 * ```ts
 * readValue("--port", PORT, "-1", (m) => new Error(m)); // throws: --port must be a port number (0-65535), got "-1"
 * ```
 */
export function readValue<T>(
  source: string,
  spec: ValueSpec<T>,
  text: string,
  fail: (message: string) => Error,
): T {
  const value = spec.parse(text);
  if (value === undefined) throw fail(`${source} must be ${spec.expected}, got "${text}"`);
  return value;
}

/** True when `v` is one of `choices` (log levels, log formats, …). */
export function isOneOf<T extends string>(v: string, choices: readonly T[]): v is T {
  return (choices as readonly string[]).includes(v);
}

/** Seconds (fractions allowed) from text, in milliseconds; undefined when not in [0, max]. */
export function parseSeconds(text: string, max: number): number | undefined {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return undefined;
  const s = Number(text);
  return s <= max ? Math.round(s * 1000) : undefined;
}

/** A TCP port from text, or undefined when it is not one. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}
