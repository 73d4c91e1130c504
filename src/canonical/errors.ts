/**
 * Errors in OpenAI's wire shape. Everything the proxy answers with a non-2xx status goes through
 * {@link ApiError}, so clients (and the official SDKs) can always parse `error.message`.
 *
 * @module
 */

/** The body of every error response: `{"error":{"message","type","param","code"}}`. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * Status logged when the client hung up before the answer was ready (nginx's convention); no
 * client ever receives it.
 */
export const CLIENT_CLOSED = 499;

/** Options for {@link ApiError}. */
export interface ApiErrorInit {
  type?: string;
  code?: string | null;
  param?: string | null;
  headers?: Record<string, string>;
}

/**
 * An error that knows its HTTP status and OpenAI error fields.
 *
 * @example
 * ```ts
 * throw new ApiError(400, "messages must be a non-empty array", { param: "messages" });
 * ```
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, init: ApiErrorInit = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = init.type ?? defaultType(status);
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.headers = init.headers ?? {};
  }

  /** The JSON body sent to clients. */
  toBody(): ErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }

  /** A complete JSON response for this error. */
  toResponse(): Response {
    return jsonResponse(this.toBody(), this.status, this.headers);
  }
}

/** OpenAI's own type names for the status classes clients branch on. */
function defaultType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/**
 * Serialises `body` as a JSON response. Its `content-length` is set, which is also how the
 * request log learns the bytes sent.
 */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return textResponse(JSON.stringify(body), "application/json", status, headers);
}

/**
 * A response with `text` as its body, and the body's `content-length` (`bytes`, when the caller
 * counted them already). The body stays a string: the runtime sends a string body on a cheaper
 * path than bytes encoded here.
 */
export function textResponse(
  text: string,
  contentType: string,
  status = 200,
  headers: Record<string, string> = {},
  bytes = utf8Length(text),
): Response {
  return new Response(text, {
    status,
    headers: {
      "content-type": contentType,
      "content-length": String(bytes),
      ...headers,
    },
  });
}

/** Where {@link utf8Length} has the runtime's encoder count: bytes written there are discarded. */
const scratch = new Uint8Array(64 * 1024);
/** UTF-16 units per count: even at 3 bytes each they fit {@link scratch}. */
const SLICE = Math.floor(scratch.length / 3);
const encoder = new TextEncoder();

/**
 * The length of `text` in UTF-8 bytes, as it will be sent; a lone surrogate counts as the 3
 * bytes of the U+FFFD it is sent as. The runtime's encoder counts it into a scratch buffer,
 * far faster than a loop over the characters (and it flattens a string built by `+=` once,
 * which the response needs anyway); a long text goes in slices, never cut inside a pair.
 *
 * @example
 * ```ts
 * utf8Length("é😀"); // 6
 * ```
 */
export function utf8Length(text: string): number {
  if (text.length <= SLICE) return encoder.encodeInto(text, scratch).written;
  let bytes = 0;
  for (let at = 0; at < text.length;) {
    let end = Math.min(at + SLICE, text.length);
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--;
    bytes += encoder.encodeInto(text.slice(at, end), scratch).written;
    at = end;
  }
  return bytes;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Turns anything thrown into an {@link ApiError}; unknown failures become a generic 500. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(500, "internal proxy error", { code: "internal_error" });
}

/** Upstream error bodies come in several shapes; this is the message, type and code found in one. */
export interface UpstreamErrorDetail {
  message: string;
  type?: string;
  code?: string;
}

const MAX_MESSAGE = 2000;

/**
 * Finds the message in an upstream error body: OpenAI's nested `{"error":{...}}`, LMDeploy's flat
 * `{"object":"error","message",...}`, FastAPI's `{"detail":...}`, InternLM's `{"msg":...}`, or
 * plain text/HTML (tags stripped, whitespace folded, length capped).
 */
export function parseUpstreamError(text: string): UpstreamErrorDetail {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { message: clip(plainText(text)) };
  }
  const obj = isRecord(parsed) ? parsed : {};
  const inner = isRecord(obj.error) ? obj.error : obj;
  const message = firstString(inner.message, obj.error, obj.detail, obj.msg, inner.detail);
  return {
    message: clip(message ?? plainText(text)),
    type: typeof inner.type === "string" ? inner.type : undefined,
    code: inner.code === undefined || inner.code === null ? undefined : String(inner.code),
  };
}

function firstString(...values: unknown[]): string | undefined {
  for (const v of values) {
    if (typeof v === "string" && v.trim() !== "") return v;
    if (Array.isArray(v) || isRecord(v)) return JSON.stringify(v);
  }
  return undefined;
}

function plainText(text: string): string {
  const folded = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return folded === "" ? "(empty body)" : folded;
}

/** A one-line excerpt of upstream text for a message: whitespace folded, 200 characters at most. */
export function snippet(text: string): string {
  const s = text.replace(/\s+/g, " ").trim();
  return s.length > 200 ? `${s.slice(0, 200)}…` : s || "(empty)";
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
}

/** Narrow `unknown` to a plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
