// A seeded fuzz of the HTTP surface: at least 10 000 malformed requests (random bytes, truncated
// JSON, a wrong type in every field, deep nesting, huge strings, invalid UTF-8, odd methods and
// paths, odd header values). Every answer must be a 4xx in OpenAI's error shape, nothing may reach
// the upstream, nothing may crash, and /health must answer afterwards. The seed is fixed so CI is
// repeatable; FUZZ_SEED=N explores (or replays) another run.
// Also: the request limits at their documented defaults.
import assert from "node:assert/strict";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody, postChat, startProxy, type TestProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

const REQUESTS = 10_000;
const CONCURRENCY = 16;
/** Small enough that oversized bodies are cheap to send, so they can be frequent. */
const MAX_BODY = 64 * 1024;

/** mulberry32: a tiny, well-mixed 32-bit PRNG; the same seed gives the same run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One fuzz case: what to send, and a label for the per-kind counts. */
interface Case {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

class Gen {
  constructor(readonly rand: () => number) {}
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  bytes(n: number): Uint8Array<ArrayBuffer> {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
  /** Printable ASCII, with a few JSON-significant characters mixed in. */
  text(n: number): string {
    return Array.from({ length: n }, () => String.fromCharCode(32 + this.int(95))).join("");
  }
}

const CHAT_PATHS = ["/v1/chat/completions", "/chat/completions", "/v1/chat/completions/"];

/**
 * Values the validator must refuse for each field (on top of a body that is otherwise valid).
 * `null` is missing on purpose where OpenAI accepts null (max_tokens, seed, reasoning_effort, …).
 */
const WRONG: Record<string, (g: Gen) => unknown> = {
  model: (g) => g.pick([42, true, null, [], {}, "", "   ", ["internlm/x"], { id: "x" }]),
  messages: (g) => g.pick([[], "hi", 42, null, {}, true, { role: "user" }]),
  "messages[0]": (g) => g.pick(["hi", 42, null, [], true]),
  "messages[0].role": (g) => g.pick([42, null, "", [], {}, true]),
  "messages[0].content": (g) => g.pick([42, true, {}, { text: "x" }, 1.5]),
  stream: (g) => g.pick(["yes", 1, 0, null, [], {}, "true"]),
  stream_options: (g) => g.pick(["x", 1, true, []]),
  "stream_options.include_usage": (g) => g.pick(["y", 1, null, [], {}]),
  n: (g) => g.pick([0, -1, 1.5, 129, "2", null, true, 1e9]),
  tools: (g) => g.pick([{}, "fn", 42, null, true]),
  thinking_mode: (g) => g.pick(["on", 1, null, [], {}]),
  reasoning_effort: (g) => g.pick([1, true, [], {}]),
  temperature: (g) => g.pick(["hot", null, [], {}, true]),
  top_p: (g) => g.pick(["x", null, [], {}, false]),
  max_tokens: (g) => g.pick(["100", 1.5, true, [], {}]),
  max_completion_tokens: (g) => g.pick(["100", 2.5, false, [], {}]),
  presence_penalty: (g) => g.pick(["x", null, [], {}]),
  frequency_penalty: (g) => g.pick(["x", null, [], {}]),
  seed: (g) => g.pick(["1", 1.5, true, [], {}]),
  user: (g) => g.pick([1, null, [], {}, true]),
};

function wrongType(g: Gen): string {
  const body: Record<string, unknown> = chatBody({
    messages: [{ role: "user", content: "hi" }],
    stream_options: { include_usage: true },
  });
  const field = g.pick(Object.keys(WRONG));
  const value = WRONG[field](g);
  const m = /^(\w+)(?:\[0\])?(?:\.(\w+))?$/.exec(field)!;
  if (field.startsWith("messages[0]")) {
    const messages = body.messages as unknown[];
    if (m[2]) (messages[0] as Record<string, unknown>)[m[2]] = value;
    else messages[0] = value;
  } else if (m[2]) {
    (body[m[1]] as Record<string, unknown>)[m[2]] = value;
  } else {
    body[field] = value;
  }
  if (value === undefined) delete body[field];
  return JSON.stringify(body);
}

function deepNesting(g: Gen): string {
  const depth = 65 + g.int(20_000);
  const [open, close] = g.pick([["[", "]"], ['{"a":', "}"]]);
  const deep = open.repeat(depth) + "1" + close.repeat(depth);
  // Unbalanced half the time: then it is not even JSON.
  const tail = g.int(2) === 0 ? "" : close;
  return `{"model":"internlm/x","messages":[{"role":"user","content":"hi"}],"x":${deep}${tail}}`;
}

function hugeString(g: Gen): string {
  const size = g.int(2) === 0 ? MAX_BODY + 1 + g.int(MAX_BODY) : MAX_BODY - 200;
  // Within the cap, a huge string in a field of the wrong type; beyond it, anything: 413.
  return JSON.stringify(chatBody({ temperature: "x".repeat(size) }));
}

function invalidUtf8(g: Gen): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(chatBody({ temperature: "hot" })));
  const bad = g.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80], [0x80]]);
  const at = 1 + g.int(json.length - 2);
  return Uint8Array.from([...json.slice(0, at), ...bad, ...json.slice(at)]);
}

