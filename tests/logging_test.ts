// Request ids (x-request-id honoured, validated or generated, on every response and log line) and
// the two log formats: one readable text line per request, or JSON lines with named fields.
import assert from "node:assert/strict";
import { parseCommand, UsageError } from "../src/config/cli.ts";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { isValidRequestId, MAX_REQUEST_ID_LENGTH, requestId } from "../src/edge/request_id.ts";
import { isoTime } from "../src/operations/log.ts";
import { completion, openaiError, rateLimited } from "./fake_upstream.ts";
import { chatBody, eventually, postChat, type TestProxy, withProxy } from "./proxy.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Distinctive fake keys: any of them (or a long piece of one) in a log line is a leak. */
const KEYS = ["sk-obs-ALPHA-7f3a9c1e5b", "sk-obs-BRAVO-2d8e4f6a0c", "sk-obs-CHARLIE-9b1c3e5d7f"];

function assertNoKey(lines: readonly string[]): void {
  for (const line of lines) {
    for (const key of KEYS) {
      assert.ok(!line.includes(key), `a key leaked into: ${line}`);
      assert.ok(!line.includes(key.slice(-10)), `part of a key leaked into: ${line}`);
    }
  }
}

/** The log lines of one request, found by its id. */
function linesOf(proxy: TestProxy, id: string): string[] {
  return proxy.logs.filter((l) => l.includes(id));
}

/** A JSON request line, with the fields these tests read typed. */
interface RequestRecord {
  msg: string;
  status: number;
  stream_mode: string | null;
  bytes_out: number;
  error: string | null;
}

/** The JSON request lines of one request. */
function requestRecords(proxy: TestProxy, id: string): RequestRecord[] {
  return linesOf(proxy, id).map((l) => JSON.parse(l)).filter((r) => r.msg === "request");
}

Deno.test("request ids: only bounded, safe ids are kept; others are replaced by a UUID", () => {
  for (const ok of ["abc", "0f8c-11ee.x_y:z", "dGVzdA+/=", "a".repeat(MAX_REQUEST_ID_LENGTH)]) {
    assert.ok(isValidRequestId(ok), ok);
    assert.equal(requestId(ok), ok);
  }
  const bad = [null, "", "a".repeat(MAX_REQUEST_ID_LENGTH + 1), "has space", 'q"uote', "x\ny", "é"];
  for (const id of bad) {
    assert.ok(!isValidRequestId(id), String(id));
    assert.match(requestId(id), UUID);
  }
  assert.notEqual(requestId(null), requestId(null));
});

Deno.test("x-request-id: echoed on success, streams and errors, and on every log line", async () => {
  await withProxy(() => completion("hi"), async ({ proxy }) => {
    const cases: Array<[string, () => Promise<Response>, number]> = [
      ["req-ok-1", () => postChat(proxy, chatBody(), { "x-request-id": "req-ok-1" }), 200],
      [
        "req-stream-2",
        () => postChat(proxy, chatBody({ stream: true }), { "x-request-id": "req-stream-2" }),
        200,
      ],
      ["req-bad-3", () => postChat(proxy, "{nope", { "x-request-id": "req-bad-3" }), 400],
      [
        "req-404-4",
        () => fetch(`${proxy.origin}/nowhere`, { headers: { "x-request-id": "req-404-4" } }),
        404,
      ],
      [
        "req-405-5",
        () =>
          fetch(`${proxy.baseUrl}/models`, {
            method: "PUT",
            headers: { "x-request-id": "req-405-5" },
          }),
        405,
      ],
      [
        "req-health-6",
        () => fetch(`${proxy.origin}/health`, { headers: { "x-request-id": "req-health-6" } }),
        200,
      ],
    ];
    for (const [id, send, status] of cases) {
      const res = await send();
      await res.body?.cancel();
      assert.equal(res.status, status, id);
      assert.equal(res.headers.get("x-request-id"), id);
      await eventually(() => linesOf(proxy, id).length > 0, `a log line for ${id}`);
      const [line] = linesOf(proxy, id);
      assert.match(line, new RegExp(` ${status} .*request_id=${id}(?: |$)`));
    }
  });
});

Deno.test("x-request-id: generated when absent, replaced when invalid (never echoed)", async () => {
  await withProxy(() => completion("hi"), async ({ proxy }) => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await postChat(proxy, chatBody());
      await res.body?.cancel();
      const id = res.headers.get("x-request-id") ?? "";
      assert.match(id, UUID);
      ids.add(id);
      assert.equal(linesOf(proxy, id).length, 1);
    }
    assert.equal(ids.size, 3, "each request gets its own id");

    for (const bad of ["has spaces in it", "x".repeat(129), "<script>alert(1)</script>"]) {
      const res = await postChat(proxy, chatBody(), { "x-request-id": bad });
      await res.body?.cancel();
      const id = res.headers.get("x-request-id") ?? "";
      assert.match(id, UUID);
      assert.equal(linesOf(proxy, id).length, 1);
      assert.ok(!proxy.logs.some((l) => l.includes(bad)), "the rejected id is not logged");
    }
  });
});

