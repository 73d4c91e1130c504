/**
 * A fake InternLM upstream: a real HTTP server on 127.0.0.1 (ephemeral port) speaking the
 * OpenAI-like `POST /api/v1/chat/completions` and `GET /api/v1/models`. Tests script its answers
 * with a {@link Responder}, inspect what the proxy sent via {@link FakeUpstream.requests}, and can
 * make it hang, answer slowly, or cut the connection mid-body.
 *
 * @example
 * ```ts
 * const up = await FakeUpstream.start(() => completion("hi", { reasoning_content: "thinking" }));
 * try {
 *   // Point the proxy at up.baseUrl, call it, then inspect e.g. up.chatRequests()[0].key.
 *   up.setResponder(() => rateLimited(2));
 * } finally {
 *   await up.close();
 * }
 * ```
 *
 * @module
 */

import { slowly, sseEvents } from "./fake_stream.ts";

/** One request the fake upstream received (recorded before the responder runs). */
export interface RecordedRequest {
  /** `"POST"` for chat, `"GET"` for models. */
  method: string;
  /** Path without query, e.g. `"/api/v1/chat/completions"`. */
  path: string;
  /** A copy of the request headers. */
  headers: Headers;
  /** The bearer token of the `Authorization` header, or null. */
  key: string | null;
  /** The parsed JSON body; null if there was none or it was not a JSON object. */
  body: Record<string, unknown> | null;
  /**
   * True once the client (the proxy) aborted or disconnected before the answer was sent, or, for
   * an `sse` reply, hung up before its last part.
   */
  aborted: boolean;
}

/** How the fake upstream answers one request. */
export type Reply =
  | {
    kind: "json";
    status?: number;
    body: unknown;
    headers?: Record<string, string>;
    delayMs?: number;
  }
  | {
    kind: "text";
    status?: number;
    body: string;
    contentType?: string;
    headers?: Record<string, string>;
    delayMs?: number;
  }
  /** Never answers until the client aborts (or the server closes). */
  | { kind: "hang" }
  /** 200 headers and `partialBody`, then the connection is cut mid-body. */
  | { kind: "drop"; partialBody?: string }
  /**
   * A `text/event-stream` body sent part by part, each as its own write, pulled only as fast as
   * the client reads (see `tests/fake_stream.ts`). With `fail`, the connection is cut after the
   * last part instead of ending cleanly. Needs {@link FakeUpstream.streams}.
   */
  | {
    kind: "sse";
    parts: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;
    fail?: boolean;
    headers?: Record<string, string>;
  };

/** Decides the reply to a chat request. */
export type Responder = (req: RecordedRequest) => Reply | Promise<Reply>;

const CHAT_PATH = "/api/v1/chat/completions";
const MODELS_PATH = "/api/v1/models";
const DEFAULT_MODEL = "internlm2.5-latest";
const DROPPED = new Error("fake upstream: connection dropped on purpose");

// Bodies built by completion() without an explicit model: the server swaps in the request's model
// when sending, the way a real upstream echoes it.
const echoModel = new WeakSet<object>();

/** A running fake upstream. Always {@link FakeUpstream.close} it (test sanitizers are strict). */
export class FakeUpstream {
  /** E.g. `"http://127.0.0.1:43123/api/v1"`. */
  readonly baseUrl: string;
  /** Chat and models requests, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /**
   * Plays a server that streams (a `type: openai` upstream) when true. False by default: InternLM
   * does not stream reliably, so the proxy must never send it `stream: true`.
   */
  streams = false;

