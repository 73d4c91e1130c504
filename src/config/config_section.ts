/**
 * Typed reads from one mapping of the YAML config. A wrong type or an unknown key fails with the
 * key's path, which the loader turns into `file:line:column`.
 *
 * @module
 */

import { isRecord } from "../canonical/errors.ts";

/** A config problem at `path` (e.g. `["backends", "internlm", "timeout"]`). */
export class ConfigError extends Error {
  constructor(message: string, readonly path: readonly (string | number)[] = []) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * @example
 * ```ts
 * const s = new ConfigSection(["server"], { port: 8000 });
 * s.integer("port", 0, 65535); // 8000
 * ```
 */
export class ConfigSection {
  constructor(
    readonly path: readonly (string | number)[],
    readonly data: Record<string, unknown>,
  ) {}

  /** The sub-mapping at `key` (empty when absent). */
  section(key: string): ConfigSection {
    const v = this.#get(key);
    if (v === undefined) return new ConfigSection([...this.path, key], {});
    if (!isRecord(v)) throw this.#error(key, "must be a mapping");
    return new ConfigSection([...this.path, key], v);
  }

  /** Fails on any key not in `known`, so a typo does not silently fall back to a default. */
  allowOnly(known: readonly string[]): void {
    for (const key of Object.keys(this.data)) {
      if (!known.includes(key)) {
        throw this.#error(key, `is not a known setting (known: ${known.join(", ")})`);
      }
    }
  }

  string(key: string): string | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw this.#error(key, "must be a string");
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") throw this.#error(key, "must be true or false");
    return v;
  }

  /** A number within [min, max]; `integer` also rejects fractions. */
  number(key: string, min: number, max: number, integer = false): number | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw this.#error(key, `must be ${integer ? "an integer" : "a number"}`);
    }
    if (v < min || v > max) throw this.#error(key, `must be between ${min} and ${max}`);
    return v;
  }

  /** A duration written in seconds, returned in milliseconds. */
  seconds(key: string, max = 86_400): number | undefined {
    const s = this.number(key, 0, max);
    return s === undefined ? undefined : Math.round(s * 1000);
  }

  stringList(key: string): string[] | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw this.#error(key, "must be a list of strings");
    }
    return v as string[];
  }

  /** `null` in YAML means "not set", like an absent key. */
  #get(key: string): unknown {
    const v = this.data[key];
    return v === null ? undefined : v;
  }

  #error(key: string, problem: string): ConfigError {
    const path = [...this.path, key];
    return new ConfigError(`${path.join(".")} ${problem}`, path);
  }
}
