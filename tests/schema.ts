/**
 * Validates JSON values against OpenAI's own OpenAPI schemas (the chat, models and error excerpt
 * vendored in `fixtures/openai-chat-schemas.json`), so tests prove the proxy answers what the
 * official SDKs expect. Implements just the keywords that excerpt uses, and throws on any other,
 * so a refreshed fixture cannot silently weaken the checks.
 *
 * @example
 * ```ts
 * assertSchema("ErrorResponse", { error: { message: "no", type: "x", param: null, code: null } });
 * validate("ListModelsResponse", { object: "list" }); // ["$.data: required property missing"]
 * ```
 *
 * @module
 */

import spec from "./fixtures/openai-chat-schemas.json" with { type: "json" };

type Schema = Record<string, unknown>;

const schemas = (spec as unknown as { schemas: Record<string, Schema> }).schemas;
const REF_PREFIX = "#/components/schemas/";
const KEYWORDS = new Set(
  `$ref nullable type enum properties required additionalProperties items
   minItems maxItems minimum maximum maxLength allOf anyOf oneOf`.split(/\s+/),
);
// Pure annotations (and `x-*` extensions): they never change whether a value is valid.
const ANNOTATIONS = new Set(
  "description title default example deprecated discriminator format".split(" "),
);

/**
 * Checks `value` against `components.schemas[schemaName]`.
 *
 * @returns `[]` when valid, else one message per problem, each starting with a JSON path, e.g.
 * `"$.choices[0].delta.role: expected one of ..."`.
 * @throws if the schema name is unknown or the schema uses an unsupported keyword.
 */
export function validate(schemaName: string, value: unknown): string[] {
  const issues: Issue[] = [];
  check(named(schemaName), value, "$", issues);
  return issues.map(format);
}

/** Throws an Error listing every problem when `value` does not match the named schema. */
export function assertSchema(schemaName: string, value: unknown): void {
  const errors = validate(schemaName, value);
  if (errors.length) {
    throw new Error(`value does not match ${schemaName}:\n  ${errors.join("\n  ")}`);
  }
}

interface Issue {
  path: string;
  message: string;
  /**
   * Set for a wrong type or a wrong single-value enum (a `type: "function"`-like tag): such an
   * issue says "wrong anyOf/oneOf branch" rather than "right branch, bad field".
   */
  miss?: { expected: string; got: string };
}

const format = (i: Issue) => `${i.path}: ${i.message}`;

function named(name: string): Schema {
  const schema = Object.hasOwn(schemas, name) ? schemas[name] : undefined;
  if (!schema) throw new Error(`unknown schema "${name}"`);
  return schema;
}

function check(s: Schema, v: unknown, path: string, issues: Issue[]): void {
  const fail = (message: string, p = path) => issues.push({ path: p, message });
  for (const k in s) {
    if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k) && !k.startsWith("x-")) {
      throw new Error(`unsupported schema keyword "${k}" (validating ${path})`);
    }
  }
  // OpenAPI 3.0: nullable widens the whole schema ($ref, type and enum alike) to accept null.
  if (v === null && s.nullable === true) return;
  if (typeof s.$ref === "string") {
    if (!s.$ref.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref "${s.$ref}"`);
    check(named(s.$ref.slice(REF_PREFIX.length)), v, path, issues);
  }
  // A wrong type makes every other keyword's complaint noise, so stop here.
  if (typeof s.type === "string" && !hasType(v, s.type)) {
    const miss = { expected: s.type, got: kindOf(v) };
    issues.push({ path, message: `expected ${miss.expected}, got ${miss.got}`, miss });
    return;
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
    const miss = { expected: s.enum.map((e) => JSON.stringify(e)).join(", "), got: preview(v) };
    const message = `expected one of ${miss.expected}, got ${miss.got}`;
    issues.push(s.enum.length === 1 ? { path, message, miss } : { path, message });
  }

  if (isObject(v)) {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    // An undefined field vanishes in JSON.stringify, so it counts as absent.
    for (const key of (s.required ?? []) as string[]) {
      if (v[key] === undefined) fail("required property missing", at(path, key));
    }
    for (const [key, val] of Object.entries(v)) {
      if (val === undefined) continue;
      if (Object.hasOwn(props, key)) check(props[key], val, at(path, key), issues);
      else if (s.additionalProperties === false) fail("unexpected property", at(path, key));
      else if (isObject(s.additionalProperties)) {
        check(s.additionalProperties, val, at(path, key), issues);
      }
    }
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === "number" && v.length < s.minItems) {
      fail(`expected at least ${s.minItems} items, got ${v.length}`);
    }
    if (typeof s.maxItems === "number" && v.length > s.maxItems) {
      fail(`expected at most ${s.maxItems} items, got ${v.length}`);
    }
    if (isObject(s.items)) {
      v.forEach((item, i) => check(s.items as Schema, item, `${path}[${i}]`, issues));
    }
  }
  if (typeof v === "number") {
    if (typeof s.minimum === "number" && v < s.minimum) fail(`${v} < minimum ${s.minimum}`);
    if (typeof s.maximum === "number" && v > s.maximum) fail(`${v} > maximum ${s.maximum}`);
  }
  if (typeof v === "string" && typeof s.maxLength === "number" && [...v].length > s.maxLength) {
    fail(`longer than maxLength ${s.maxLength}`);
  }

  for (const sub of (s.allOf ?? []) as Schema[]) check(sub, v, path, issues);
  // oneOf is checked strictly (exactly one branch): the branches in this spec are disjoint
  // through their `type`/`role` enums, and the self-test confirms realistic payloads pass.
  for (const kw of ["anyOf", "oneOf"] as const) {
    const branches = s[kw] as Schema[] | undefined;
    if (!branches) continue;
    const results = branches.map((b) => {
      const found: Issue[] = [];
      check(b, v, path, found);
      return found;
    });
    const matches = results.filter((r) => r.length === 0).length;
    if (matches === 0) issues.push(...closest(results, path));
    else if (kw === "oneOf" && matches > 1) {
      fail(`matches ${matches} oneOf branches, expected exactly one`);
    }
  }
}

/**
 * Reports the failed branch that got furthest (no type/tag miss, fewest issues), so the message
 * points at the real mistake, e.g. a bad field inside a function tool call rather than "type is
 * not custom". Ties that are all plain misses merge into "expected A or B, got C".
 */
function closest(results: Issue[][], path: string): Issue[] {
  const score = (r: Issue[]) => (r.some((i) => i.miss) ? 1000 : 0) + r.length;
  const best = Math.min(...results.map(score));
  const tied = results.filter((r) => score(r) === best);
  if (tied.length === 1) return tied[0];
  const only = tied.map((r) => (r.length === 1 ? r[0] : undefined));
  const first = only[0];
  if (first?.miss && only.every((i) => i?.miss && i.path === first.path)) {
    const miss = {
      expected: [...new Set(only.map((i) => i!.miss!.expected))].join(" or "),
      got: first.miss.got,
    };
    return [{ path: first.path, message: `expected ${miss.expected}, got ${miss.got}`, miss }];
  }
  const alternatives = tied.map((r) => r.map(format).join("; ")).join(" | ");
  return [{ path, message: `expected any of: ${alternatives}` }];
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case "object":
      return isObject(v);
    case "array":
      return Array.isArray(v);
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "null":
      return v === null;
    default:
      throw new Error(`unsupported schema type "${type}"`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number" && !Number.isInteger(v)) return `number ${v}`;
  return typeof v === "number" ? `integer ${v}` : typeof v;
}

function preview(v: unknown): string {
  const json = JSON.stringify(v) ?? String(v);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function at(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