  #server: Deno.HttpServer<Deno.NetAddr>;
  #responder: Responder;
  #models: Reply | null = {
    kind: "json",
    body: {
      object: "list",
      data: [DEFAULT_MODEL, "intern-s1"].map((id) => ({
        id,
        object: "model",
        created: 1_720_000_000,
        owned_by: "internlm",
      })),
    },
  };
  // Aborted by close(): wakes every hang/delay so shutdown() does not wait forever.
  #closing = new AbortController();
  #abortedAt = new WeakMap<RecordedRequest, number>();
  // Re-run on every recorded request or abort; lets waitForAbort react without polling.
  #watchers = new Set<{ check: () => void; fail: (e: Error) => void }>();

  private constructor(responder: Responder, port: number) {
    this.#responder = responder;
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port,
        onListen() {},
        // Deno reports body-stream errors here; a "drop" reply's error is the point, not news.
        onError(e) {
          if (e !== DROPPED) console.error("fake upstream:", e);
          return new Response("fake upstream internal error", { status: 500 });
        },
      },
      (req) => this.#handle(req),
    );
    this.baseUrl = `http://127.0.0.1:${this.#server.addr.port}/api/v1`;
  }

  /**
   * Starts a server (on an ephemeral port unless `port` is given); the default responder answers
   * `completion("Hello from fake upstream")`.
   */
  static start(responder?: Responder, port = 0): Promise<FakeUpstream> {
    return Promise.resolve(
      new FakeUpstream(responder ?? (() => completion("Hello from fake upstream")), port),
    );
  }

  /** Only the `POST .../chat/completions` requests. */
  chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "POST" && r.path === CHAT_PATH);
  }

  /** Replaces the responder for subsequent chat requests. */
  setResponder(r: Responder): void {
    this.#responder = r;
  }

  /** What `GET /models` answers; null makes it a 404. */
  setModels(reply: Reply | null): void {
    this.#models = reply;
  }

  /**
   * Waits until `chatRequests()[index]` (possibly not arrived yet) is marked aborted. Resolves with
   * the ms from this call until the abort was observed (0 if it already was), so a test can abort
   * a client call, then assert the upstream noticed within some bound. Rejects after `timeoutMs`.
   */
  waitForAbort(index: number, timeoutMs: number): Promise<number> {
    const calledAt = performance.now();
    return new Promise((resolve, reject) => {
      const watcher = {
        check: () => {
          const rec = this.chatRequests()[index];
          if (!rec?.aborted) return;
          done();
          resolve(Math.max(0, (this.#abortedAt.get(rec) ?? calledAt) - calledAt));
        },
        fail: (e: Error) => {
          done();
          reject(e);
        },
      };
      const timer = setTimeout(
        () => watcher.fail(new Error(`chat request #${index} not aborted within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = () => {
        clearTimeout(timer);
        this.#watchers.delete(watcher);
      };
      this.#watchers.add(watcher);
      watcher.check();
    });
  }

  /** Wakes all hangs and delays, stops the server and rejects pending {@link waitForAbort}s. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#server.shutdown();
    for (const w of [...this.#watchers]) w.fail(new Error("fake upstream closed"));
  }

  #notify(): void {
    for (const w of [...this.#watchers]) w.check();
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const isChat = req.method === "POST" && path === CHAT_PATH;
    if (!isChat && !(req.method === "GET" && path === MODELS_PATH)) {
      return toResponse(openaiError(404, `no route for ${req.method} ${path}`), null);
    }
    const rec: RecordedRequest = {
      method: req.method,
      path,
      // A copy: Deno's request headers may be unreadable once the exchange is over.
      headers: new Headers(req.headers),
      key: req.headers.get("authorization")?.match(/^Bearer\s+(.+)$/i)?.[1] ?? null,
      body: await readJsonObject(req),
      aborted: false,
    };
    // Deno 2's legacy default also aborts request.signal once the response is sent, so only
    // listen until we hand the response over; otherwise every answered request looks aborted.
    const onAbort = () => {
      rec.aborted = true;
      this.#abortedAt.set(rec, performance.now());
      this.#notify();
    };
    req.signal.addEventListener("abort", onAbort, { once: true });
    if (req.signal.aborted) onAbort();
    this.requests.push(rec);
    this.#notify();
    try {
      let reply: Reply;
      if (!isChat) reply = this.#models ?? openaiError(404, "models endpoint not available");
      // The real InternLM does not stream reliably: the proxy must never ask it to.
      else if (rec.body?.stream === true && !this.streams) {
        reply = openaiError(400, "stream not supported");
      } else {
        try {
          reply = await this.#responder(rec);
        } catch (e) {
          reply = textError(500, `fake upstream responder threw: ${e}`);
        }
      }
      const wait = AbortSignal.any([req.signal, this.#closing.signal]);
      if (reply.kind === "hang") await sleep(Infinity, wait);
      else if (reply.kind === "sse") return this.#sseResponse(reply, rec);
      else if (reply.kind !== "drop" && reply.delayMs) await sleep(reply.delayMs, wait);
      return toResponse(reply, rec);
    } finally {
      req.signal.removeEventListener("abort", onAbort);
    }
  }

  /** An `sse` reply's body: one part per pull, so the fake sends no faster than the client reads. */
  #sseResponse(reply: Extract<Reply, { kind: "sse" }>, rec: RecordedRequest): Response {
    const parts = Symbol.asyncIterator in reply.parts
      ? reply.parts[Symbol.asyncIterator]()
      : reply.parts[Symbol.iterator]();
    const closing = this.#closing.signal;
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const next = await untilAborted(Promise.resolve(parts.next()), closing);
        if (next === undefined || (next.done && reply.fail)) return controller.error(DROPPED);
        if (next.done) return controller.close();
        const part = next.value;
        controller.enqueue(typeof part === "string" ? new TextEncoder().encode(part) : part);
      },
      cancel: () => {
        rec.aborted = true;
        this.#abortedAt.set(rec, performance.now());
        this.#notify();
        void parts.return?.();
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", ...reply.headers },
    });
  }
}

/** `promise`'s value, or undefined as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Resolves after `ms` or as soon as `signal` aborts, whichever is first; leaves no timer. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(finish, ms) : undefined;
    signal.addEventListener("abort", finish, { once: true });
  });
}

async function readJsonObject(req: Request): Promise<Record<string, unknown> | null> {
  try {
    const parsed = JSON.parse(await req.text());
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function toResponse(reply: Reply, rec: RecordedRequest | null): Response {
  // Streams need the server's abort bookkeeping: FakeUpstream sends them itself.
  if (reply.kind === "sse") throw new Error("fake upstream: sse replies go through #sseResponse");
  // A hang only ends once the client left or close() runs; nobody reads this.
  if (reply.kind === "hang") return new Response(null, { status: 503 });
  if (reply.kind === "drop") {
    const partial = new TextEncoder().encode(
      reply.partialBody ?? '{"id":"chatcmpl-fake","object":"chat.completion","choi',
    );
    // Erroring the body stream after the first chunk makes Deno reset the connection, so the
    // client sees headers, some bytes, then a failed read (not a clean end of body).
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        if (partial.length) c.enqueue(partial);
      },
      pull(c) {
        c.error(DROPPED);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  }
  if (reply.kind === "text") {
    return new Response(reply.body, {
      status: reply.status ?? 200,
      headers: {
        "content-type": reply.contentType ?? "text/plain; charset=utf-8",
        ...reply.headers,
      },
    });
  }
  let body = reply.body;
  const model = rec?.body?.model;
  if (body && typeof body === "object" && echoModel.has(body) && typeof model === "string") {
    body = { ...body, model };
  }
  return new Response(JSON.stringify(body), {
    status: reply.status ?? 200,
    headers: { "content-type": "application/json", ...reply.headers },
  });
}

/** Options of {@link completion}. */
export interface CompletionOptions {
  /** Defaults to the request's `model` (or `"internlm2.5-latest"` if it has none). */
  model?: string;
  /** Added to the message as `reasoning_content` (InternLM / DeepSeek style). */
  reasoning_content?: string;
  /** Added to the message as `reasoning` (OpenRouter / vLLM style). */
  reasoning?: string;
  /** Added to the message as `tool_calls`. */
  tool_calls?: Array<
    { id: string; type: "function"; function: { name: string; arguments: string } }
  >;
  /** Defaults to `"tool_calls"` when tool calls are given, else `"stop"`. */
  finish_reason?: string;
  /** Repeats the choice n times (index 0..n-1); content of choice i > 0 gets the suffix `" #i"`. */
  n?: number;
  /** Defaults to 10 prompt tokens and ~1 completion token per 4 characters. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** Answer only after this many ms (cut short if the client aborts). */
  delayMs?: number;
}

/** A 200 reply with a valid OpenAI `chat.completion` body. */
export function completion(content: string | null, opts: CompletionOptions = {}): Reply {
  const n = opts.n ?? 1;
  const choices = Array.from({ length: n }, (_, index) => ({
    index,
    message: {
      role: "assistant",
      content: content !== null && index > 0 ? `${content} #${index}` : content,
      refusal: null,
      ...(opts.reasoning_content !== undefined && { reasoning_content: opts.reasoning_content }),
      ...(opts.reasoning !== undefined && { reasoning: opts.reasoning }),
      ...(opts.tool_calls && { tool_calls: opts.tool_calls }),
    },
    logprobs: null,
    finish_reason: opts.finish_reason ?? (opts.tool_calls?.length ? "tool_calls" : "stop"),
  }));
  const completionTokens = n * Math.max(1, Math.ceil((content?.length ?? 0) / 4));
  const body = {
    id: `chatcmpl-${crypto.randomUUID()}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: opts.model ?? DEFAULT_MODEL,
    choices,
    usage: opts.usage ??
      {
        prompt_tokens: 10,
        completion_tokens: completionTokens,
        total_tokens: 10 + completionTokens,
      },
  };
  if (opts.model === undefined) echoModel.add(body);
  return { kind: "json", body, delayMs: opts.delayMs };
}

function defaultErrorType(status: number): string {
  if (status >= 500) return "server_error";
  if (status === 429) return "rate_limit_error";
  if (status === 401) return "authentication_error";
  return "invalid_request_error";
}

/** An OpenAI-shaped error: `{"error":{message,type,param:null,code}}`. */
export function openaiError(
  status: number,
  message: string,
  extra: { type?: string; code?: string | null; headers?: Record<string, string> } = {},
): Reply {
  return {
    kind: "json",
    status,
    body: {
      error: {
        message,
        type: extra.type ?? defaultErrorType(status),
        param: null,
        code: extra.code ?? null,
      },
    },
    headers: extra.headers,
  };
}

/** LMDeploy's flat error shape, which some InternLM deployments return. */
export function lmdeployError(status: number, message: string): Reply {
  return {
    kind: "json",
    status,
    body: { object: "error", message, type: "invalid_request_error", code: status },
  };
}

/** A non-JSON error, e.g. a gateway's HTML page; content type defaults by the text's look. */
export function textError(status: number, text: string, contentType?: string): Reply {
  const looksHtml = /^\s*</.test(text);
  return {
    kind: "text",
    status,
    body: text,
    contentType: contentType ??
      (looksHtml ? "text/html; charset=utf-8" : "text/plain; charset=utf-8"),
  };
}

/** A 429 with an OpenAI-shaped body and, when given, a `Retry-After` header. */
export function rateLimited(retryAfterSeconds?: number): Reply {
  return openaiError(429, "Rate limit exceeded, please retry later", {
    code: "rate_limit_exceeded",
    headers: retryAfterSeconds === undefined
      ? undefined
      : { "retry-after": String(retryAfterSeconds) },
  });
}

// `deno task fake-upstream [PORT]`: a stand-in InternLM to try the proxy without a key or network.
// It streams too, when asked (`stream: true` only comes from a `type: openai` backend).
if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 9000);
  const up = await FakeUpstream.start(
    (req) =>
      req.body?.stream === true
        ? {
          kind: "sse",
          parts: slowly(
            sseEvents({
              content: ["Hello! ", "I am a fake ", "OpenAI-compatible server, ", "streaming."],
              reasoning: ["The user ", "greets me."],
              model: String(req.body.model),
            }),
            200,
          ),
        }
        : completion("Hello! I am a fake InternLM.", { reasoning_content: "The user greets me." }),
    port,
  );
  up.streams = true;
  console.log(`fake InternLM upstream: INTERNAI_API_BASE_URL=${up.baseUrl}`);
}
