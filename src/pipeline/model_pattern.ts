/**
 * Model id patterns, as written in the config (`claude-*haiku*`, `gpt-?o`): `*` stands for any run
 * of characters (`/` included), `?` for exactly one, everything else for itself. Matching ignores
 * case, since vendors and clients spell the same model both ways (`GPT-4o`, `gpt-4o`).
 *
 * @module
 */

/** A compiled pattern. */
export interface ModelPattern {
  /** As written in the config. */
  readonly source: string;
  /** True when the source has no `*` or `?`: it names one id. */
  readonly exact: boolean;
  matches(id: string): boolean;
}

/**
 * @example
 * ```ts
 * modelPattern("claude-*haiku*").matches("claude-3-5-haiku-20241022"); // true
 * modelPattern("gpt-4o").matches("GPT-4o"); // true
 * ```
 */
export function modelPattern(source: string): ModelPattern {
  const exact = !/[*?]/.test(source);
  if (exact) {
    const lower = source.toLowerCase();
    return {
      source,
      exact,
      matches: (id) => id.length === lower.length && id.toLowerCase() === lower,
    };
  }
  const body = source.split("").map((c) =>
    c === "*" ? "[\\s\\S]*" : c === "?" ? "[\\s\\S]" : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  ).join("");
  const regex = new RegExp(`^${body}$`, "iu");
  return { source, exact, matches: (id) => regex.test(id) };
}

/**
 * The first entry whose pattern matches `id`, in order, or undefined.
 *
 * @example
 * ```ts
 * firstMatch([{ pattern: modelPattern("a*"), value: 1 }], "ab"); // { pattern, value: 1 }
 * ```
 */
export function firstMatch<T extends { pattern: ModelPattern }>(
  entries: readonly T[],
  id: string,
): T | undefined {
  for (const entry of entries) if (entry.pattern.matches(id)) return entry;
  return undefined;
}
