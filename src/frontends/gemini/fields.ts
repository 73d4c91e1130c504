/**
 * Reading fields of a Gemini request. Google's JSON mapping accepts every field under its
 * lowerCamel name and its proto (snake_case) name alike (`systemInstruction`,
 * `system_instruction`), and REST examples use both, so every field is looked up both ways.
 *
 * @module
 */

import { isRecord } from "../../canonical/errors.ts";
import { invalidArgument } from "./errors.ts";

const snakeNames = new Map<string, string>();

function snake(name: string): string {
  let s = snakeNames.get(name);
  if (s === undefined) {
    s = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    snakeNames.set(name, s);
  }
  return s;
}

/** The request path of field `name` under `path` (`""` is the body itself). */
export function at(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/**
 * `obj`'s field `name` (lowerCamel), or its snake_case twin.
 *
 * @example
 * ```ts
 * field({ system_instruction: "x" }, "systemInstruction"); // "x"
 * ```
 */
export function field(obj: Obj, name: string): unknown {
  const value = obj[name];
  return value !== undefined ? value : obj[snake(name)];
}

type Obj = Record<string, unknown>;

/** Field `name` of `obj` when `check` passes (or it is absent / null); else a 400 saying `what`. */
function optional<T>(
  obj: Obj,
  name: string,
  path: string,
  check: (v: unknown) => v is T,
  what: string,
): T | undefined {
  const value = field(obj, name);
  if (value === undefined || value === null) return undefined;
  if (!check(value)) throw invalidArgument(at(path, name), `must be ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isInteger = (v: unknown): v is number => Number.isInteger(v);
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);

/** Field `name` of `obj` if it is a string (or absent); else a 400 naming `path`. */
export function optionalString(obj: Obj, name: string, path: string): string | undefined {
  return optional(obj, name, path, isString, "a string");
}

/** Field `name` of `obj` if it is a non-empty string; else a 400. */
export function requiredString(obj: Obj, name: string, path: string): string {
  const value = optionalString(obj, name, path);
  if (!value) throw invalidArgument(at(path, name), "must be a non-empty string");
  return value;
}

/** Field `name` of `obj` if it is a finite number (an integer, if asked), or absent; else a 400. */
export function optionalNumber(
  obj: Obj,
  name: string,
  path: string,
  integer = false,
): number | undefined {
  return integer
    ? optional(obj, name, path, isInteger, "an integer")
    : optional(obj, name, path, isNumber, "a number");
}

/** Field `name` of `obj` if it is a boolean (or absent); else a 400. */
export function optionalBoolean(obj: Obj, name: string, path: string): boolean | undefined {
  return optional(obj, name, path, isBoolean, "a boolean");
}

/** Field `name` of `obj` if it is an object (or absent); else a 400. */
export function optionalObject(obj: Obj, name: string, path: string): Obj | undefined {
  return optional(obj, name, path, isRecord, "an object");
}

/** Field `name` of `obj` if it is an array (or absent); else a 400. */
export function optionalArray(obj: Obj, name: string, path: string): unknown[] | undefined {
  return optional(obj, name, path, isArray, "an array");
}

/** `value` if it is an object; else a 400 naming `path`. */
export function objectAt(value: unknown, path: string): Obj {
  if (!isRecord(value)) throw invalidArgument(path, "must be an object");
  return value;
}
