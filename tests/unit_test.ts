// Pure helpers: shared deadline timers, text splitting and chunk serialisation for synthesized
// streams, <think> handling, upstream error parsing, Retry-After parsing and UTF-8 lengths.
import assert from "node:assert/strict";
import { deadline, later, whenAborted } from "../src/pipeline/abort.ts";
import { retryAfterMs } from "../src/backends/openai_compatible.ts";
import { fetchFailure } from "../src/backends/fetch_failure.ts";
import { parseUpstreamError, utf8Length } from "../src/canonical/errors.ts";
import { strictUtf8 } from "../src/edge/body.ts";
import { normalizeReasoning, splitThink } from "../src/streams/reasoning.ts";
import {
  completionChunkJson,
  pushJsonPieces,
  synthesizedEvents,
  synthesizedText,
} from "../src/streams/synthesize.ts";
import { openAIStreamWriter } from "../src/frontends/openai_chat/stream_writer.ts";
import type { AssistantMessage, ChatCompletion } from "../src/canonical/types.ts";

// ---- pushJsonPieces ----

/** The pieces `pushJsonPieces` cuts `text` into, as the JSON text of each. */
function jsonPieces(text: string, size: number): string[] {
  const out: string[] = [];
  // JSON.stringify never writes a raw line break: one after each piece ends it unambiguously.
  pushJsonPieces(out, text, size, "", "\n");
  return out.join("").split("\n").slice(0, -1);
}

/** True if `s` has a high surrogate not followed by a low one, or a low one not preceded by one. */
function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

const SAMPLES = [
  "😀😃😄😁😆😅🤣😂",
  "a😀bc😃def😄ghij😁",
  "👩‍👩‍👧‍👦 family, 🇨🇳🇺🇸 flags, 𝕏 math, 𠀀 CJK ext B",
  "plain ASCII text that has no surrogates at all",
  "深度思考：😀中文与表情混排🎉结束",
  "😀",
  "x😀",
  "",
];

Deno.test("pushJsonPieces: pieces are at most `size`, rejoin to the input, never split a pair", () => {
  for (const text of SAMPLES) {
    for (let size = 2; size <= 7; size++) {
      const pieces = jsonPieces(text, size).map((json) => JSON.parse(json) as string);
      const where = `${JSON.stringify(text)} size ${size}`;
      assert.equal(pieces.join(""), text, where);
      for (const piece of pieces) {
        assert.ok(piece.length >= 1 && piece.length <= size, `${where}: ${JSON.stringify(piece)}`);
        assert.ok(!hasLoneSurrogate(piece), `${where}: lone surrogate in ${JSON.stringify(piece)}`);
      }
    }
  }
});

Deno.test("pushJsonPieces: each piece as JSON.stringify writes it, between open and close", () => {
  const texts = [
    "plain text, nothing to escape",
    'quotes " and back\\slashes',
    "new\nlines\tand \u0001 controls",
    "emoji 😀😀 and accents éü",
    "a lone \ud800 surrogate",
    "",
  ];
  for (const text of texts) {
    for (const size of [2, 3, 32]) {
      const where = `${JSON.stringify(text)} by ${size}`;
      const pieces = jsonPieces(text, size);
      assert.deepEqual(pieces, pieces.map((json) => JSON.stringify(JSON.parse(json))), where);
      const out: string[] = [];
      pushJsonPieces(out, text, size, "<", ">");
      assert.equal(out.join(""), pieces.map((json) => `<${json}>`).join(""), where);
      // An `open` that pushes its own fragments, different for each event.
      let n = 0;
      const numbered: string[] = [];
      pushJsonPieces(numbered, text, size, (o) => o.push(`${n++}`, ":"), ";");
      assert.equal(numbered.join(""), pieces.map((json, i) => `${i}:${json};`).join(""), where);
    }
  }
});

Deno.test("pushJsonPieces: pieces are as large as allowed (size, or size-1 to keep a pair whole)", () => {
  const cut = (text: string, size: number) => jsonPieces(text, size).map((j) => JSON.parse(j));
  assert.deepEqual(cut("abcdefg", 3), ["abc", "def", "g"]);
  // "a😀" is 3 units; at size 2 the cut would fall inside 😀, so "a" goes alone.
  assert.deepEqual(cut("a😀b", 2), ["a", "😀", "b"]);
  assert.deepEqual(cut("😀😀😀", 3), ["😀", "😀", "😀"]);
  assert.deepEqual(cut("😀😀😀", 4), ["😀😀", "😀"]);
  assert.deepEqual(cut("", 4), []);
});