function truncatedJson(g: Gen): string {
  const full = JSON.stringify(chatBody({ temperature: 0.5, stream: g.int(2) === 0 }));
  return full.slice(0, g.int(full.length - 1));
}

const ODD_METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "post", "M-SEARCH"];
const ODD_PATHS = [
  "/",
  "/v1",
  "/v1/",
  "/v2/chat/completions",
  "/v1/chat",
  "/v1/chat/completions/extra",
  "/v1/completions",
  "/v1/embeddings",
  "/V1/CHAT/COMPLETIONS",
  "/v1/chat/completions%00",
  "/%2e%2e/%2e%2e/etc/passwd",
  "/v1/models/%ZZ",
  "/v1/models/%E0%A4%A",
  "/v1/models/internlm/%F0%9F%98%80",
  "/v1/models/no-such-model",
  "/health/x",
  "/admin",
  "/.env",
];

function oddRoute(g: Gen): Pick<Case, "method" | "path"> {
  // A chat path with any method but POST, or any other path: never a valid route+method.
  if (g.int(2) === 0) {
    return { method: g.pick(ODD_METHODS.filter((m) => m !== "post")), path: g.pick(CHAT_PATHS) };
  }
  const path = g.int(4) === 0
    ? `/${encodeURIComponent(g.text(1 + g.int(300)))}`
    : g.pick(ODD_PATHS);
  const method = path.startsWith("/v1/models/")
    ? g.pick(["GET", "HEAD", "PUT"])
    : g.pick([...ODD_METHODS, "POST"]);
  return { method, path };
}

const ODD_HEADERS: Array<(g: Gen) => [string, string]> = [
  (
    g,
  ) => [
    "content-type",
    g.pick([
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
      "",
      g.text(200),
    ]),
  ],
  (
    g,
  ) => [
    "authorization",
    g.pick(["Bearer", "Basic Og==", `Bearer ${g.text(2000)}`, "\u00ff\u00fe"]),
  ],
  (g) => ["accept", g.pick(["text/event-stream", "*/*;q=0", g.text(100)])],
  (g) => ["content-encoding", g.pick(["gzip", "br", "identity", "x-unknown"])],
  (g) => ["x-forwarded-host", g.pick(["evil.example", "127.0.0.1:1", g.text(50)])],
  (g) => ["user-agent", g.text(1 + g.int(4000))],
  (g) => ["x-request-id", g.pick(["\u00e9\u00e8\u0080\u00a0", "", "a".repeat(129), g.text(40)])],
  (g) => ["accept-encoding", g.pick(["gzip", "deflate, br", "*", g.text(30)])],
];

function oddHeaders(g: Gen): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = g.int(4); i > 0; i--) {
    const [name, value] = g.pick(ODD_HEADERS)(g);
    headers[name] = value;
  }
  return headers;
}

const BODIES: Array<[string, (g: Gen) => string | Uint8Array<ArrayBuffer>]> = [
  ["random bytes", (g) => g.bytes(g.int(2048))],
  ["random text", (g) => g.text(g.int(2048))],
  ["truncated JSON", truncatedJson],
  ["wrong type", wrongType],
  ["deep nesting", deepNesting],
  ["huge string", hugeString],
  ["invalid UTF-8", invalidUtf8],
  ["not an object", (g) => g.pick(["[]", "null", "42", '"chat"', "true", "[{}]"])],
];

function makeCase(g: Gen): Case {
  const headers = oddHeaders(g);
  if (g.int(6) === 0) {
    const { method, path } = oddRoute(g);
    const hasBody = method !== "GET" && method !== "HEAD";
    return {
      kind: "odd method/path",
      method,
      path,
      headers,
      body: hasBody ? g.text(g.int(200)) : undefined,
    };
  }
  const [kind, body] = g.pick(BODIES);
  return { kind, method: "POST", path: g.pick(CHAT_PATHS), headers, body: body(g) };
}

