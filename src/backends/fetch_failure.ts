/**
 * Why a `fetch` to an upstream failed, in a few words. Deno reports every such failure as
 * `TypeError: fetch failed` and keeps the reason in `cause`, as the text of the HTTP client's error
 * ("error sending request for url (…): client error (Connect): tcp connect error: Connection
 * refused (os error 111)"): that text is matched here, rule by rule.
 *
 * @module
 */

/** One rule: what the cause's text looks like, and what to say. `$1` is the first capture. */
interface Rule {
  pattern: RegExp;
  say: string;
}

const RULES: readonly Rule[] = [
  { pattern: /connection refused/i, say: "connection refused" },
  {
    pattern: /dns error|failed to lookup address|name or service not known/i,
    say: "DNS lookup failed",
  },
  {
    pattern:
      /(invalid peer certificate[^)]*|certificate[^)]*|tls[^)]*handshake[^)]*|received corrupt message[^)]*)/i,
    say: "TLS failed: $1",
  },
  {
    pattern:
      /connection reset|reset by peer|broken pipe|connection closed before message completed/i,
    say: "connection reset",
  },
  {
    pattern: /error reading a body|unexpected end of file|incomplete message/i,
    say: "connection broken while reading the answer",
  },
  { pattern: /timed out/i, say: "connection timed out" },
  {
    pattern: /network is unreachable|no route to host|host is unreachable/i,
    say: "network unreachable",
  },
];

/**
 * A short reason for a failed upstream `fetch`, taken from the error's `cause` (or the error itself).
 *
 * @example
 * ```ts
 * const err = new TypeError("fetch failed", {
 *   cause: new Error("client error (Connect): tcp connect error: Connection refused (os error 111)"),
 * });
 * fetchFailure(err); // "connection refused"
 * ```
 */
export function fetchFailure(err: unknown): string {
  const texts = [causeText(err), err instanceof Error ? err.message : String(err)];
  for (const text of texts) {
    if (!text) continue;
    for (const { pattern, say } of RULES) {
      const m = pattern.exec(text);
      if (m) return say.replace("$1", m[1] ?? "");
    }
  }
  // Unknown: the most specific words there are, without the URL the client error repeats.
  return (texts[0] || texts[1]).replace(/^error sending request .*?\): /, "");
}

function causeText(err: unknown): string {
  if (!(err instanceof Error) || err.cause === undefined) return "";
  return err.cause instanceof Error ? err.cause.message : String(err.cause);
}