// ---- completionChunkJson ----

Deno.test("completionChunkJson: JSON.stringify's own text of each chunk, in stream order", async () => {
  const completion: ChatCompletion = {
    id: 'chatcmpl-"quoted"\u2028',
    object: "chat.completion",
    created: 1_760_000_000,
    model: "internlm/intern-s1",
    choices: [0, 1].map((index) => ({
      index,
      message: {
        role: "assistant",
        content: `answer ${index}: 😀 "quotes" \\ back\nslash </script> ${"x".repeat(40)}`,
        // Nothing to escape: cut as it is (pairs kept whole), not stringified piece by piece.
        reasoning_content: index === 0 ? "thinking about it 😀😀😀 at some length" : undefined,
        refusal: null,
        tool_calls: index === 1
          ? [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }]
          : undefined,
      },
      logprobs: null,
      finish_reason: index === 1 ? "tool_calls" : "stop",
    })),
    usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
  };
  for (const includeUsage of [false, true]) {
    for (const pieceSize of [2, 7, 32]) {
      const options = { pieceSize, includeUsage };
      const texts = [...completionChunkJson(completion, options)];
      const chunks = texts.map((t) => JSON.parse(t));
      // Byte for byte what stringifying the parsed chunk gives: same keys, same order.
      assert.deepEqual(texts, chunks.map((c) => JSON.stringify(c)));
      const usage = includeUsage ? chunks.pop() : undefined;
      if (includeUsage) assert.deepEqual(usage.usage, completion.usage);
      for (const c of chunks) {
        assert.deepEqual(
          [c.id, c.object, c.created, c.model],
          [completion.id, "chat.completion.chunk", completion.created, completion.model],
        );
        assert.equal("usage" in c, includeUsage);
      }
      for (const [i, choice] of completion.choices.entries()) {
        const mine = chunks.map((c) => c.choices[0]).filter((c) => c.index === i);
        assert.deepEqual(mine[0].delta, { role: "assistant", content: "" });
        const joined = (key: string) => mine.map((c) => c.delta[key] ?? "").join("");
        assert.equal(joined("content"), choice.message.content);
        assert.equal(joined("reasoning_content"), choice.message.reasoning_content ?? "");
        const calls = mine.flatMap((c) => c.delta.tool_calls ?? []);
        assert.deepEqual(
          calls.length === 0 ? undefined : [{
            id: calls[0].id,
            type: calls[0].type,
            function: {
              name: calls[0].function.name,
              arguments: calls.map((t: { function: { arguments: string } }) => t.function.arguments)
                .join(""),
            },
          }],
          choice.message.tool_calls,
        );
        assert.equal(mine.at(-1).finish_reason, choice.finish_reason);
        assert.ok(mine.slice(0, -1).every((c) => c.finish_reason === null));
      }
      // The stream carries the same text, in batches.
      let frames = "";
      const writer = openAIStreamWriter(options);
      for await (const event of synthesizedEvents(completion, options, writer)) {
        assert.ok("frames" in event);
        frames += event.frames;
      }
      assert.equal(frames, texts.map((t) => `data: ${t}\n\n`).join(""));
      // And so does the one-string body of a whole answer, with the closing event.
      assert.equal(
        synthesizedText(completion, options, openAIStreamWriter(options)),
        `${frames}data: [DONE]\n\n`,
      );
    }
  }
});
// ---- splitThink / normalizeReasoning ----

Deno.test("splitThink: a leading <think> block becomes reasoning", () => {
  assert.deepEqual(splitThink("<think>hmm</think>Hi"), { reasoning: "hmm", content: "Hi" });
  // Leading whitespace before the tag, and whitespace around the parts, are dropped.
  assert.deepEqual(splitThink("\n  <think>\n step 1\n</think>\n\nAnswer."), {
    reasoning: "step 1",
    content: "Answer.",
  });
  // Unclosed (cut off by max_tokens mid-thought): all reasoning, no content.
  assert.deepEqual(splitThink("<think>still thinking"), {
    reasoning: "still thinking",
    content: "",
  });
  assert.deepEqual(splitThink("<think></think>Only an answer"), {
    reasoning: "",
    content: "Only an answer",
  });
});