/**
 * Sends `cases` with {@link CONCURRENCY} in flight; every answer must be a 4xx JSON error whose
 * body passes `check` (HEAD answers have none).
 */
async function sendAll(
  proxy: TestProxy,
  cases: Case[],
  check: (body: unknown) => void,
): Promise<{ byStatus: Map<number, number>; failures: string[] }> {
  const byStatus = new Map<number, number>();
  const failures: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < cases.length) {
      const c = cases[next++];
      let status = 0;
      try {
        const res = await fetch(`${proxy.origin}${c.path}`, {
          method: c.method,
          headers: c.headers,
          body: c.body,
        });
        status = res.status;
        const text = await res.text();
        if (c.method !== "HEAD") check(JSON.parse(text));
        assert.equal(res.headers.get("content-type"), "application/json");
      } catch (err) {
        failures.push(`${c.kind} ${c.method} ${c.path}: ${status} ${(err as Error).message}`);
      }
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      if (status < 400 || status > 499) {
        failures.push(`${c.kind} ${c.method} ${c.path}: status ${status}`);
      }
    }
  }));
  return { byStatus, failures };
}

Deno.test("fuzz: 10 000 malformed requests → all 4xx in OpenAI's shape, no crash, /health after", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") || 20_261_125);
  console.log(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const g = new Gen(prng(seed));
  const cases = Array.from({ length: REQUESTS }, () => makeCase(g));

  const up = await FakeUpstream.start(() => completion("must not be called"));
  const proxy: TestProxy = await startProxy({
    upstream: up.baseUrl,
    configText: `limits:\n  max_body_bytes: ${MAX_BODY}\n`,
    // Info, not debug: ten thousand requests' worth of debug lines would only slow the run.
    overrides: { logLevel: "info" },
  });
  let byStatus = new Map<number, number>();
  const byKind = new Map<string, number>();
  let failures: string[] = [];
  try {
    for (const c of cases) byKind.set(c.kind, (byKind.get(c.kind) ?? 0) + 1);
    ({ byStatus, failures } = await sendAll(proxy, cases, (body) => {
      assertSchema("ErrorResponse", body);
    }));
    const health = await fetch(`${proxy.origin}/health`);
    assert.equal(health.status, 200, "/health after the fuzz");
    await health.body?.cancel();
    // And a real request still works.
    const ok = await postChat(proxy, chatBody());
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await proxy.close();
    await up.close();
  }
  const count = (pred: (s: number) => boolean) =>
    [...byStatus].filter(([s]) => pred(s)).reduce((n, [, c]) => n + c, 0);
  const crashes = proxy.logs.filter((l) => l.includes("unexpected error")).length;
  console.log(
    `fuzz: ${REQUESTS} requests, ${count((s) => s >= 400 && s < 500)} 4xx, ` +
      `${count((s) => s >= 500)} 5xx, ${
        count((s) => s === 0)
      } failed connections, ${crashes} crashes`,
  );
  console.log(`fuzz: by status ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
  console.log(`fuzz: by kind ${JSON.stringify(Object.fromEntries(byKind))}`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures (seed ${seed})`);
  assert.equal(crashes, 0, "unexpected errors were logged");
  assert.equal(up.chatRequests().length, 1, "only the final valid request reached the upstream");
});