Deno.test("every log line of a request carries its id, backend warnings included", async () => {
  let calls = 0;
  await withProxy(
    () => calls++ === 0 ? rateLimited(30) : completion("second key answers"),
    async ({ proxy }) => {
      const res = await postChat(proxy, chatBody(), { "x-request-id": "trace-429" });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const lines = linesOf(proxy, "trace-429");
      assert.equal(lines.length, 2, lines.join("\n"));
      assert.match(
        lines[0],
        / WARN backend internlm key 1\/2: rate-limited \(429\).* request_id=trace-429$/,
      );
      assert.match(lines[1], / INFO POST \/v1\/chat\/completions 200 .*key=2\/2 attempts=2 /);
      assertNoKey(proxy.logs);
    },
    { keys: KEYS.slice(0, 2) },
  );
});

Deno.test("text format: one readable line per request; client-chosen values cannot break it", async () => {
  await withProxy(() => completion("hi"), async ({ proxy }) => {
    let res = await postChat(proxy, chatBody(), { "x-request-id": "t-1" });
    const sent = (await res.arrayBuffer()).byteLength;
    assert.match(
      linesOf(proxy, "t-1")[0],
      new RegExp(
        String
          .raw`^\d{4}-\d\d-\d\dT[\d:.]+Z INFO POST /v1/chat/completions 200 frontend=openai_chat backend=internlm ` +
          String.raw`model=internlm2\.5-latest key=1/1 attempts=1 upstream_ms=\d+ ms=\d+ ` +
          `bytes=${sent} request_id=t-1$`,
      ),
    );
    // A model name with a newline and quotes goes to the default backend as it is, and is logged quoted.
    res = await postChat(proxy, chatBody({ model: 'evil\nINFO forged line "x"' }), {
      "x-request-id": "t-2",
    });
    await res.body?.cancel();
    const lines = linesOf(proxy, "t-2");
    assert.equal(lines.length, 1);
    assert.ok(lines[0].includes(String.raw`model="evil\nINFO forged line \"x\""`), lines[0]);
    assert.ok(proxy.logs.every((l) => !l.includes("\n")));
  });
});

Deno.test("json format: every line parses, request lines carry all fields, no key anywhere", async () => {
  let rejectAll = false;
  await withProxy(
    () => rejectAll ? openaiError(401, "invalid api key") : completion("json please"),
    async ({ proxy }) => {
      let res = await postChat(proxy, chatBody(), { "x-request-id": "j-plain" });
      const plainBytes = (await res.arrayBuffer()).byteLength;
      res = await postChat(proxy, chatBody({ stream: true }), { "x-request-id": "j-stream" });
      const streamBytes = (await res.arrayBuffer()).byteLength;
      res = await postChat(proxy, "{", { "x-request-id": "j-bad" });
      await res.body?.cancel();
      rejectAll = true;
      res = await postChat(proxy, chatBody(), { "x-request-id": "j-rejected" });
      assert.equal(res.status, 502);
      await res.body?.cancel();

      const records = proxy.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const r of records) {
        assert.match(String(r.time), ISO_TIME);
        assert.ok(["error", "warn", "info", "debug"].includes(String(r.level)));
        assert.equal(typeof r.msg, "string");
      }
      const request = (id: string) =>
        records.find((r) => r.msg === "request" && r.request_id === id);
      assert.deepEqual(Object.keys(request("j-plain")!), [
        "time",
        "level",
        "msg",
        "request_id",
        "method",
        "path",
        "status",
        "frontend",
        "backend",
        "model",
        "requested_model",
        "alias",
        "fallbacks",
        "key_slot",
        "key_slots",
        "attempts",
        "upstream_ms",
        "total_ms",
        "stream",
        "stream_mode",
        "bytes_out",
        "error",
      ]);
      const plain = request("j-plain")!;
      assert.equal(plain.level, "info");
      assert.equal(plain.method, "POST");
      assert.equal(plain.path, "/v1/chat/completions");
      assert.equal(plain.status, 200);
      assert.equal(plain.backend, "internlm");
      assert.equal(plain.model, "internlm2.5-latest");
      assert.ok(plain.key_slot === 1 || plain.key_slot === 2 || plain.key_slot === 3);
      assert.equal(plain.key_slots, 3);
      assert.equal(plain.attempts, 1);
      assert.ok(typeof plain.upstream_ms === "number" && typeof plain.total_ms === "number");
      assert.ok(plain.upstream_ms <= plain.total_ms);
      assert.equal(plain.stream, false);
      assert.equal(plain.bytes_out, plainBytes);
      assert.equal(plain.error, null);

      const stream = request("j-stream")!;
      assert.equal(stream.stream, true);
      assert.equal(stream.stream_mode, "synthesized");
      assert.equal(stream.bytes_out, streamBytes);

      const bad = request("j-bad")!;
      assert.equal(bad.status, 400);
      assert.equal(bad.backend, null);
      assert.equal(bad.attempts, 0);
      assert.match(String(bad.error), /not valid JSON/);

      const rejected = request("j-rejected")!;
      assert.equal(rejected.level, "error");
      assert.equal(rejected.attempts, 3, "each key tried once");
      const warnings = records.filter((r) => r.level === "warn" && r.request_id === "j-rejected");
      assert.equal(warnings.length, 3);
      assertNoKey(proxy.logs);
    },
    { keys: KEYS, overrides: { logFormat: "json" } },
  );
});