Deno.test("splitThink: no leading tag → undefined", () => {
  assert.equal(splitThink("Hello"), undefined);
  assert.equal(splitThink(""), undefined);
  // A tag that does not lead the text is content, e.g. an answer quoting the syntax.
  assert.equal(splitThink("Use <think>…</think> tags"), undefined);
});

function msg(fields: Partial<AssistantMessage>): AssistantMessage {
  return { role: "assistant", content: null, ...fields };
}

Deno.test("normalizeReasoning: <think> in content moves to reasoning_content", () => {
  const m = msg({ content: "  <think>plan</think>Result" });
  normalizeReasoning(m);
  assert.deepEqual(m, { role: "assistant", content: "Result", reasoning_content: "plan" });
});

Deno.test("normalizeReasoning: reasoning_content beats reasoning; `reasoning` is renamed", () => {
  const both = msg({ content: "A", reasoning_content: "from rc", reasoning: "from r" });
  normalizeReasoning(both);
  assert.deepEqual(both, { role: "assistant", content: "A", reasoning_content: "from rc" });

  const onlyReasoning = msg({ content: "A", reasoning: "from r" });
  normalizeReasoning(onlyReasoning);
  assert.deepEqual(onlyReasoning, { role: "assistant", content: "A", reasoning_content: "from r" });

  // An empty reasoning_content does not hide a non-empty reasoning.
  const emptyRc = msg({ content: "A", reasoning_content: "", reasoning: "from r" });
  normalizeReasoning(emptyRc);
  assert.equal(emptyRc.reasoning_content, "from r");
});

Deno.test("normalizeReasoning: a reasoning field wins over a <think> block in content", () => {
  const m = msg({ content: "<think>x</think>y", reasoning_content: "field" });
  normalizeReasoning(m);
  assert.equal(m.reasoning_content, "field");
  assert.equal(m.content, "<think>x</think>y");
});

Deno.test("normalizeReasoning: no reasoning anywhere → unchanged", () => {
  for (const content of ["Plain answer", null, ""]) {
    const m = msg({ content });
    normalizeReasoning(m);
    assert.deepEqual(m, { role: "assistant", content });
  }
  const withTools = msg({
    content: null,
    tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
  });
  const before = structuredClone(withTools);
  normalizeReasoning(withTools);
  assert.deepEqual(withTools, before);
});

// ---- parseUpstreamError ----

Deno.test("parseUpstreamError: OpenAI's nested shape", () => {
  const text = JSON.stringify({
    error: {
      message: "Invalid model",
      type: "invalid_request_error",
      param: null,
      code: "bad_model",
    },
  });
  assert.deepEqual(parseUpstreamError(text), {
    message: "Invalid model",
    type: "invalid_request_error",
    code: "bad_model",
  });
});

Deno.test("parseUpstreamError: LMDeploy's flat shape, numeric code as text", () => {
  const text = JSON.stringify({
    object: "error",
    message: "The model does not exist",
    type: "invalid_request_error",
    code: 404,
  });
  assert.deepEqual(parseUpstreamError(text), {
    message: "The model does not exist",
    type: "invalid_request_error",
    code: "404",
  });
});

Deno.test("parseUpstreamError: FastAPI {detail} and InternLM {msg}", () => {
  assert.equal(parseUpstreamError('{"detail":"Not authenticated"}').message, "Not authenticated");
  // FastAPI's validation errors are a list: kept, as JSON.
  const list = parseUpstreamError('{"detail":[{"loc":["body","model"],"msg":"field required"}]}');
  assert.match(list.message, /field required/);
  assert.equal(parseUpstreamError('{"code":10001,"msg":"余额不足"}').message, "余额不足");
  // A plain string in `error`.
  assert.equal(parseUpstreamError('{"error":"quota exceeded"}').message, "quota exceeded");
});