Deno.test("limits: the documented defaults hold (10 MiB body, 2048 messages, depth 64, 32 MiB answer)", async () => {
  const MiB = 1024 * 1024;
  let reply = completion("fine");
  const up = await FakeUpstream.start(() => reply);
  const proxy = await startProxy({ upstream: up.baseUrl, overrides: { logLevel: "info" } });
  const status = async (body: unknown) => {
    const res = await postChat(proxy, body);
    await res.body?.cancel();
    return res.status;
  };
  const message = { role: "user", content: "x" };
  const nested = (arrays: number) =>
    chatBody({ x: JSON.parse("[".repeat(arrays) + "]".repeat(arrays)) });
  try {
    const base = JSON.stringify(chatBody({ pad: "" }));
    const padTo = (size: number) =>
      base.replace('"pad":""', `"pad":"${"x".repeat(size - base.length)}"`);
    assert.equal(await status(padTo(10 * MiB)), 200, "exactly 10 MiB is allowed");
    assert.equal(await status(padTo(10 * MiB + 1)), 413);
    assert.equal(await status(chatBody({ messages: Array(2048).fill(message) })), 200);
    assert.equal(await status(chatBody({ messages: Array(2049).fill(message) })), 400);
    // The body object is level 1, so 63 nested arrays under it make 64 levels.
    assert.equal(await status(nested(63)), 200);
    assert.equal(await status(nested(64)), 400);
    reply = completion("y".repeat(32 * MiB - 400));
    assert.equal(await status(chatBody()), 200, "an answer under 32 MiB passes");
    reply = completion("y".repeat(32 * MiB));
    assert.equal(await status(chatBody()), 502, "an answer over 32 MiB is refused");
  } finally {
    await proxy.close();
    await up.close();
  }
  console.log(
    "limits: 10 MiB body ok / +1 byte 413; 2048 messages ok / 2049 400; depth 64 ok / 65 400; 32 MiB answer cap → 502",
  );
});

// --- Anthropic Messages: the same kinds of malformed input on its routes, every answer a 4xx in
// Anthropic's error shape, nothing upstream.

const ANTHROPIC_PATHS = [
  "/v1/messages",
  "/v1/messages?beta=true",
  "/v1/messages/",
  "/v1/messages/count_tokens",
  "/v1/messages/count_tokens?beta=true",
];

function anthropicBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: "claude-sonnet-4-5",
    max_tokens: 1024,
    system: [{ type: "text", text: "be brief", cache_control: { type: "ephemeral" } }],
    messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
    ...extra,
  };
}

const userBlock = (block: unknown) => ({ messages: [{ role: "user", content: [block] }] });

/** Bodies the Anthropic validator must refuse, each otherwise valid. */
const ANTHROPIC_WRONG: Array<(g: Gen) => Record<string, unknown>> = [
  (g) => ({ model: g.pick([42, true, null, [], {}, ""]) }),
  (g) => ({ messages: g.pick([[], "hi", 42, null, {}, true, [null], ["hi"], [[]]]) }),
  (g) => ({ messages: [{ role: g.pick(["tool", "", 1, null, "function"]), content: "hi" }] }),
  (g) => ({ messages: [{ role: "user", content: g.pick([42, true, {}, null, 1.5]) }] }),
  (g) => userBlock(g.pick(["text", 42, null, [], { text: "no type" }, { type: 7 }])),
  (g) => userBlock({ type: "text", text: g.pick([42, null, [], {}]) }),
  (g) => userBlock({ type: "image", source: g.pick([null, "x", {}, { type: "file" }]) }),
  (g) =>
    userBlock({
      type: "image",
      source: { type: "base64", media_type: "image/png", data: g.pick([1, null, {}]) },
    }),
  (g) => userBlock({ type: "image", source: { type: "url", url: g.pick([1, null, []]) } }),
  (g) => userBlock({ type: "tool_result", tool_use_id: g.pick([1, null, {}]), content: "x" }),
  (g) => userBlock({ type: "tool_result", tool_use_id: "t", content: g.pick([1, {}, true]) }),
  (g) => userBlock({ type: "tool_result", tool_use_id: "t", is_error: g.pick(["yes", 1, null]) }),
  (g) =>
    userBlock({
      type: "tool_result",
      tool_use_id: "t",
      content: [g.pick([1, "x", { type: "text", text: 2 }])],
    }),
  (g) => ({
    messages: [{
      role: "assistant",
      content: [g.pick([
        { type: "tool_use", id: 1, name: "W", input: {} },
        { type: "tool_use", id: "t", name: null, input: {} },
        { type: "tool_use", id: "t", name: "W", input: g.pick(["{}", [], null, 1]) },
        { type: "thinking", thinking: g.pick([1, null, {}]) },
        { type: "redacted_thinking", data: g.pick([1, null, {}]) },
      ])],
    }],
  }),
  (g) => ({ system: g.pick([42, true, {}, [1], [{ type: "text", text: 5 }]]) }),
  (g) => ({ max_tokens: g.pick(["100", 0, -1, 1.5, true, [], {}, null]) }),
  (g) => ({ temperature: g.pick(["hot", null, [], {}, true]) }),
  (g) => ({ top_p: g.pick(["x", null, [], {}]) }),
  (g) => ({ top_k: g.pick(["5", -1, 1.5, null]) }),
  (g) => ({ stop_sequences: g.pick(["END", [1], null, {}, [null]]) }),
  (g) => ({ stream: g.pick(["yes", 1, 0, null, [], {}]) }),
  (g) => ({ metadata: g.pick(["x", 1, [], { user_id: 5 }, null]) }),
  (g) => ({
    tools: g.pick([{}, "fn", 42, null, [1], [{ name: 1 }], [{ name: "a" }], [{
      name: "a",
      input_schema: "x",
    }]]),
  }),
  (g) => ({
    tool_choice: g.pick(["auto", 1, null, { type: "sometimes" }, { type: "tool" }, {
      type: "auto",
      disable_parallel_tool_use: "no",
    }]),
  }),
  (g) => ({
    thinking: g.pick(["on", 1, null, { type: "deep" }, { type: "enabled", budget_tokens: "1k" }]),
  }),
];

