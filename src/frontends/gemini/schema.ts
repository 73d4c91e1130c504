/**
 * Gemini's schemas to JSON Schema, the form OpenAI-style function parameters and
 * `response_format` take. Gemini has two: `parameters` / `responseSchema` are its OpenAPI-style
 * `Schema` (upper-case type names such as `OBJECT`, `nullable`, integer bounds as strings,
 * `propertyOrdering`), while `parametersJsonSchema` / `responseJsonSchema` are JSON Schema
 * already, though clients put Gemini's upper-case type names in them too (Gemini CLI does), so
 * those are lower-cased on the way.
 *
 * @module
 */

import { isRecord } from "../../canonical/errors.ts";
import { invalidArgument } from "./errors.ts";

type Json = Record<string, unknown>;

/** Which dialect a schema is written in. */
export type SchemaDialect = "openapi" | "json";

/** How one keyword's value is carried over. */
type Rule =
  /** One sub-schema. */
  | "schema"
  /** A map of names to sub-schemas (`properties`). */
  | "map"
  /** A list of sub-schemas (`anyOf`). */
  | "list"
  /** A sub-schema or a list of them (`items`). */
  | "schemaOrList"
  /** `type`: upper-case names lower-cased. */
  | "type"
  /** An integer Gemini may write as a string (proto int64). */
  | "int"
  /** Dropped: no JSON Schema meaning. */
  | "drop"
  /** Handled with `type` (OpenAPI's `nullable`) or renamed (`example`). */
  | "special";

/** The keywords with sub-schemas (or a type) in both dialects; every other keyword is copied. */
const JSON_RULES: Readonly<Record<string, Rule>> = {
  type: "type",
  properties: "map",
  patternProperties: "map",
  $defs: "map",
  definitions: "map",
  dependentSchemas: "map",
  items: "schemaOrList",
  prefixItems: "list",
  anyOf: "list",
  oneOf: "list",
  allOf: "list",
  additionalProperties: "schema",
  additionalItems: "schema",
  unevaluatedItems: "schema",
  unevaluatedProperties: "schema",
  propertyNames: "schema",
  contains: "schema",
  not: "schema",
  if: "schema",
  then: "schema",
  else: "schema",
};

/** OpenAPI-style `Schema` on top: its own keywords, and integers that arrive as strings. */
const OPENAPI_RULES: Readonly<Record<string, Rule>> = {
  ...JSON_RULES,
  minItems: "int",
  maxItems: "int",
  minLength: "int",
  maxLength: "int",
  minProperties: "int",
  maxProperties: "int",
  propertyOrdering: "drop",
  nullable: "special",
  example: "special",
};

/** Gemini's `Type` enum; `TYPE_UNSPECIFIED` means no type. */
const TYPE_NAMES: Readonly<Record<string, string | null>> = {
  STRING: "string",
  NUMBER: "number",
  INTEGER: "integer",
  BOOLEAN: "boolean",
  ARRAY: "array",
  OBJECT: "object",
  NULL: "null",
  TYPE_UNSPECIFIED: null,
};

/**
 * `schema` (found at `path` in the request, for error messages) as JSON Schema.
 *
 * @example
 * ```ts
 * toJsonSchema({ type: "OBJECT", properties: { n: { type: "INTEGER", nullable: true } } },
 *   "tools[0].functionDeclarations[0].parameters", "openapi");
 * // { type: "object", properties: { n: { type: ["integer", "null"] } } }
 * ```
 */
export function toJsonSchema(schema: unknown, path: string, dialect: SchemaDialect): unknown {
  // JSON Schema allows `true` / `false` as whole schemas.
  if (dialect === "json" && typeof schema === "boolean") return schema;
  if (!isRecord(schema)) throw invalidArgument(path, "a schema must be an object");
  const rules = dialect === "openapi" ? OPENAPI_RULES : JSON_RULES;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    const at = `${path}.${key}`;
    switch (rules[key]) {
      case "schema":
        out[key] = typeof value === "boolean" ? value : toJsonSchema(value, at, dialect);
        break;
      case "map":
        out[key] = schemaMap(value, at, dialect);
        break;
      case "list":
        out[key] = schemaList(value, at, dialect);
        break;
      case "schemaOrList":
        out[key] = Array.isArray(value)
          ? schemaList(value, at, dialect)
          : toJsonSchema(value, at, dialect);
        break;
      case "type": {
        const type = typeName(value, at);
        if (type !== null) out.type = type;
        break;
      }
      case "int":
        out[key] = integer(value, at);
        break;
      case "drop":
        break;
      case "special":
        if (key === "example") out.examples = [value];
        break;
      default:
        out[key] = value;
    }
  }
  if (dialect === "openapi" && schema.nullable === true && out.type !== undefined) {
    out.type = Array.isArray(out.type) ? [...out.type, "null"] : [out.type, "null"];
  }
  return out;
}

function schemaMap(value: unknown, path: string, dialect: SchemaDialect): Json {
  if (!isRecord(value)) throw invalidArgument(path, "must be an object of schemas");
  const out: Json = {};
  for (const [name, schema] of Object.entries(value)) {
    out[name] = toJsonSchema(schema, `${path}.${name}`, dialect);
  }
  return out;
}

function schemaList(value: unknown, path: string, dialect: SchemaDialect): unknown[] {
  if (!Array.isArray(value)) throw invalidArgument(path, "must be an array of schemas");
  return value.map((schema, i) => toJsonSchema(schema, `${path}[${i}]`, dialect));
}

/** A type name or a list of them, lower-cased; `null` for `TYPE_UNSPECIFIED`. */
function typeName(value: unknown, path: string): string | string[] | null {
  if (Array.isArray(value)) {
    return value.map((v, i) => typeName(v, `${path}[${i}]`)).filter((t) => t !== null).flat();
  }
  if (typeof value !== "string") throw invalidArgument(path, "a type must be a string");
  const upper = TYPE_NAMES[value];
  return upper === undefined ? value : upper;
}

function integer(value: unknown, path: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw invalidArgument(path, "must be a non-negative integer");
  }
  return n;
}