Deno.test("parseUpstreamError: HTML and plain text bodies", () => {
  const html = "<html><head><title>502 Bad Gateway</title></head>\n<body>\n" +
    "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body></html>";
  const { message } = parseUpstreamError(html);
  assert.doesNotMatch(message, /[<>]/);
  assert.match(message, /502 Bad Gateway/);
  assert.match(message, /nginx/);
  assert.doesNotMatch(message, /\s{2}|\n/);
  assert.equal(parseUpstreamError("upstream connect error").message, "upstream connect error");
});

Deno.test("parseUpstreamError: empty body and huge bodies", () => {
  assert.equal(parseUpstreamError("").message, "(empty body)");
  assert.equal(parseUpstreamError("   \n").message, "(empty body)");
  assert.equal(parseUpstreamError("<html></html>").message, "(empty body)");
  // Long messages are capped (the client should not get a whole error page).
  assert.ok(parseUpstreamError("x".repeat(50_000)).message.length <= 2001);
});

// ---- retryAfterMs ----

Deno.test("retryAfterMs: delta-seconds", () => {
  assert.equal(retryAfterMs("30"), 30_000);
  assert.equal(retryAfterMs("0"), 0);
  assert.equal(retryAfterMs(" 7 "), 7_000);
  assert.equal(retryAfterMs("1.5"), 1_500);
  // Capped at a day.
  assert.equal(retryAfterMs("999999999"), 86_400_000);
});

Deno.test("retryAfterMs: an HTTP date", () => {
  const inAMinute = new Date(Date.now() + 60_000).toUTCString();
  const ms = retryAfterMs(inAMinute)!;
  // HTTP dates have whole seconds: between 59 and 60 s from now (generous bounds).
  assert.ok(ms > 55_000 && ms <= 60_000, String(ms));
  assert.equal(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT"), 0); // in the past
});

Deno.test("retryAfterMs: missing or garbage → undefined", () => {
  // Only RFC 9110's forms count: no signs, hex, exponents or loose date text.
  for (const header of [null, "", "   ", "soon", "abc123", "NaN", "-5", "0x10", "1e3", "1 2"]) {
    assert.equal(retryAfterMs(header), undefined, JSON.stringify(header));
  }
});

// ---- deadline ----

Deno.test("later: runs once its time is up, never once cancelled", async () => {
  const ran: string[] = [];
  later(20, { fire: () => ran.push("due") });
  const cancel = later(20, { fire: () => ran.push("cancelled") });
  cancel();
  cancel();
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(ran, ["due"]);
});

Deno.test("deadline: fires once its time is up, shared by deadlines due together", async () => {
  const parent = new AbortController().signal;
  const started = performance.now();
  const ds = [deadline(parent, 50), deadline(parent, 50), deadline(parent, 50)];
  assert.ok(ds.every((d) => !d.signal.aborted && !d.timedOut()));
  await Promise.all(ds.map((d) => new Promise((r) => d.signal.addEventListener("abort", r))));
  // Up to 8 ms late by design; never early.
  assert.ok(performance.now() - started >= 50);
  assert.ok(ds.every((d) => d.timedOut()));
  assert.ok(ds[0].signal.reason instanceof DOMException);
  for (const d of ds) d.dispose();
});

Deno.test("deadline: a disposed one never fires; a parent's abort is passed on, not a timeout", async () => {
  const parent = new AbortController();
  const disposed = deadline(parent.signal, 20);
  disposed.dispose();
  const other = deadline(parent.signal, 20);
  await new Promise((r) => other.signal.addEventListener("abort", r));
  assert.equal(disposed.signal.aborted, false);
  other.dispose();
  const child = deadline(parent.signal, 60_000);
  parent.abort("gone");
  assert.equal(child.signal.reason, "gone");
  assert.equal(child.timedOut(), false);
  child.dispose();
});

// ---- strictUtf8 ----

Deno.test("strictUtf8: what the fatal decoder gives; a real U+FFFD passes, invalid bytes throw", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  const enc = new TextEncoder();
  for (const s of ["", "plain", "é 中 😀", "a real \uFFFD replacement char", "\uFEFFbom first"]) {
    const bytes = enc.encode(s);
    assert.equal(strictUtf8.decode(bytes), fatal.decode(bytes), JSON.stringify(s));
  }
  const invalid = [[0xff], [0x61, 0xc3], [0xed, 0xa0, 0x80], [0xef, 0xbf, 0xbd, 0xc0, 0x80]];
  for (const bytes of invalid) {
    assert.throws(() => strictUtf8.decode(new Uint8Array(bytes)), TypeError, String(bytes));
  }
});