function anthropicCase(g: Gen): Case {
  const headers = oddHeaders(g);
  const path = g.pick(ANTHROPIC_PATHS);
  const roll = g.int(10);
  if (roll === 0) {
    const method = g.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]);
    const hasBody = method !== "GET" && method !== "HEAD";
    return {
      kind: "anthropic: wrong method",
      method,
      path,
      headers,
      body: hasBody ? g.text(50) : undefined,
    };
  }
  const body = (kind: string, text: string | Uint8Array<ArrayBuffer>): Case => ({
    kind: `anthropic: ${kind}`,
    method: "POST",
    path,
    headers,
    body: text,
  });
  if (roll <= 4) {
    return body("wrong type", JSON.stringify(anthropicBody(g.pick(ANTHROPIC_WRONG)(g))));
  }
  if (roll === 5) {
    const full = JSON.stringify(anthropicBody({ stream: g.int(2) === 0 }));
    return body("truncated JSON", full.slice(0, g.int(full.length - 1)));
  }
  if (roll === 6) {
    const size = g.int(2) === 0 ? MAX_BODY + 1 + g.int(MAX_BODY) : MAX_BODY - 400;
    return body("huge string", JSON.stringify(anthropicBody({ temperature: "x".repeat(size) })));
  }
  if (roll === 7) return body("deep nesting", deepNesting(g));
  if (roll === 8) {
    const json = new TextEncoder().encode(JSON.stringify(anthropicBody({ max_tokens: "x" })));
    const at = 1 + g.int(json.length - 2);
    return body(
      "invalid UTF-8",
      Uint8Array.from([...json.slice(0, at), 0xff, 0xfe, ...json.slice(at)]),
    );
  }
  return body(
    "random or not an object",
    g.pick([
      () => g.bytes(g.int(1024)),
      () => g.text(g.int(1024)),
      () => g.pick(["[]", "null", "42", '"m"', "[{}]"]),
    ])(),
  );
}

function assertAnthropicError(value: unknown): void {
  const body = value as { type?: unknown; error?: { type?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(body), ["type", "error"]);
  assert.equal(body.type, "error");
  assert.equal(typeof body.error?.type, "string");
  assert.equal(typeof body.error?.message, "string");
}

Deno.test("fuzz: 10 000 malformed Anthropic requests → all 4xx in Anthropic's shape, none upstream", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") || 20_261_201);
  console.log(`fuzz (anthropic): seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const g = new Gen(prng(seed));
  const cases = Array.from({ length: REQUESTS }, () => anthropicCase(g));
  const { byStatus, failures, logs, upstreamCalls } = await fuzzProxy((proxy) =>
    sendAll(proxy, cases, assertAnthropicError)
  );
  console.log(
    `fuzz (anthropic): by status ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`,
  );
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures (seed ${seed})`);
  assert.equal(logs.filter((l) => l.includes("unexpected error")).length, 0);
  assert.equal(upstreamCalls, 0, "nothing reached the upstream");
});

/**
 * Runs `send` against a proxy (body cap {@link MAX_BODY}) in front of an upstream that must not be
 * called; returns what it found, the proxy's log and how many calls reached the upstream.
 */
async function fuzzProxy(
  send: (proxy: TestProxy) => Promise<{ byStatus: Map<number, number>; failures: string[] }>,
) {
  const up = await FakeUpstream.start(() => completion("must not be called"));
  const proxy = await startProxy({
    upstream: up.baseUrl,
    configText: `limits:\n  max_body_bytes: ${MAX_BODY}\n`,
    overrides: { logLevel: "info" },
  });
  try {
    return { ...await send(proxy), logs: proxy.logs, upstreamCalls: up.chatRequests().length };
  } finally {
    await proxy.close();
    await up.close();
  }
}

