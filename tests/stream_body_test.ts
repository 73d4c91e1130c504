// The shared event-stream body: how it ends when the answer fails after the stream started — with
// the writer's error text and a clean close, or, for a writer that asks, a break after that text.
import assert from "node:assert/strict";
import type { StreamEvent } from "../src/backends/backend.ts";
import { ApiError } from "../src/canonical/errors.ts";
import type { StreamWriter } from "../src/frontends/frontend.ts";
import { streamBody, type StreamEnd } from "../src/streams/stream_body.ts";

function writer(breaksOffAfterError: boolean): StreamWriter {
  return {
    headers: {},
    keepAlive: () => "ka\n",
    chunk: () => "chunk\n",
    comment: () => "",
    end: () => "end\n",
    error: (e) => `error: ${e.message}\n`,
    breaksOffAfterError,
  };
}

/** The body's text, and whether reading it ended in a failure rather than a clean end. */
async function read(body: ReadableStream<Uint8Array>): Promise<{ text: string; broken: boolean }> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, broken: false };
      text += value;
    }
  } catch {
    return { text, broken: true };
  }
}

for (const breaks of [false, true]) {
  Deno.test(`streamBody: an answer failing after the start → its error text, then ${breaks ? "a break" : "a clean end"}`, async () => {
    const ends: StreamEnd[] = [];
    const failed = Promise.reject<ReadableStream<StreamEvent>>(new ApiError(502, "upstream broke"));
    const body = streamBody(failed, writer(breaks), {
      keepAliveMs: 0,
      onCancel: () => {},
      onEnd: (end) => ends.push(end),
    });
    assert.deepEqual(await read(body), { text: "error: upstream broke\n", broken: breaks });
    assert.deepEqual(ends.map((e) => [e.outcome, e.error?.message]), [["error", "upstream broke"]]);
  });
}