// ---- utf8Length ----

Deno.test("utf8Length: the byte length TextEncoder gives, lone surrogates included", () => {
  const samples = [
    "",
    "plain ascii",
    "é ß ñ",
    "中文字符",
    "😀 emoji 👩‍👩‍👧",
    "\ud800 lone high",
    "lone low \udc00",
    "high then ascii \ud83dA",
    "ends on a high \ud83d",
    "\u007f\u0080\u07ff\u0800\uffff",
    JSON.stringify({ content: "mixed é 😀 \ud800 中" }),
    // Longer than one count's slice (21 845 units): pairs and lone halves across its edges.
    "中".repeat(100_000),
    "a".repeat(21_844) + "😀" + "b".repeat(30_000),
    "a".repeat(21_844) + "\ud83d" + "b".repeat(30_000),
    "a".repeat(21_845) + "\ude00" + "😀".repeat(20_000),
    "x😀".repeat(40_000),
  ];
  for (const s of samples) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).byteLength, JSON.stringify(s));
  }
});

Deno.test("whenAborted: aborts the controllers still in at the abort, once, each with its reason; at once if already aborted", () => {
  const shared = new AbortController();
  const [a, b, c, late] = [0, 1, 2, 3].map(() => new AbortController());
  const reasons: string[] = [];
  const reason = (name: string) => () => {
    reasons.push(name);
    return new Error(name);
  };
  const leaveA = whenAborted(shared.signal, a, reason("a"));
  const leaveB = whenAborted(shared.signal, b, reason("b"));
  whenAborted(shared.signal, c, reason("c"));
  leaveB();
  leaveB();
  shared.abort();
  shared.abort();
  assert.deepEqual(reasons, ["a", "c"]);
  assert.deepEqual([a, b, c].map((x) => x.signal.aborted), [true, false, true]);
  assert.equal((c.signal.reason as Error).message, "c");
  leaveA();
  whenAborted(shared.signal, late, reason("late"))();
  assert.deepEqual(reasons, ["a", "c", "late"]);
  assert.equal(late.signal.aborted, true);
});

// ---- fetchFailure ----

Deno.test("fetchFailure: names the cause of a failed fetch, rule by rule", () => {
  const failed = (cause: string) => new TypeError("fetch failed", { cause: new Error(cause) });
  const send = "error sending request for url (https://up.example/v1/chat/completions): ";
  const cases: [Error, string][] = [
    [
      failed(`${send}client error (Connect): tcp connect error: Connection refused (os error 111)`),
      "connection refused",
    ],
    [
      failed(
        `${send}client error (Connect): dns error: failed to lookup address information: ` +
          "Name or service not known",
      ),
      "DNS lookup failed",
    ],
    [
      failed(`${send}client error (Connect): invalid peer certificate: UnknownIssuer`),
      "TLS failed: invalid peer certificate: UnknownIssuer",
    ],
    [
      failed(`${send}client error (Connect): received corrupt message of type InvalidContentType`),
      "TLS failed: received corrupt message of type InvalidContentType",
    ],
    [
      failed(`${send}client error (SendRequest): connection closed before message completed`),
      "connection reset",
    ],
    [failed(`${send}connection reset by peer (os error 104)`), "connection reset"],
    [
      new TypeError("error reading a body from connection"),
      "connection broken while reading the answer",
    ],
    [
      failed(`${send}client error (Connect): tcp connect error: Network is unreachable`),
      "network unreachable",
    ],
    // Unknown causes keep their words, without the URL the client error repeats.
    [failed(`${send}something new`), "something new"],
    [
      new TypeError("Fetch failed: Requests to port 9 are blocked"),
      "Fetch failed: Requests to port 9 are blocked",
    ],
  ];
  for (const [err, expected] of cases) assert.equal(fetchFailure(err), expected);
});
