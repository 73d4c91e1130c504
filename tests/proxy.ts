/**
 * Runs the proxy in-process on an ephemeral loopback port for tests, with its log captured.
 *
 * @module
 */

import { createHandler } from "../src/edge/handler.ts";
import { onServeError } from "../src/streams/stream_body.ts";
import { loadConfig, type Overrides } from "../src/config/config.ts";
import { FakeUpstream, type Responder } from "./fake_upstream.ts";

/** A running proxy. */
export interface TestProxy {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `http://127.0.0.1:PORT/v1`, the OpenAI SDK's base URL. */
  baseUrl: string;
  /** Every log line written so far. */
  logs: string[];
  close(): Promise<void>;
}

/** Options for {@link startProxy}. */
export interface StartOptions {
  /** Upstream base URL; becomes `INTERNAI_API_BASE_URL`. */
  upstream?: string;
  /** InternLM keys; become `INTERNAI_API_KEY`, `INTERNAI_API_KEY_1`, … */
  keys?: string[];
  env?: Record<string, string>;
  configText?: string;
  overrides?: Overrides;
}

export async function startProxy(options: StartOptions = {}): Promise<Promise<TestProxy>> {
  const env: Record<string, string> = { ...options.env };
  if (options.upstream) env.INTERNAI_API_BASE_URL = options.upstream;
  (options.keys ?? ["test-key-0"]).forEach((key, i) => {
    env[i === 0 ? "INTERNAI_API_KEY" : `INTERNAI_API_KEY_${i}`] = key;
  });
  const logs: string[] = [];
  const config = await loadConfig({
    env,
    overrides: { logLevel: "debug", ...options.overrides },
    configText: options.configText,
    logSink: (line) => logs.push(line),
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, onError: onServeError },
    createHandler(config),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return Promise.resolve({
    origin,
    baseUrl: `${origin}/v1`,
    logs,
    close: async () => {
      await server.shutdown();
      await config.state.close();
    },
  });
}

/** Runs `fn` against a proxy in front of a fake upstream answering with `responder`; closes both. */
export async function withProxy(
  responder: Responder | undefined,
  fn: (ctx: { up: FakeUpstream; proxy: TestProxy }) => Promise<void>,
  options: StartOptions = {},
): Promise<void> {
  const up = await FakeUpstream.start(responder);
  const proxy = await startProxy({ upstream: up.baseUrl, ...options });
  try {
    await fn({ up, proxy });
  } finally {
    await proxy.close();
    await up.close();
  }
}

/** Resolves once `check()` is true, polling every 5 ms; rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 2000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A `chat.completion.chunk` as tests read it off the wire. */
export type StreamChunk = {
  id: string;
  created: number;
  model: string;
  choices: Array<{
    index: number;
    finish_reason: string | null;
    delta: {
      role?: string;
      content?: string;
      reasoning_content?: string;
      reasoning?: string;
      tool_calls?: Array<
        {
          index: number;
          id?: string;
          type?: string;
          function: { name?: string; arguments: string };
        }
      >;
    };
  }>;
  usage?: unknown;
};

/** POSTs `body` (JSON-encoded unless a string) to the proxy's chat endpoint. */
export function postChat(
  proxy: TestProxy,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${proxy.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Splits an SSE body into its `data:` payloads and comment lines, in order. */
export function parseSse(text: string): { data: string[]; comments: string[] } {
  const data: string[] = [];
  const comments: string[] = [];
  for (const event of text.split("\n\n")) {
    for (const line of event.split("\n")) {
      if (line.startsWith("data: ")) data.push(line.slice(6));
      else if (line.startsWith(":")) comments.push(line);
    }
  }
  return { data, comments };
}

/** A minimal valid chat request. */
export function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: "internlm/internlm2.5-latest",
    messages: [{ role: "user", content: "Hello!" }],
    ...extra,
  };
}

/**
 * Runs `fn` against a proxy whose one backend, `local`, is `type: openai` in front of a fake
 * server that streams (ask for `local/<model>`); closes both. `options.configText` is appended to
 * the backend's config, `options.env` passed on.
 *
 * @example
 * ```ts
 * await withStreamingUpstream(() => ({ kind: "sse", parts: sseEvents(script) }), async ({ proxy }) => {
 *   await postChat(proxy, chatBody({ model: "local/served-model", stream: true }));
 * });
 * ```
 */
export async function withStreamingUpstream(
  responder: Responder,
  fn: (ctx: { up: FakeUpstream; proxy: TestProxy }) => Promise<void>,
  options: { configText?: string; env?: Record<string, string> } = {},
): Promise<void> {
  const up = await FakeUpstream.start(responder);
  up.streams = true;
  const proxy = await startProxy({
    configText:
      `backends:\n  local:\n    type: openai\n    api_url: ${up.baseUrl}\n    api_keys: [k1]\n` +
      (options.configText ?? ""),
    env: options.env,
  });
  try {
    await fn({ up, proxy });
  } finally {
    await proxy.close();
    await up.close();
  }
}