// ---- the Responses API (POST /v1/responses and the stored-response routes) ----

const RESPONSES_PATHS = ["/v1/responses", "/responses", "/v1/responses/"];

/** A valid Responses request, with one item of every kind the wrong values are put into. */
function responsesBody(): Record<string, unknown> {
  return {
    model: "internlm/internlm2.5-latest",
    input: [
      { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
      { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: "c1", output: "ok" },
    ],
    tools: [{ type: "function", name: "f", parameters: { type: "object" } }],
    reasoning: { effort: "low", summary: "auto" },
    text: { format: { type: "text" } },
  };
}

/** Values the Responses front end must refuse, by where they go. */
const RESPONSES_WRONG: Record<string, (g: Gen) => unknown> = {
  model: (g) => g.pick([42, true, [], {}, "", "   "]),
  input: (g) => g.pick([42, true, {}, null]),
  "input[0]": (g) => g.pick(["hi", 42, null, [], true]),
  "input[0].role": (g) => g.pick(["robot", 42, "", [], {}]),
  "input[0].content": (g) => g.pick([42, true, {}, [{ type: "input_file" }], [{ type: 7 }], [1]]),
  "input[0].type": (g) => g.pick([42, [], {}]),
  "input[1].arguments": (g) => g.pick([42, null, {}, []]),
  "input[1].call_id": (g) => g.pick([42, null, {}]),
  "input[2].call_id": (g) => g.pick(["c-unknown", 42, null]),
  "input[2].output": (g) => g.pick([42, null, {}, true]),
  instructions: (g) => g.pick([42, true, {}]),
  stream: (g) => g.pick(["yes", 1, 0, [], {}]),
  store: (g) => g.pick(["no", 0, [], {}]),
  previous_response_id: (g) => g.pick(["", 42, [], "resp_00000000000000000000000000000000"]),
  tools: (g) => g.pick([{}, "fn", 42, true]),
  "tools[0]": (g) => g.pick(["f", 42, null, {}, { type: 3 }]),
  "tools[0].name": (g) => g.pick(["", 42, null, []]),
  tool_choice: (g) => g.pick([42, true, []]),
  parallel_tool_calls: (g) => g.pick(["yes", 1, []]),
  max_output_tokens: (g) => g.pick([0, -1, 1.5, "100", true]),
  temperature: (g) => g.pick([-1, 3, "hot", []]),
  top_p: (g) => g.pick([2, "x", {}]),
  reasoning: (g) => g.pick(["high", 1, []]),
  "reasoning.effort": (g) => g.pick(["max", 1, {}]),
  "reasoning.summary": (g) => g.pick(["long", 2, []]),
  text: (g) => g.pick(["json", 1, []]),
  "text.format": (g) => g.pick([{ type: "xml" }, { type: "json_schema" }, "json", 3]),
  metadata: (g) => g.pick(["m", 1, []]),
  user: (g) => g.pick([1, [], {}]),
};

function wrongResponses(g: Gen): string {
  const body = responsesBody();
  const field = g.pick(Object.keys(RESPONSES_WRONG));
  const value = RESPONSES_WRONG[field](g);
  // "input[1].arguments" → ["input", 1, "arguments"]: walk to the parent, set the last key.
  const path = field.split(/[.[\]]+/).filter((p) => p !== "").map((p) =>
    /^\d+$/.test(p) ? Number(p) : p
  );
  let parent = body as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  parent[path[path.length - 1]] = value;
  return JSON.stringify(body);
}

function storedPath(g: Gen): string {
  const id = g.pick([
    "resp_00000000000000000000000000000000",
    "nope",
    encodeURIComponent(g.text(20)),
  ]);
  return g.pick([
    `/v1/responses/${id}`,
    `/responses/${id}`,
    `/v1/responses/${id}/input_items`,
    `/v1/responses/${id}/input_items?limit=${g.pick(["0", "101", "x", "5"])}`,
    `/v1/responses/${id}/input_items?order=${g.pick(["up", "asc"])}&after=${g.text(5)}`,
    `/v1/responses/${id}/cancel`,
    "/v1/responses/%ZZ",
  ]);
}

function makeResponsesCase(g: Gen): Case {
  const headers = oddHeaders(g);
  const roll = g.int(8);
  if (roll === 0) {
    // Stored-response routes for ids that were never stored, with odd methods and queries.
    const method = g.pick(["GET", "DELETE", "POST", "PUT", "HEAD"]);
    return { kind: "stored route", method, path: storedPath(g), headers };
  }
  if (roll === 1) {
    const method = g.pick(["GET", "PUT", "DELETE", "PATCH", "HEAD"]);
    return { kind: "odd method", method, path: g.pick(RESPONSES_PATHS), headers };
  }
  const path = g.pick(RESPONSES_PATHS);
  if (roll < 5) {
    return { kind: "wrong type", method: "POST", path, headers, body: wrongResponses(g) };
  }
  const [kind, body] = g.pick(BODIES.filter(([k]) => k !== "wrong type"));
  return { kind, method: "POST", path, headers, body: body(g) };
}

Deno.test("fuzz: 10 000 malformed Responses requests → all 4xx in OpenAI's shape, none upstream", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") || 20_261_213);
  console.log(`fuzz (responses): seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const g = new Gen(prng(seed));
  const cases = Array.from({ length: REQUESTS }, () => makeResponsesCase(g));
  const { byStatus, failures, logs, upstreamCalls } = await fuzzProxy((proxy) =>
    sendAll(proxy, cases, (body) => assertSchema("ErrorResponse", body))
  );
  console.log(
    `fuzz (responses): by status ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`,
  );
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures (seed ${seed})`);
  assert.equal(logs.filter((l) => l.includes("unexpected error")).length, 0);
  assert.equal(upstreamCalls, 0, "nothing reached the upstream");
});