Deno.test("a stream is logged when it ends: bytes sent, or why it stopped", async () => {
  await withProxy(
    () => ({ kind: "hang" }),
    async ({ proxy }) => {
      const res = await postChat(proxy, chatBody({ stream: true }), { "x-request-id": "s-cut" });
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.equal(requestRecords(proxy, "s-cut").length, 0, "not logged while it runs");
      await reader.cancel();
      await eventually(() => requestRecords(proxy, "s-cut").length > 0, "the stream's log line");
      const [record] = requestRecords(proxy, "s-cut");
      assert.equal(record.status, 200);
      assert.equal(record.stream_mode, "synthesized");
      // Keep-alives only: the one read, and maybe one more sent while the cancel was on its way.
      const keepAlive = first.value!.byteLength;
      assert.ok([keepAlive, 2 * keepAlive].includes(record.bytes_out), String(record.bytes_out));
      assert.match(String(record.error), /cancelled by the client/);
    },
    {
      overrides: { logFormat: "json" },
      configText: "streaming:\n  keepalive_interval: 0.1\n",
    },
  );
});

Deno.test("a stream that ends with an error event is logged with that error", async () => {
  await withProxy(
    () => new Promise((resolve) => setTimeout(() => resolve(openaiError(500, "late boom")), 300)),
    async ({ proxy }) => {
      const res = await postChat(proxy, chatBody({ stream: true }), { "x-request-id": "s-err" });
      assert.equal(res.status, 200);
      const received = (await res.arrayBuffer()).byteLength;
      await eventually(() => requestRecords(proxy, "s-err").length > 0, "the stream's log line");
      const [record] = requestRecords(proxy, "s-err");
      assert.equal(record.status, 200);
      assert.equal(record.stream_mode, "synthesized");
      assert.match(String(record.error), /late boom/);
      assert.equal(record.bytes_out, received);
    },
    {
      overrides: { logFormat: "json", logLevel: "info" },
      configText: "streaming:\n  keepalive_interval: 0.1\n" +
        "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n",
    },
  );
});

Deno.test("--log-format, LLM_PROXY_LOG_FORMAT and log_format choose the format, strictly", async () => {
  assert.deepEqual(parseCommand(["--log-format", "json"]), {
    kind: "serve",
    overrides: { logFormat: "json" },
  });
  assert.throws(() => parseCommand(["--log-format", "xml"]), UsageError);
  const format = async (env: Record<string, string>, configText = "") =>
    (await loadConfig({ env, configText, logSink: () => {} })).log.format;
  assert.equal(await format({}), "text");
  assert.equal(await format({}, "log_format: json\n"), "json");
  assert.equal(await format({ LLM_PROXY_LOG_FORMAT: "text" }, "log_format: json\n"), "text");
  await assert.rejects(() => format({ LLM_PROXY_LOG_FORMAT: "yaml" }), ConfigError);
  await assert.rejects(
    () => format({}, "log_format: loud\n"),
    /<config>:1:13: log_format must be one of/,
  );
});

Deno.test("isoTime: what toISOString writes, through second, year and repeated-millisecond turns", () => {
  const times = [
    Date.UTC(2026, 11, 2, 2, 29, 37, 5),
    Date.UTC(2026, 11, 2, 2, 29, 37, 5),
    Date.UTC(2026, 11, 2, 2, 29, 37, 999),
    Date.UTC(2026, 11, 2, 2, 29, 38, 0),
    Date.UTC(2026, 11, 31, 23, 59, 59, 99),
    Date.UTC(2027, 0, 1, 0, 0, 0, 10),
    0,
    -1,
    Date.UTC(1969, 6, 20, 20, 17, 40, 123),
    Date.UTC(12000, 0, 1),
  ];
  for (let i = 0; i < 1000; i++) times.push(1_700_000_000_000 + Math.floor(Math.random() * 3e9));
  for (const t of times) assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
});
