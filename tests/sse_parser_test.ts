// The SSE parser on its own: reassembly across every possible TCP cut, line endings, comments,
// multi-line data, the size cap and pull-based reading.
import assert from "node:assert/strict";
import { type SseItem, SseParser } from "../src/streams/sse_parser.ts";

const encoder = new TextEncoder();

/** Feeds `parts` (each one read) through a parser and collects what it emits. */
async function parse(parts: Array<string | Uint8Array>, maxEventLength?: number) {
  const source = ReadableStream.from(
    parts.map((p) => typeof p === "string" ? encoder.encode(p) : p),
  );
  return await Array.fromAsync(source.pipeThrough(new SseParser({ maxEventLength })));
}

const ev = (data: string, event = "message"): SseItem => ({ type: "event", event, data });
const comment = (text: string): SseItem => ({ type: "comment", text });

// Two-, three- and four-byte UTF-8 sequences, so some cuts land inside a character.
const STREAM = ": hello upstream\n\n" +
  'data: {"content":"né 你好 😀"}\n\n' +
  "event: update\r\ndata: line one\r\ndata: line two\r\n\r\n" +
  ": keep-alive\r\r" +
  "data: cr only\r\r" +
  "data: [DONE]\n\n";
const EXPECTED = [
  comment(" hello upstream"),
  ev('{"content":"né 你好 😀"}'),
  ev("line one\nline two", "update"),
  comment(" keep-alive"),
  ev("cr only"),
  ev("[DONE]"),
];

Deno.test("sse parser: one read with several events of every line-ending kind", async () => {
  assert.deepEqual(await parse([STREAM]), EXPECTED);
});

Deno.test("sse parser: the same items whatever the cut, byte by byte too", async () => {
  const bytes = encoder.encode(STREAM);
  for (let cut = 1; cut < bytes.length; cut++) {
    const items = await parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.deepEqual(items, EXPECTED, `cut at byte ${cut}`);
  }
  const oneByteEach = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
  assert.deepEqual(await parse(oneByteEach), EXPECTED);
});

Deno.test("sse parser: a CRLF split between two reads is one line end, not two", async () => {
  assert.deepEqual(await parse(["data: a\r", "\ndata: b\r", "\n\r", "\n"]), [ev("a\nb")]);
});

Deno.test("sse parser: field rules: no space, no value, id, unknown fields, BOM", async () => {
  const items = await parse([
    "\uFEFFdata:tight\n\n",
    "data\n\n", // a data field with an empty value is still an event
    "id: 7\nretry: 10\nfoo: bar\ndata:  two spaces\n\n",
    "event: only-type\n\n", // no data: nothing to dispatch
  ]);
  assert.deepEqual(items, [
    ev("tight"),
    ev(""),
    { type: "event", event: "message", data: " two spaces", id: "7" },
  ]);
});

Deno.test("sse parser: an event cut off by the end of the stream is still emitted", async () => {
  assert.deepEqual(await parse(["data: last\n"]), [ev("last")]);
  assert.deepEqual(await parse(['data: {"trunc']), [ev('{"trunc')]);
  assert.deepEqual(await parse([""]), []);
});

Deno.test("sse parser: an event past the size cap errors the stream", async () => {
  assert.deepEqual(await parse(["data: 0123456789\n\n"], 20), [ev("0123456789")]);
  await assert.rejects(parse(["data: 0123456789", "0123456789", "0123456789"], 20), {
    name: "SseEventTooLarge",
  });
  await assert.rejects(parse(["data: 0123456789\ndata: 0123456789\n"], 20), {
    name: "SseEventTooLarge",
  });
});

Deno.test("sse parser: reads its source only as fast as its reader asks", async () => {
  let pulled = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(encoder.encode(`data: ${pulled}\n\n`));
    },
  }, { highWaterMark: 0 });
  const reader = source.pipeThrough(new SseParser()).getReader();
  for (let i = 1; i <= 3; i++) assert.deepEqual((await reader.read()).value, ev(String(i)));
  // A few reads of slack in the pipe, never a run-away read of the whole source.
  assert.ok(pulled <= 6, `pulled ${pulled} reads for 3 events`);
  await reader.cancel();
});