// ---- Gemini: the same fuzz on its routes, every answer in Google's error shape ----

const GEMINI_PATHS = [
  "/v1beta/models/internlm/intern-s1:generateContent",
  "/v1/models/gemini-2.5-pro:generateContent",
  "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
  "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
  "/v1beta/models/gemini-2.5-flash:countTokens",
];

const GEMINI_TEXT = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };

/** Gemini request fields and values the front end must refuse for each. */
const GEMINI_WRONG: Array<[string, (g: Gen) => unknown]> = [
  ["contents", (g) => g.pick([[], "hi", 42, null, {}, true, [[]]])],
  ["contents.0", (g) => g.pick(["hi", 42, null, [], true])],
  ["contents.0.role", (g) => g.pick([42, "", "system", "assistant", [], {}, true])],
  ["contents.0.parts", (g) => g.pick([[], "hi", 42, null, {}, true])],
  ["contents.0.parts.0", (g) => g.pick(["hi", 42, null, [], {}, { thought: true }])],
  ["contents.0.parts.0.text", (g) => g.pick([42, true, {}, [], 1.5])],
  ["contents.0.parts.0.inlineData", (g) => g.pick([{ mimeType: "image/png" }, { data: "x" }, 42])],
  ["contents.0.parts.0.fileData", (g) => g.pick([{ fileUri: "gs://b/x" }, { fileUri: 42 }, "x"])],
  [
    "contents.0.parts.0.functionResponse",
    (g) => g.pick([{ name: "f", response: {} }, { response: {} }, "x"]),
  ],
  ["systemInstruction", (g) => g.pick([42, true, [], { parts: "x" }, { parts: [{ text: 1 }] }])],
  ["generationConfig", (g) => g.pick([42, "x", [], true])],
  ["generationConfig.temperature", (g) => g.pick(["hot", [], {}, true])],
  ["generationConfig.topP", (g) => g.pick(["x", [], {}, false])],
  ["generationConfig.maxOutputTokens", (g) => g.pick(["100", 1.5, true, [], {}])],
  ["generationConfig.candidateCount", (g) => g.pick([0, -1, 9, 1.5, "2"])],
  ["generationConfig.stopSequences", (g) => g.pick(["END", [1], {}, true])],
  ["generationConfig.thinkingConfig", (g) => g.pick([42, "x", [], { thinkingBudget: "x" }])],
  ["generationConfig.responseJsonSchema", (g) => g.pick([42, "OBJECT", [], { type: 1 }])],
  ["tools", (g) => g.pick([{}, "fn", 42, true, [42], [{ functionDeclarations: {} }]])],
  ["tools.0.functionDeclarations.0", (g) => g.pick([{}, { name: "" }, { name: 1 }, "f"])],
  ["toolConfig.functionCallingConfig.mode", (g) => g.pick(["SOMETIMES", 1, [], {}])],
  ["cachedContent", (g) => g.pick(["cachedContents/1", "x"])],
];

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let at: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= /^\d+$/.test(keys[keys.indexOf(key) + 1] ?? "") ? [] : {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = value;
}

function geminiWrongType(g: Gen): string {
  const body: Record<string, unknown> = structuredClone(GEMINI_TEXT);
  const [path, value] = g.pick(GEMINI_WRONG);
  if (path.startsWith("generationConfig.response")) {
    body.generationConfig = { responseMimeType: "application/json" };
  }
  if (path.startsWith("tools.0.functionDeclarations")) body.tools = [{ functionDeclarations: [] }];
  if (path.startsWith("toolConfig")) body.tools = [{ functionDeclarations: [{ name: "f" }] }];
  setPath(body, path, value(g));
  return JSON.stringify(body);
}

const GEMINI_BODIES: Array<[string, (g: Gen) => string | Uint8Array<ArrayBuffer>]> = [
  ["random bytes", (g) => g.bytes(g.int(2048))],
  ["random text", (g) => g.text(g.int(2048))],
  ["truncated JSON", (g) => {
    const full = JSON.stringify({ ...GEMINI_TEXT, generationConfig: { temperature: 0.5 } });
    return full.slice(0, g.int(full.length - 1));
  }],
  ["wrong type", geminiWrongType],
  ["deep nesting", (g) => {
    const depth = 65 + g.int(20_000);
    return `{"contents":[{"parts":[{"text":"x"}]}],"x":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  }],
  ["huge string", (g) => {
    const size = g.int(2) === 0 ? MAX_BODY + 1 + g.int(MAX_BODY) : MAX_BODY - 200;
    return JSON.stringify({ ...GEMINI_TEXT, generationConfig: { temperature: "x".repeat(size) } });
  }],
  ["invalid UTF-8", (g) => {
    const json = new TextEncoder().encode(JSON.stringify(GEMINI_TEXT));
    const at = 1 + g.int(json.length - 2);
    return Uint8Array.from([...json.slice(0, at), 0xc0, 0x80, ...json.slice(at)]);
  }],
  ["not an object", (g) => g.pick(["[]", "null", "42", '"chat"', "true", "[{}]"])],
];

function makeGeminiCase(g: Gen): Case {
  const headers = oddHeaders(g);
  const path = g.pick(GEMINI_PATHS);
  if (g.int(8) === 0) {
    // Under /v1/, where OpenAI's routes match too, Google's client header picks Gemini's shape.
    if (path.startsWith("/v1/")) headers["x-goog-api-client"] = "google-genai-sdk/3.3.0";
    return { kind: "odd method", method: g.pick(["PUT", "DELETE", "PATCH"]), path, headers };
  }
  const [kind, body] = g.pick(GEMINI_BODIES);
  return { kind, method: "POST", path, headers, body: body(g) };
}

Deno.test("fuzz: 10 000 malformed Gemini requests → all 4xx in Google's shape, none upstream", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") || 20_261_201);
  console.log(`fuzz gemini: seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const g = new Gen(prng(seed));
  const cases = Array.from({ length: REQUESTS }, () => makeGeminiCase(g));
  const up = await FakeUpstream.start(() => completion("must not be called"));
  const proxy = await startProxy({
    upstream: up.baseUrl,
    configText: `limits:\n  max_body_bytes: ${MAX_BODY}\n`,
    overrides: { logLevel: "info" },
  });
  let byStatus = new Map<number, number>();
  let failures: string[] = [];
  try {
    ({ byStatus, failures } = await sendAll(proxy, cases, (body) => {
      const { error } = body as { error: { code: number; message: string; status: string } };
      assert.ok(error.code >= 400 && error.code < 500, "error.code is the 4xx status");
      assert.equal(typeof error.message, "string");
      assert.match(error.status, /^[A-Z_]+$/);
    }));
    const ok = await fetch(`${proxy.origin}${GEMINI_PATHS[0]}`, {
      method: "POST",
      body: JSON.stringify(GEMINI_TEXT),
    });
    assert.equal(ok.status, 200, "a valid request still works");
    await ok.body?.cancel();
  } finally {
    await proxy.close();
    await up.close();
  }
  const crashes = proxy.logs.filter((l) => l.includes("unexpected error")).length;
  console.log(`fuzz gemini: by status ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures (seed ${seed})`);
  assert.equal(crashes, 0, "unexpected errors were logged");
  assert.equal(up.chatRequests().length, 1, "only the final valid request reached the upstream");
});
